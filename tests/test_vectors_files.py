"""refpe.vectors leaves the file system as it found it: umask, modes, symlinks, special files,
temporary files after SIGTERM and SIGKILL (docs/guides/reliability.md)."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from refpe import vectors as V

posix = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes and signals")
ONE = np.ones((1, 2), dtype=np.float32)


@contextlib.contextmanager
def within(seconds: float):
    """Fail instead of hanging (a FIFO without a writer blocks ``open`` for ever)."""

    def stop(*_):
        raise TimeoutError(f"blocked for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def temps(folder) -> list[str]:
    return [n for n in os.listdir(folder) if n.endswith(".tmp")]


@posix
def test_write_never_changes_the_umask(tmp_path, monkeypatch):
    def forbidden(mask):
        raise AssertionError(f"os.umask({mask:o}) called: the umask is process-wide")

    monkeypatch.setattr(os, "umask", forbidden)
    V.write(tmp_path / "v", ["a"], ONE, format="glove")
    V.write(tmp_path / "v", ["a"], ONE, format="glove")


@posix
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_file_mode_is_0666_masked(tmp_path, umask):
    old = os.umask(umask)  # the test's own setting; refpe only reads it
    try:
        V.write(tmp_path / "v", ["a"], ONE, format="glove")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "v").stat().st_mode) == 0o666 & ~umask


@posix
def test_umask_without_proc(tmp_path, monkeypatch):
    from refpe import _vectors_files

    def no_proc(path, *args, **kwargs):
        raise FileNotFoundError(path)

    monkeypatch.setattr(_vectors_files, "open", no_proc, raising=False)
    old = os.umask(0o027)
    try:
        assert _vectors_files.current_umask(str(tmp_path)) == 0o027 & 0o666
    finally:
        os.umask(old)
    assert os.listdir(tmp_path) == []


@posix
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604])
def test_existing_mode_is_kept(tmp_path, mode):
    p = tmp_path / "v"
    p.write_bytes(b"")
    os.chmod(p, mode)
    V.write(p, ["a"], ONE, format="word2vec-binary")
    assert stat.S_IMODE(p.stat().st_mode) == mode


@posix
def test_symlink_is_written_through(tmp_path):
    real = tmp_path / "real.vec"
    V.write(real, ["a"], ONE, format="word2vec-text")
    os.chmod(real, 0o600)
    link = tmp_path / "link.vec"
    link.symlink_to(real)
    V.write(link, ["b"], 2 * ONE, format="word2vec-text")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert V.read(real, format="word2vec-text")[0] == ["b"]
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert temps(tmp_path) == []


@posix
def test_special_files_refused_for_reading(tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, kind in [
        (fifo, "a FIFO"),
        (tmp_path, "a directory"),
        ("/dev/null", "a character device"),
    ]:
        with within(5), pytest.raises(ValueError, match=f"path must be a regular file, got {kind}"):
            V.read(path, format="glove")
        with within(5), pytest.raises(ValueError, match="regular file"):
            V.detect(path)
    from test_vectors_cli import run

    with within(5):
        assert run("info", str(fifo)) == 1
    assert "FIFO" in capsys.readouterr().err


@posix
def test_special_files_refused_for_writing(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "dir").mkdir()
    for path in (fifo, tmp_path / "dir"):
        with within(5), pytest.raises(ValueError, match="path must be a regular file"):
            V.write(path, ["a"], ONE, format="glove")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and (tmp_path / "dir").is_dir()
    assert temps(tmp_path) == []


SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import refpe.vectors as V
    from refpe import _vectors_write

    folder = sys.argv[1]

    def slow(v):
        open(folder + "/ready", "w").close()
        time.sleep(60)

    _vectors_write.shortest = slow
    V.write(folder + "/v", ["a"], np.ones((1, 2), np.float32), format="glove")
    """
)


def killed_mid_write(folder, sig: int) -> int:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(folder)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (folder / "ready").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "writer did not start"
            time.sleep(0.02)
        assert len(temps(folder)) == 1  # the write is under way
        proc.send_signal(sig)
        return proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@posix
def test_sigterm_leaves_no_temporary_file(tmp_path):
    assert killed_mid_write(tmp_path, signal.SIGTERM) == -signal.SIGTERM
    assert temps(tmp_path) == [] and not (tmp_path / "v").exists()


@posix
def test_sigkill_temp_removed_by_the_next_write(tmp_path):
    assert killed_mid_write(tmp_path, signal.SIGKILL) == -signal.SIGKILL
    assert len(temps(tmp_path)) == 1  # SIGKILL cannot be caught: the temporary file stays
    live = f".x.refpe-{os.getppid()}-abc.tmp"  # a writer that is still running
    (tmp_path / live).write_bytes(b"")
    V.write(tmp_path / "other", ["a"], ONE, format="glove")
    assert temps(tmp_path) == [live]


def test_sigterm_handler_restored(tmp_path):
    def handler(*args):
        pass

    old = signal.signal(signal.SIGTERM, handler)
    try:
        V.write(tmp_path / "v", ["a"], ONE, format="glove")
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, old)
