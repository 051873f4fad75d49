"""The documentation site, checked like code: built with ``mkdocs build --strict``, then opened
in a real headless Chromium (Debian's ``chromium``, driven by Playwright's Python package; its
own browser download cannot work offline) and read the way a reader sees it.

The build must hold a page for every rule in ``refopt.RULES`` and every claim of
``docs/report/ledger.json``. On the Adam rule page, a ledger page and two API pages: every formula that pymdownx.arithmatex
marked is rendered by KaTeX (no raw ``$$`` or ``\\frac`` left in the visible text outside
code), every image loaded (natural width > 0), nothing requested from any host but the local
server (KaTeX and fonts ship with the site), and no console error. One full-page screenshot per
page goes to the test's temp dir and to ``$TMPDIR/site_shots/`` for a person to look at. The
test skips only where ``/usr/bin/chromium`` is absent, and says so.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# (page, must it hold at least one formula, at least one image)
PAGES = [("rules/adam/", True, True), ("ledger/adam-step-bound/", False, True),
         ("api/refopt/", False, False), ("api/flavors/torch/", True, False)]

# What the reader sees: text nodes outside KaTeX's hidden MathML copy, scripts, styles and code
# (code may quote LaTeX, a formula may not), that the browser actually renders.
READ_PAGE = """() => {
  const skip = 'script, style, noscript, pre, code, .katex-mathml';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let text = '';
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (el && !el.closest(skip) && el.checkVisibility()) text += n.textContent + ' ';
  }
  const arith = [...document.querySelectorAll('.arithmatex')];
  return {
    text,
    formulas: arith.length,
    unrendered: arith.filter(el => !el.querySelector('.katex')).map(el => el.textContent.slice(0, 80)),
    katex: document.querySelectorAll('.katex').length,
    katex_errors: document.querySelectorAll('.katex-error').length,
    images: [...document.images].map(img => [img.src, img.complete, img.naturalWidth]),
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  };
}"""


def build(out: Path) -> float:
    """``mkdocs build --strict`` into ``out``; its wall time."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return time.perf_counter() - start


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per request is noise here
        pass


def serve(out: Path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def check_page(browser, base: str, path: str, has_math: bool, has_images: bool, shot: Path) -> list[str]:
    """What is wrong with one page as Chromium shows it (empty: nothing); saves its screenshot."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, foreign = [], []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"HTTP {r.status}: {r.url}"))
    page.on("request", lambda r: not r.url.startswith((base, "data:")) and foreign.append(r.url))
    page.goto(base + path, wait_until="networkidle")
    page.evaluate("document.fonts.ready")
    seen = page.evaluate(READ_PAGE)
    page.screenshot(path=str(shot), full_page=True)
    page.close()

    wrong = [f"console: {e}" for e in errors] + [f"request outside the site (a CDN?): {u}" for u in foreign]
    if seen["unrendered"] or seen["katex_errors"] or seen["katex"] < seen["formulas"]:
        wrong.append(f"formulas not rendered by KaTeX: {seen['unrendered']}, {seen['katex_errors']} errors")
    if has_math and not seen["formulas"]:
        wrong.append("a page that should show formulas shows none")
    wrong += [f"raw LaTeX {raw!r} in the visible text" for raw in ("$$", "\\frac", "\\(", "\\[", "\\begin{")
              if raw in seen["text"]]
    if has_images and not seen["images"]:
        wrong.append("no image on a page that has figures")
    wrong += [f"image not loaded: {src}" for src, complete, width in seen["images"]
              if not (complete and width > 0)]
    if seen["overflow"] > 0:
        wrong.append(f"the page is {seen['overflow']} px wider than the window")
    if path.startswith("ledger/"):  # free text reaches the reader as written: no escape left over
        claim = next(c for c in json.loads((ROOT / "docs" / "report" / "ledger.json").read_text())
                     if c["id"] == path.split("/")[1])
        shown = " ".join(seen["text"].split())
        wrong += [f"the claim's {field} is not shown verbatim" for field in ("statement", "detail")
                  if " ".join(claim[field].split()) not in shown]
    return [f"{path}: {w}" for w in wrong]


def test_site_builds_strict_and_renders_in_chromium(tmp_path):
    """One test, so that ``pytest -n 2`` builds the site once."""
    import refopt
    out = tmp_path / "site"
    seconds = build(out)
    # every page generated from the registry and the ledger: none missing, none extra
    assert sorted(p.name for p in (out / "rules").iterdir()) == sorted(refopt.RULES)
    claims = json.loads((ROOT / "docs" / "report" / "ledger.json").read_text())
    assert {p.name for p in (out / "ledger").iterdir() if p.is_dir()} == {c["id"] for c in claims}
    adam = (out / "rules" / "adam" / "index.html").read_text()
    for section in ("Code beside the math", "Checked against", "Test vectors", "torch.optim.Adam",
                    "Conventions: paper, torch, optax, keras", "eps-hat 1e-7 vs the paper",
                    'src="../../report/gallery/adam.png"'):
        assert section in adam, section

    if not CHROMIUM.exists():
        pytest.skip(f"site built strict in {seconds:.0f} s, but Debian's chromium is not installed "
                    "(apt-get install -y chromium): the browser checks did not run")
    from playwright.sync_api import sync_playwright
    shots = Path(tempfile.gettempdir()) / "site_shots"
    shots.mkdir(exist_ok=True)
    httpd, base = serve(out)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            wrong = []
            for path, has_math, has_images in PAGES:
                shot = tmp_path / (path.strip("/").replace("/", "_") + ".png")
                wrong += check_page(browser, base, path, has_math, has_images, shot)
                shutil.copy(shot, shots / shot.name)
            browser.close()
    finally:
        httpd.shutdown()
    assert not wrong, "\n".join(wrong)


def test_figure_map_matches_the_analysis_registry():
    """The site reads the analysis's claims and figures from its decorators without importing
    it; that reading must equal what the analysis registers when imported."""
    import importlib
    import pkgutil

    sys.path.insert(0, str(ROOT / "scripts"))
    import docsite_pages
    import analysis
    from analysis import claim
    for mod in pkgutil.iter_modules(analysis.__path__):
        importlib.import_module(f"analysis.{mod.name}")
    topics, figures = docsite_pages._analysis(ROOT)
    assert topics == {c.id: c.topic for c in claim.CLAIMS}
    registered: dict[str, list[str]] = {}
    for name, make in claim.FIGURES.items():
        registered.setdefault(make.__module__.rsplit(".", 1)[-1], []).append(name)
    assert {k: sorted(v) for k, v in figures.items()} == {k: sorted(v) for k, v in registered.items()}
