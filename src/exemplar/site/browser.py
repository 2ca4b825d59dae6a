"""Open the built site in a real browser, offline, and record what a reader would see.

The site in ``_build/html`` is served on 127.0.0.1 and every page is opened in headless
Chromium (the system's, e.g. Debian's ``chromium`` package) driven by Playwright's Python
package: Playwright's own browser download is never used. Every request that would leave
127.0.0.1 is blocked and recorded, so a page that needs the network shows up as a failure
rather than as a slow load. For each page this records console errors and uncaught exceptions,
blocked and failed requests, the size and contents of every plotly figure, and a full-page
screenshot.

``python -m exemplar.site.browser [_build/html]`` checks a built site from the command line and
writes screenshots to ``_build/screenshots/``.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from exemplar import config

#: Executables tried, in order, when ``EXEMPLAR_CHROMIUM`` does not name one.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Chromium flags: no sandbox (CI runs as root), software WebGL for plotly's 3D figures.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-dev-shm-usage", "--enable-unsafe-swiftshader", "--mute-audio")
#: The plotly.js message shown instead of a 3D figure when WebGL is missing.
NO_WEBGL = "WebGL is not supported"

_FIGURES_JS = """
() => [...document.querySelectorAll('.plotly-graph-div')].map((gd, i) => {
  const size = el => { const r = el.getBoundingClientRect(); return [r.width, r.height]; };
  const pc = gd.querySelector('.plot-container');
  const [w, h] = pc ? size(pc) : [0, 0];
  const column = gd.closest('.cell_output, .output, article') || gd.parentElement;
  const drawn = sel => [...gd.querySelectorAll(sel)].filter(el => { const [a, b] = size(el); return a > 0 && b > 0; }).length;
  return {
    index: i,
    title: (gd._fullLayout && gd._fullLayout.title && gd._fullLayout.title.text) || '',
    plot_container: !!pc, width: w, height: h, column_width: column ? size(column)[0] : w,
    svg: drawn('svg.main-svg'), canvas: drawn('canvas'),
    traces: (gd._fullData || []).map(t => t.type),
    lines: gd.querySelectorAll('.scatterlayer .trace path.js-line').length,
    points: gd.querySelectorAll('.scatterlayer .point').length,
    gl_scenes: gd._fullLayout ? Object.keys(gd._fullLayout).filter(k => /^scene\\d*$/.test(k) && gd._fullLayout[k]._scene).length : 0,
    no_webgl: (gd.innerText || '').includes('%s'),
  };
})
""" % NO_WEBGL


#: axe-core's impact levels, most severe first; :data:`AXE_FAILING` ones are problems of a page.
AXE_IMPACTS = ("critical", "serious", "moderate", "minor")
AXE_FAILING = ("critical", "serious")


def axe_violations(page) -> list[dict] | None:
    """axe-core's accessibility violations on a loaded Playwright ``page`` (``None`` without axe-core)."""
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        return None
    # preload=False: axe would fetch every stylesheet again, resolving their @imports against the page (a 404)
    response = Axe().run(page, options={"resultTypes": ["violations"], "preload": False}).response
    return [{"id": v["id"], "impact": v.get("impact"), "nodes": len(v.get("nodes", [])), "help": v.get("help", "")}
            for v in response.get("violations", [])]


class BrowserUnavailable(RuntimeError):
    """No Chromium executable, or no Playwright package, on this machine."""


def find_chromium() -> str | None:
    """The Chromium to drive: ``$EXEMPLAR_CHROMIUM``, else the first of :data:`CHROMIUM_NAMES` on the PATH."""
    env = os.environ.get("EXEMPLAR_CHROMIUM")
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a background thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def site_pages(html_dir: Path) -> list[str]:
    """Every HTML page of a built site, relative to it (top-level ``_static``, ``_sources``... left out)."""
    html_dir = Path(html_dir)
    pages = [p.relative_to(html_dir).as_posix() for p in sorted(html_dir.rglob("*.html"))]
    return [p for p in pages if "/" not in p or not p.split("/")[0].startswith("_")]


@dataclass
class PageReport:
    """What opening one page produced.

    Attributes
    ----------
    page : str
        The page, relative to the site's root (with ``?q=...`` for the search page).
    console_errors : list of str
        Console messages of type error, and uncaught exceptions.
    external_requests : list of str
        Requests to anywhere but 127.0.0.1 (blocked).
    failed_requests : list of str
        Local requests that failed or answered 4xx/5xx.
    figures : list of dict
        Per plotly figure: its ``.plot-container`` size, drawn ``svg``/``canvas`` counts, trace
        types, drawn lines and points, WebGL scenes, and whether plotly reported no WebGL.
    search_results : int or None
        On the search page: the number of results listed.
    downloads : list of str
        The page's download links (each fetched: a failure is in ``failed_requests``).
    math, math_typeset : int
        Math elements on the page, and how many of them MathJax typeset.
    screenshot : Path or None
    seconds : float
        How long opening, checking and screenshotting the page took.
    accessibility : list of dict or None
        axe-core's violations on the page (``id``, ``impact``, ``nodes``, ``help``), once it has drawn;
        ``None`` where axe-core (the ``axe-playwright-python`` package) is not installed.
    """

    page: str
    console_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    search_results: int | None = None
    downloads: list[str] = field(default_factory=list)
    math: int = 0
    math_typeset: int = 0
    screenshot: Path | None = None
    seconds: float = 0.0
    accessibility: list[dict] | None = None

    def accessibility_counts(self) -> dict[str, int]:
        """Violations per impact (``critical``, ``serious``, ``moderate``, ``minor``), each node counted."""
        counts = {impact: 0 for impact in AXE_IMPACTS}
        for v in self.accessibility or []:
            counts[v["impact"] or "minor"] = counts.get(v["impact"] or "minor", 0) + v["nodes"]
        return counts

    def figure_problems(self) -> list[str]:
        """Figures that did not draw: no ``.plot-container`` of non-zero size, wider than their column,
        nothing drawn in it, or a 3D scene without WebGL."""
        out = []
        for f in self.figures:
            name = f"{self.page} figure {f['index']} ({f['title'] or 'untitled'})"
            if not f["plot_container"] or f["width"] <= 0 or f["height"] <= 0:
                out.append(f"{name}: no .plot-container of non-zero size")
            elif f["width"] > f["column_width"] + 1:
                out.append(f"{name}: {f['width']:.0f} px wide in a column of {f['column_width']:.0f} px (clipped)")
            elif f["svg"] == 0 and f["canvas"] == 0:
                out.append(f"{name}: neither svg nor canvas drawn")
            elif f["no_webgl"] or (any(t in ("surface", "scatter3d", "mesh3d") for t in f["traces"])
                                   and (f["gl_scenes"] == 0 or f["canvas"] == 0)):
                out.append(f"{name}: its 3D scene was not drawn (WebGL)")
        return out

    def problems(self) -> list[str]:
        """Everything wrong with the page, one line each (empty when the page is fine)."""
        return ([f"{self.page}: console error: {e}" for e in self.console_errors]
                + [f"{self.page}: request left 127.0.0.1: {u}" for u in self.external_requests]
                + [f"{self.page}: request failed: {u}" for u in self.failed_requests]
                + ([f"{self.page}: {self.math - self.math_typeset} of {self.math} formulas not typeset"]
                   if self.math_typeset < self.math else [])
                + self.figure_problems()
                + [f"{self.page}: accessibility ({v['impact']}): {v['id']} on {v['nodes']} element(s): {v['help']}"
                   for v in self.accessibility or [] if v["impact"] in AXE_FAILING])


def _screenshot_name(page: str) -> str:
    return Path(page.split("?")[0]).with_suffix(".png").name


def check_site(html_dir: Path, screenshots: Path | None = None, pages: list[str] | None = None,
               chromium: str | None = None, width: int = 1280, height: int = 900,
               search_query: str = "accuracy", timeout_s: float = 60) -> list[PageReport]:
    """Open every page of a built site in headless Chromium, offline, and report what happened.

    Parameters
    ----------
    html_dir : Path
        The built site (``_build/html``).
    screenshots : Path, optional
        Where to save a full-page PNG of each page (emptied first). None: no screenshots.
    pages : list of str, optional
        Pages relative to ``html_dir`` (default :func:`site_pages`). ``search.html`` is opened
        with ``?q=search_query`` and its results counted.
    chromium : str, optional
        The browser executable (default :func:`find_chromium`).
    width, height : int
        The viewport, in CSS pixels.
    timeout_s : float
        The most seconds to wait for a page to load and its figures to draw.

    Returns
    -------
    list of PageReport

    Raises
    ------
    BrowserUnavailable
        When no Chromium or no Playwright package can be found.
    """
    chromium = chromium or find_chromium()
    if not chromium:
        raise BrowserUnavailable("no Chromium found (tried $EXEMPLAR_CHROMIUM and " + ", ".join(CHROMIUM_NAMES)
                                 + "); on Debian: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BrowserUnavailable(f"the playwright package is missing ({exc}); pip install -e '.[test]'") from exc

    html_dir = Path(html_dir)
    pages = list(pages) if pages is not None else site_pages(html_dir)
    if screenshots is not None:
        shutil.rmtree(screenshots, ignore_errors=True)
        Path(screenshots).mkdir(parents=True)
    reports = []
    with serve(html_dir) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS), headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
            context.set_default_timeout(timeout_s * 1000)
            for page_path in pages:
                reports.append(_check_page(context, base, page_path, screenshots, search_query, timeout_s))
        finally:
            browser.close()
    return reports


def _watch(page, report: PageReport) -> None:
    """Block requests that leave 127.0.0.1 and record console errors and failed requests in ``report``."""

    def route(r):
        parts = urlsplit(r.request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname != "127.0.0.1":
            report.external_requests.append(r.request.url)
            r.abort("blockedbyclient")
        else:
            r.continue_()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and report.console_errors.append(
        f"{m.text} ({m.location.get('url', '')})"))
    page.on("pageerror", lambda e: report.console_errors.append(f"uncaught: {e}"))
    page.on("requestfailed", lambda r: (
        urlsplit(r.url).hostname == "127.0.0.1" and report.failed_requests.append(f"{r.url} ({r.failure})")))
    page.on("response", lambda r: r.status >= 400 and report.failed_requests.append(f"{r.url} (HTTP {r.status})"))


def _search_and_math(page, report: PageReport, searching: bool) -> None:
    """On the search page, wait for and count the results; on any page, wait for MathJax and count formulas."""
    from playwright.sync_api import Error as PlaywrightError

    if searching:
        with contextlib.suppress(PlaywrightError):
            page.wait_for_function("() => document.querySelectorAll('#search-results li').length > 0"
                                   " || /did not match|no results/i.test("
                                   "(document.querySelector('#search-results') || {}).innerText || '')",
                                   timeout=15_000)
        report.search_results = page.evaluate("() => document.querySelectorAll('#search-results li').length")
    report.math = page.evaluate("() => document.querySelectorAll('.math').length")
    if report.math:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        report.math_typeset = page.evaluate(
            "() => [...document.querySelectorAll('.math')].filter(m => m.querySelector('mjx-container')"
            " || m.tagName.toLowerCase() === 'mjx-container').length")


def _check_page(context, base: str, page_path: str, screenshots: Path | None, search_query: str,
                timeout_s: float) -> PageReport:
    """Open one page in ``context`` and report what happened (see :func:`check_site`)."""
    from playwright.sync_api import Error as PlaywrightError

    report = PageReport(page_path)
    t0 = time.perf_counter()
    page = context.new_page()
    _watch(page, report)
    url = base + page_path
    searching = page_path.endswith("search.html") and bool(search_query)
    if searching:
        url += f"?q={search_query}"
        report.page = f"{page_path}?q={search_query}"
    try:
        page.goto(url, wait_until="load")
        page.wait_for_function("() => [...document.querySelectorAll('.plotly-graph-div')]"
                               ".every(gd => gd._fullLayout && gd.querySelector('.plot-container'))")
        page.wait_for_load_state("networkidle")
        _search_and_math(page, report, searching)
        page.wait_for_timeout(500)  # let WebGL scenes finish their first frame
        report.figures = page.evaluate(_FIGURES_JS)
        report.accessibility = axe_violations(page)
        report.downloads = page.evaluate("() => [...document.querySelectorAll('a.download')].map(a => a.href)")
        for href in report.downloads:
            response = context.request.get(href)
            if not response.ok or not response.body():
                report.failed_requests.append(f"download {href} (HTTP {response.status})")
        if screenshots is not None:
            report.screenshot = Path(screenshots) / _screenshot_name(page_path)
            page.screenshot(path=str(report.screenshot), full_page=True)
    except PlaywrightError as exc:
        report.console_errors.append(f"the page did not load and draw in {timeout_s:.0f} s: {exc}")
    finally:
        page.close()
    report.seconds = time.perf_counter() - t0
    return report


def figure_png(fig, path: Path, width: int = 900, height: int = 480, chromium: str | None = None,
               scale: float = 2) -> Path:
    """Draw a plotly figure in headless Chromium, offline, and save it as a PNG (a browser screenshot).

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
    path : Path
        The PNG to write.
    width, height : int
        The figure's size in CSS pixels; ``scale`` device pixels per CSS pixel.
    """
    import tempfile

    import plotly.io as pio
    from playwright.sync_api import sync_playwright

    from exemplar.site.notebooks import plotly_js_path

    chromium = chromium or find_chromium()
    if not chromium:
        raise BrowserUnavailable("no Chromium found; on Debian: apt-get install chromium")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(plotly_js_path(), Path(tmp) / "plotly.min.js")
        html = pio.to_html(fig, include_plotlyjs="directory", full_html=True, default_width=f"{width}px",
                           default_height=f"{height}px", config={"displayModeBar": False})
        (Path(tmp) / "index.html").write_text(html, encoding="utf-8")
        with serve(Path(tmp)) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS), headless=True)
            try:
                page = browser.new_page(viewport={"width": width + 40, "height": height + 40},
                                        device_scale_factor=scale)
                page.route("**/*", lambda r: r.continue_() if urlsplit(r.request.url).hostname == "127.0.0.1"
                           else r.abort("blockedbyclient"))
                page.goto(base + "index.html", wait_until="load")
                page.wait_for_function("() => { const gd = document.querySelector('.plotly-graph-div');"
                                       " return gd && gd._fullLayout && gd.querySelector('.plot-container'); }")
                page.wait_for_timeout(500)
                page.locator(".plotly-graph-div").first.screenshot(path=str(path))
            finally:
                browser.close()
    return path


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - a convenience for people
    import argparse

    p = argparse.ArgumentParser(prog="python -m exemplar.site.browser", description=__doc__.split("\n\n")[0])
    p.add_argument("html_dir", nargs="?", default=str(config.BUILD_DIR / "html"))
    p.add_argument("--screenshots", default=str(config.BUILD_DIR / "screenshots"))
    args = p.parse_args(argv)
    reports = check_site(Path(args.html_dir), Path(args.screenshots))
    problems = [line for r in reports for line in r.problems()]
    for r in reports:
        search = f", {r.search_results} search results" if r.search_results is not None else ""
        search += f", {r.math_typeset}/{r.math} formulas typeset" if r.math else ""
        print(f"{r.page}: {len(r.figures)} figures{search}, {len(r.problems())} problems, {r.seconds:.1f} s, "
              f"screenshot {r.screenshot}")
    for line in problems:
        print("PROBLEM", line)
    return 1 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
