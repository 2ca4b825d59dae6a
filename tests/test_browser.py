"""The reader's site, in a real browser, offline: build the QUICK book and open every page in headless Chromium.

Chromium is the system's (Debian's ``chromium`` package; ``make test`` installs it where it is
missing and it can), driven by the ``playwright`` Python package from the ``[test]`` extra. This
test installs nothing itself: where no Chromium can be found it is skipped, loudly.

Select it with ``pytest -m browser``. A full-page screenshot of every page is kept in
``_build/screenshots/`` of the checkout, for a person to look at.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from exemplar import config
from exemplar.analysis import stages
from exemplar.site import browser

pytestmark = [pytest.mark.browser, pytest.mark.book, pytest.mark.slow]

SCREENSHOTS = config.BUILD_DIR / "screenshots"
#: A <script src> or <link href> that points off the site.
EXTERNAL_ASSET = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = browser.find_chromium()
    if not path:
        pytest.skip("NO CHROMIUM: the browser test did not run. Install Debian's chromium "
                    "(`apt-get install chromium`; `make test` does it where it runs as root with apt-get) "
                    "or point EXEMPLAR_CHROMIUM at a Chromium executable.")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("NO PLAYWRIGHT: the browser test did not run; install the test extra: pip install -e '.[test]'")
    return path


@pytest.fixture(scope="module")
def quick_site(chromium, quick_book) -> Path:
    """The QUICK site's ``_build/html`` (built once per session; skipped first where no Chromium)."""
    return quick_book / "_build" / "html"


def test_no_script_or_stylesheet_comes_from_the_network(quick_site):
    """The grep of the issue: no http(s):// (or protocol-relative) URL in any <script src> or <link href>."""
    offenders = []
    for page in sorted(quick_site.rglob("*.html")):
        for match in EXTERNAL_ASSET.finditer(page.read_text(encoding="utf-8", errors="replace")):
            offenders.append(f"{page.relative_to(quick_site)}: {match.group(0)[:120]}")
    assert not offenders, "\n".join(offenders)


def test_pages_hide_injected_parameters_and_fold_code(quick_site):
    """Papermill's injected-parameters cells are left out; code that is not the point is folded (hide-input)."""
    chapters = sorted((quick_site / "book" / "_run").glob("*.html"))
    assert chapters
    for page in chapters:
        assert "tag_injected-parameters" not in page.read_text(encoding="utf-8"), page.name
    sweep = (quick_site / "book" / "_run" / "02-sequential-sweep.html").read_text(encoding="utf-8")
    assert sweep.count("tag_hide-input") >= 4 and "Fig 3. Training time" in sweep


def test_the_first_page_opens_with_the_measured_answer(quick_site):
    """The site's first page answers the title question in its first paragraph, from the results (issue 16)."""
    from html.parser import HTMLParser

    class FirstParagraph(HTMLParser):
        def __init__(self):
            super().__init__()
            self.depth, self.text, self.done = 0, [], False

        def handle_starttag(self, tag, attrs):
            if tag == "p" and not self.done and "main" in self.where:
                self.depth += 1

        def handle_endtag(self, tag):
            if tag == "p" and self.depth:
                self.depth, self.done = 0, True

        def handle_data(self, data):
            if self.depth:
                self.text.append(data)

    html = (quick_site / "book" / "_run" / "intro.html").read_text(encoding="utf-8")
    body = html[html.index('<main'):]  # the article, not the side bars
    parser = FirstParagraph()
    parser.where = "main"
    parser.feed(body[body.index("<h1"):])
    first = "".join(parser.text)
    assert first.startswith("The answer, from this build"), first[:200]
    assert "faster" in first and "pp" in first and "exemplar:answer" not in html


def test_every_page_renders_offline_in_chromium(quick_site, chromium):
    """Every page: no console error, no request off 127.0.0.1, every plotly figure drawn; screenshots kept."""
    reports = browser.check_site(quick_site, screenshots=SCREENSHOTS, chromium=chromium)
    pages = {r.page.split("?")[0]: r for r in reports}
    problems = [line for r in reports for line in r.problems()]
    assert not problems, "\n".join(problems)

    # Every chapter of the table of contents was opened, and the site's own pages too.
    toc_pages = {f"book/_run/{stem}.html" for stem in stages.PLAN}
    assert toc_pages | {"book/_run/intro.html", "index.html", "search.html", "genindex.html"} <= set(pages)

    # Accessibility: axe-core ran on every page; nothing serious or critical (those are problems above).
    assert all(r.accessibility is not None for r in reports), "axe-core did not run (axe-playwright-python missing?)"
    counts = {r.page: r.accessibility_counts() for r in reports}
    (SCREENSHOTS / "accessibility.json").write_text(json.dumps(counts, indent=1))
    assert not [p for p, c in counts.items() if c["serious"] or c["critical"]]

    # The sweep's 3D surfaces (Figs 3-4) are drawn by WebGL, with the paper's markers beside them.
    sweep = pages["book/_run/02-sequential-sweep.html"]
    surfaces = [f for f in sweep.figures if "surface" in f["traces"]]
    assert len(surfaces) >= 2, sweep.figures
    assert all(f["canvas"] > 0 and f["gl_scenes"] == 1 and "scatter3d" in f["traces"] for f in surfaces)

    # The parallel chapter's line plots (Figs 5-8) draw their lines and markers as SVG.
    parallel = pages["book/_run/03-exemplar-parallel.html"]
    lines = [f for f in parallel.figures if f["traces"] and set(f["traces"]) <= {"scatter"}]
    assert len(lines) >= 4, parallel.figures
    assert all(f["svg"] > 0 and f["lines"] > 0 and f["points"] > 0 for f in lines)

    # Search works offline, from the site's own index.
    assert pages["search.html"].search_results, "the search page listed no result for 'accuracy'"

    # Each results CSV can be downloaded from the summary and status pages.
    for stem in ("00-paper-vs-report", "99-status"):
        csvs = [u for u in pages[f"book/_run/{stem}.html"].downloads if u.endswith(".csv")]
        assert {"sequential_sweep.csv", "exemplar.csv"} <= {u.rsplit("/", 1)[-1] for u in csvs}, stem

    # A screenshot of every page, for a person to look at.
    for r in reports:
        assert r.screenshot is not None and r.screenshot.stat().st_size > 10_000, r.page
