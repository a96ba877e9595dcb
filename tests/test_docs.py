"""The documentation: the site builds with warnings as errors, its doctests pass, and in headless
Chromium its math renders and its figures load, offline.

The browser is driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``:
JSON messages separated by NUL bytes on file descriptors 3 and 4), so no extra package is needed.
"""

from __future__ import annotations

import base64
import functools
import html as html_module
import http.server
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import refpe

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

try:
    import sphinx
except ImportError as exc:
    raise ImportError(
        "the docs tests need the docs packages: pip install -e '.[docs]' sphinx-mathjax-offline"
    ) from exc

import refpe_docs  # noqa: E402
import refpe_figures  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)


def sphinx(builder: str, out: Path, doctrees: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder]
    cmd += ["-d", str(doctrees), str(DOCS), str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("docs")
    t0 = time.perf_counter()
    done = sphinx("html", tmp / "html", tmp / "doctrees")
    print(f"sphinx html: {time.perf_counter() - t0:.1f} s")
    assert done.returncode == 0, (
        f"sphinx html failed:\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    )
    return tmp


def test_site_has_a_page_per_spec(site):
    html = site / "html"
    for s in refpe.specs():
        page = html / "_generated" / "specs" / f"{s.id}.html"
        assert page.exists(), f"no page for spec {s.id}"
        text = html_module.unescape(page.read_text(encoding="utf-8")).replace("\u2019", "'")
        assert s.title in text, f"{s.id}: title missing"
        for term in s.terms:
            assert term in text, f"{s.id}: Chinese term {term} missing"
    for name in ("api", "cli", "conventions", "conformance", "performance"):
        assert (html / "_generated" / f"{name}.html").exists()
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists()


def test_figures_made_for_registered_specs(site):
    ids = {s.id for s in refpe.specs()}
    expected = [
        f"{sid}-{name}.png"
        for sid, figs in refpe_figures.FIGURES.items()
        if sid in ids
        for name, _, _ in figs
    ]
    assert expected, "no figure's spec is registered"
    images = site / "html" / "_images"
    for file in expected:
        data = (images / file).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, file


def test_every_erratum_has_a_demonstration():
    missing = [
        (s.id, e.seed)
        for s in refpe.specs()
        for e in s.errata
        if not (getattr(e, "demo", "") or refpe_docs.refpe_demos.DEMOS.get((s.id, e.seed)))
    ]
    assert not missing, f"errata without a doctest in docs/_ext/refpe_demos.py: {missing}"


def test_check_yours_section_on_every_spec_page():
    for s in refpe.specs():
        page = refpe_docs.spec_page(s, [], None)
        assert "Check yours\n---" in page and f'check(my_function, "{s.id}")' in page, s.id
    assert "apply_rotary_pos_emb" in refpe_docs.spec_page(refpe.spec("rope"), [], None)


def test_doctests_pass(site):
    done = sphinx("doctest", site / "doctest", site / "doctrees")
    output = (site / "doctest" / "output.txt").read_text(encoding="utf-8")
    assert done.returncode == 0, f"doctests failed:\n{output[-6000:]}\n{done.stderr[-4000:]}"
    summary = output.split("Doctest summary", 1)[1].split()
    assert summary[summary.index("failures") - 1] == "0", output[-2000:]
    assert int(summary[summary.index("tests") - 1]) >= 40, summary


# --- generator pieces, without a build -----------------------------------------------------------


def test_heading_counts_wide_characters():
    _, underline = refpe_docs.heading("位置编码 PE", "-").splitlines()
    assert len(underline) == 11


def test_cli_and_api_pages_cover_everything():
    import refpe.cli

    cli = refpe_docs.cli_page()
    for name, _ in refpe_docs.subcommands(refpe.cli.parser(), "refpe"):
        assert f"{name}\n" in cli, name
    assert "--subject" in cli
    api = refpe_docs.api_page()
    for s in refpe.specs():
        assert f":: {refpe_docs.public_path(s.function)}\n" in api, s.id
    for name in ("check", "run", "Plan"):
        assert f":: refpe.conformance.{name}\n" in api
    assert api.index("Summary\n---") < api.index("Formulas (``refpe``)")


def test_crosswalk_lists_third_party_conventions_only():
    page = refpe_docs.conventions_page()
    assert "kernel:" not in page and "not installed" not in page
    assert "Which convention does my library use?" in page
    assert "transformers.LlamaRotaryEmbedding" in page


def _plain(x):
    """A stand-in formula."""
    return x


def test_spec_page_of_a_minimal_spec():
    s = refpe.Spec(
        id="demo-minimal",
        title="A minimal spec",
        latex=r"y = x",
        sources=("seed 000 §1", "A paper 2020"),
        function=_plain,
        domain={},
        cases=(refpe.Case("one", {"x": np.zeros(3)}),),
        error=refpe.ErrorModel(K={"float64": 0}),
    )
    page = refpe_docs.spec_page(s, [], None)
    assert page.startswith(".. _spec-demo-minimal:") and "A minimal spec\n====" in page
    assert ".. math::\n\n   y = x" in page and "seed 000 §1" in page and "A paper 2020" in page
    assert "No build-time conformance report" in page and "Seed errata" not in page
    assert f".. autofunction:: {__name__}._plain" in page


def test_figures_skip_absent_specs(tmp_path):
    assert refpe_docs.figure_files(set(), refpe, str(tmp_path)) == {}
    assert not any(tmp_path.iterdir())


def _report(device: str) -> dict:
    row = {
        "spec": "pe-sinusoidal",
        "case": "c",
        "subject": "refpe",
        "backend": "torch",
        "device": device,
        "dtype": "float32",
        "mode": "eager",
        "verdict": "pass",
        "error": 0.4,
        "K": 2,
        "reason": "",
        "where": "",
        "diagnosis": "",
        "seconds": 0.0,
        "kernel": "reference",
    }
    return {
        "schema": refpe_docs.CONFORMANCE_SCHEMA,
        "created": "2026-11-29T12:00:00+00:00",
        "wall_seconds": 1.0,
        "machine": {"platform": "Linux"},
        "libraries": {"torch": "2"},
        "summary": {"pass": 1},
        "results": [row],
    }


def test_conformance_page_kept_reports(tmp_path):
    empty = refpe_docs.conformance_page(str(tmp_path), None)
    assert "No GPU report is kept in the repository yet" in empty
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "h200.json").write_text(json.dumps(_report("cuda:0")))
    page = refpe_docs.conformance_page(str(tmp_path), None)
    assert "h200.json: torch cuda:0, 2026-11-29T12:00:00+00:00" in page
    assert 'class="v-pass"' in page and "No GPU report" not in page


def test_performance_page(tmp_path):
    assert "Not measured yet" in refpe_docs.performance_page(str(tmp_path))
    (tmp_path / "reports").mkdir()
    candidate = {
        "role": "reference",
        "name": "refpe.rope",
        "median_s": 0.00025,
        "gbytes_per_s": 3.5,
        "vs_copy": 0.5,
        "vs_peer": 1.25,
        "error": 0.5,
    }
    bench = {
        "schema": "refpe-bench/1",
        "created": "2026-11-29T12:00:00+00:00",
        "quick": True,
        "seconds": 3.0,
        "machine": {"cpus": 2},
        "libraries": {"torch": "2.13.0"},
        "results": [
            {
                "spec": "rope",
                "case": "T 64",
                "backend": "torch",
                "device": "cpu",
                "dtype": "float32",
                "candidates": {"reference": candidate},
            }
        ],
        "targets": [{"name": "rope vs peer", "measured": 1.25, "target": 1.0, "met": True}],
    }
    (tmp_path / "reports" / "bench-cpu.json").write_text(json.dumps(bench))
    (tmp_path / "reports" / "bench-other.json").write_text(json.dumps({"results": [{"x": 7.5}]}))
    page = refpe_docs.performance_page(str(tmp_path))
    assert "Not measured yet" not in page and "bench-cpu.json" in page
    assert "0.25 ms" in page and "2026-11-29T12:00:00+00:00" in page and "rope vs peer" in page
    assert "unknown schema" in page and "7.5" in page


# --- the site in a browser ----------------------------------------------------------------------


class Browser:
    """Headless Chromium driven over ``--remote-debugging-pipe``."""

    def __init__(self, profile: Path):
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()

        def fds() -> None:
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=fds,
            close_fds=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf, self._id, self.events = b"", 0, []

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._r], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 30,
    ) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._r)
        os.close(self._w)


PAGE_STATE = """(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await Promise.all([...document.images].map(i => i.complete ? 0 :
      new Promise(r => { i.onload = i.onerror = r; })));
  const width = (document.querySelector("article") || document.body).clientWidth;
  const WHICH = "which-convention-does-my-library-use";
  return {
    title: document.title,
    math: document.querySelectorAll("mjx-container").length,
    mathErrors: document.querySelectorAll("mjx-merror, [data-mjx-error]").length,
    backslashes: document.querySelectorAll("mjx-container mjx-c.mjx-c5C").length,
    unrendered: [...document.querySelectorAll("span.math, div.math")]
        .filter(e => !e.querySelector("mjx-container")).length,
    images: [...document.images].map(i => [i.getAttribute("src"), i.naturalWidth]),
    matrix: document.querySelectorAll(".refpe-matrix td").length,
    // display formulas wider than the content area (they would scroll at 1280 px)
    wideMath: [...document.querySelectorAll('mjx-container[display="true"] > mjx-math')]
        .filter(m => m.getBoundingClientRect().width > width + 1).length,
    which: [...document.querySelectorAll(`#${WHICH} table`)].map(t => t.offsetWidth > width + 1),
    // tables of the page's own content wider than it at 1280 px (the conformance matrix,
    // built to scroll sideways, aside)
    wideTables: [...document.querySelectorAll("article table")]
        .filter(t => !t.closest(".refpe-matrix") && t.offsetWidth > width + 1)
        .map(t => (t.closest("section") || {}).id + ": " + t.offsetWidth + " px"),
    // words of the which-convention tables that wrap onto two lines (broken mid-word)
    whichSplit: [...document.querySelectorAll(`#${WHICH} td, #${WHICH} th`)].flatMap(cell => {
      const w = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT), out = [];
      for (let n; (n = w.nextNode());) for (const m of n.textContent.matchAll(/\\S+/g)) {
        const r = document.createRange();
        r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
        if (new Set([...r.getClientRects()].map(x => Math.round(x.top))).size > 1) out.push(m[0]);
      }
      return out;
    }),
  };
})()"""


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site / "html"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _plant_broken_math(root: Path) -> str:
    """A copy of a spec page with three broken formulas and a table wider than the page: the
    check must see each."""
    page = (root / "_generated" / "specs" / "rope.html").read_text(encoding="utf-8")
    span = '<p><span class="math notranslate nohighlight">{}</span></p>'
    broken = span.format(r"\(\frac{1}\)")  # a MathJax error: \frac without its argument
    broken += span.format(r"\(\text{scale\_grad}\)")  # a backslash shown
    broken += span.format(r"\(x^{\)")  # unbalanced: MathJax leaves it as text
    wide = "<code>" + "x" * 200 + "</code>"  # one word of 200 characters: a table too wide
    broken += f'<section id="wide"><table class="refpe-table"><tr><td>{wide}</td></tr></table>'
    broken += "</section></article>"
    (root / "_generated" / "specs" / "planted.html").write_text(
        page.replace("</article>", broken, 1), encoding="utf-8"
    )
    return "_generated/specs/planted.html"


def test_pages_render_in_chromium(server, site, tmp_path):
    server_root = site / "html"
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    browser = Browser(tmp_path / "profile")
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Network"):
            browser.send(f"{domain}.enable", session=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        pages = {
            "index": "index.html",
            "formula": "_generated/specs/pe-sinusoidal.html",
            "conformance": "_generated/conformance.html",
            "api": "_generated/api.html",
            "conventions": "_generated/conventions.html",
            "planted": _plant_broken_math(server_root),
        }
        pages |= {s.id: f"_generated/specs/{s.id}.html" for s in refpe.specs()}
        states = {}
        for name, path in pages.items():
            browser.send("Page.navigate", {"url": f"{server}/{path}"}, session=session)
            browser.wait_event("Page.loadEventFired", timeout=60)
            result = browser.send(
                "Runtime.evaluate",
                {"expression": PAGE_STATE, "awaitPromise": True, "returnByValue": True},
                session=session,
                timeout=60,
            )
            states[name] = state = result["result"]["value"]
            if name in ("index", "formula", "conformance"):
                shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
                png = base64.b64decode(shot["data"])
                (tmp_path / f"{name}.png").write_bytes(png)
                assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000, name
            assert not [src for src, w in state["images"] if w <= 0], (name, state["images"])
            if name == "planted":  # the check can fail: a broken formula is caught
                assert state["mathErrors"] >= 1 and state["backslashes"] >= 1, state
                assert state["unrendered"] >= 1, state
                assert state["wideTables"] and state["wideTables"][0].startswith("wide:"), state
                continue
            assert state["mathErrors"] == 0, name
            assert state["unrendered"] == 0, f"{name}: a formula MathJax did not typeset"
            assert state["backslashes"] == 0, f"{name}: a backslash is shown in a formula"
            assert state["wideMath"] == 0, f"{name}: a formula wider than the page at 1280 px"
            assert not state["wideTables"], f"{name}: tables wider than the page at 1280 px"
        requests = [
            e["params"]["request"]["url"]
            for e in browser.events
            if e.get("method") == "Network.requestWillBeSent"
        ]
    finally:
        browser.close()
    assert states["index"]["math"] >= 1, states["index"]
    assert states["formula"]["math"] >= 3, states["formula"]
    assert len(states["formula"]["images"]) >= 3, states["formula"]
    assert states["conformance"]["matrix"] >= len(refpe.specs()), states["conformance"]
    assert len(states["rope"]["images"]) >= 3, states["rope"]
    which = states["conventions"]
    assert which["which"] and not any(which["which"]), f"which-convention scrolls: {which}"
    assert not which["whichSplit"], f"which-convention words broken: {which['whichSplit']}"
    outside = [u for u in requests if not u.startswith((server, "data:", "about:"))]
    assert requests and not outside, f"requests left the machine: {outside[:5]}"


def test_gpu_reports_get_their_own_section(tmp_path):
    import refpe_gpu

    assert refpe_gpu.gpu_section(str(tmp_path), "bench") == ""
    (tmp_path / "reports").mkdir()
    bench = {"results": [{"spec": "rope", "case": "apply q, k", "candidates": {
        "kernel-cupy": {"role": "kernel", "vs_copy": 0.71, "vs_peer": 3.0}}}],
        "targets": [{"name": "rope cuda", "met": True, "measured": 0.71}]}  # fmt: skip
    (tmp_path / "reports" / "bench-gpu-nvidia-h200-2026-12-01.json").write_text(json.dumps(bench))
    page = refpe_gpu.gpu_section(str(tmp_path), "bench")
    assert "bench-gpu-nvidia-h200-2026-12-01.json" in page and "vs copy 0.71" in page
    assert "target met: rope cuda" in page
