"""Opening and replacing vector files without harming the file system around them.

Rules (``docs/guides/reliability.md``):

- Only regular files are read or written. A FIFO, device, socket or directory is refused
  before anything blocks on it: the path is ``stat``-ed first, then opened with
  ``O_NONBLOCK`` (a FIFO without a writer would otherwise block ``open`` for ever) and the
  open descriptor is ``fstat``-ed again, so a file swapped in between is caught too.
- A write goes to a temporary file in the target's folder, created by
  :func:`tempfile.mkstemp` (mode 0600, nobody else can open it meanwhile), and is renamed
  over the target (``os.replace``) once complete and synced. The process umask is never
  changed (changing it is process-wide: a file another thread creates meanwhile would get
  the wrong mode); the final mode is the existing target's permission bits, or for a new
  file ``0o666`` masked by the umask, read from ``/proc/self/status`` or, where that is
  missing, from the mode a probe file gets.
- A symlink target is written through, as editors do: the file it points to is replaced
  and the link stays a link.
- The temporary file is removed on any exception and on SIGTERM (a handler installed only
  around the write, only in the main thread, restoring the previous handler, which then
  runs). SIGKILL cannot be caught: temporary names carry a recognisable prefix and the
  writer's pid (``.<name>.refpe-<pid>-<random>.tmp``), and the next write into the same
  folder removes those whose process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_TEMP = re.compile(r"\..*\.refpe-([0-9]+)-[A-Za-z0-9_]+\.tmp", re.DOTALL)
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _require_regular(mode: int, path: Any, name: str) -> None:
    if not stat.S_ISREG(mode):
        raise ValueError(f"{name} must be a regular file, got {_kind(mode)}: {os.fspath(path)!r}")


def open_regular(path: Any, name: str = "path") -> BinaryIO:
    """``open(path, "rb")`` for a regular file only; anything else raises ``ValueError``.

    Never blocks: a FIFO is refused by ``stat`` before opening, and the open itself uses
    ``O_NONBLOCK`` in case one was swapped in after the ``stat``.
    """
    _require_regular(os.stat(path).st_mode, path, name)
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | getattr(os, "O_BINARY", 0))
    try:
        _require_regular(os.fstat(fd).st_mode, path, name)
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def current_umask(folder: str) -> int:
    """The process umask, read without changing it (``os.umask`` sets it to read it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # No /proc: the mode a new file gets from 0o666 shows the umask's permission bits.
    fd, probe = tempfile.mkstemp(dir=folder, prefix=f".refpe-{os.getpid()}-", suffix=".tmp")
    os.close(fd)
    os.unlink(probe)
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        return 0o666 & ~stat.S_IMODE(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
        os.unlink(probe)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError as e:  # EPERM: alive, another user's
        return e.errno != errno.ESRCH
    return True


def remove_stale_temps(folder: str) -> list[str]:
    """Remove the temporary files of writers in ``folder`` whose process is gone."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for entry in names:
        m = _TEMP.fullmatch(entry)
        if m is None or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(folder, entry))
            removed.append(entry)
    return removed


class _Terminated(BaseException):
    """SIGTERM arrived during a write (a BaseException, so ``except Exception`` misses it)."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into :class:`_Terminated` for the block, then deliver it as before."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may install handlers
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous in (signal.SIG_IGN, None):
        yield  # ignored (or set from C): the write goes on, as it would without refpe
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated(frame)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except _Terminated as t:
        signal.signal(signal.SIGTERM, previous)
        if callable(previous):
            previous(signal.SIGTERM, t.frame)
            raise InterruptedError(errno.EINTR, "write interrupted by SIGTERM") from None
        os.kill(os.getpid(), signal.SIGTERM)  # SIG_DFL: die of the signal, as expected
        raise InterruptedError(errno.EINTR, "write interrupted by SIGTERM") from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def atomic_write(path: Any, write: Callable[[BinaryIO], None], name: str = "path") -> None:
    """Write through a temporary file in the target's folder, then ``os.replace`` it.

    See the module docstring for the rules: regular files only, symlinks written through,
    mode kept (or ``0o666 & ~umask``), nothing left behind on an exception or SIGTERM.
    """
    target = os.path.realpath(os.fspath(path))
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None:
        _require_regular(mode, path, name)
    folder = os.path.dirname(target)
    remove_stale_temps(folder)
    final = stat.S_IMODE(mode) if mode is not None else 0o666 & ~current_umask(folder)
    prefix = f".{os.path.basename(target)}.refpe-{os.getpid()}-"
    tmp = None
    with _sigterm_raises():
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                if hasattr(os, "fchmod"):
                    os.fchmod(f.fileno(), final)
                else:  # Windows: no fchmod
                    os.chmod(tmp, final)
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            if tmp is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            raise
