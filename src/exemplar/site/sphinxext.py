"""A small Sphinx extension that keeps the built site offline and quiet in the browser.

Loaded by ``_config.yml`` (``sphinx.extra_extensions``). Jupyter Book 1 always loads
``sphinx_thebe``, which writes a ``THEBE_JS_URL`` pointing at a CDN into every page, twice (the
second declaration is a console error), although this book has no live-code button. This
extension drops thebe's scripts and stylesheet from every page, and gives the theme a valid
colour mode, so that a page opened with no network makes no request and logs no error. Pages
that draw no plotly figure do not load plotly.js.

Math is typeset by MathJax 3 from ``_static/mathjax/``, copied there from the
``django-static-mathjax`` package (a plain copy of MathJax's files; it needs no Django), instead
of Sphinx's default CDN. Finally, the extension warns (an error under ``-W``) when a page would
load any script or stylesheet from the network.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sphinx.util import logging

logger = logging.getLogger(__name__)

#: The theme's colour mode when ``html_context`` names none (pydata-sphinx-theme logs a
#: console error for its empty default). Light: plotly's figures are drawn on white.
DEFAULT_MODE = "light"


def _is_thebe(asset: Any) -> bool:
    filename = str(getattr(asset, "filename", "") or "")
    body = str(getattr(asset, "attributes", {}).get("body", "") or "")
    return "thebe" in filename or "THEBE_JS_URL" in body or "thebe_selector" in body


def _is_remote(asset: Any) -> bool:
    filename = str(getattr(asset, "filename", "") or "")
    return filename.startswith(("http://", "https://", "//"))


def _is_unused_plotly(asset: Any, context: dict) -> bool:
    filename = str(getattr(asset, "filename", "") or "")
    return filename.endswith("plotly.min.js") and "Plotly.newPlot" not in str(context.get("body", ""))


def offline_page(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context`` handler: drop sphinx-thebe's assets, and plotly.js where a page draws no figure
    (parsing its 4.8 MB costs a reader seconds on every page); warn about any asset from the network."""
    for key in ("script_files", "css_files"):
        if key not in context:
            continue
        assets = [asset for asset in context[key] if not _is_thebe(asset) and not _is_unused_plotly(asset, context)]
        for asset in assets:
            if _is_remote(asset):
                hint = (" (a local MathJax comes from the django-static-mathjax package: pip install it)"
                        if "mathjax" in str(asset.filename).lower() else "")
                logger.warning(f"page {pagename!r} would load {asset.filename} from the network; the site must "
                               f"render offline{hint}", type="exemplar", subtype="offline")
        context[key] = assets


#: MathJax's combined component for TeX and MathML input, HTML output (Sphinx's default), and the
#: folder of ``_static`` it is copied into.
MATHJAX_ENTRY = "tex-mml-chtml.js"
MATHJAX_DIR = "mathjax"
#: MathJax files that the page never loads: the other combined components, SVG output, Node's.
_MATHJAX_UNUSED = ("tex-chtml*.js", "tex-svg*.js", "tex-mml-svg.js", "mml-*.js", "node-main.js", "svg", "svg.js",
                   "liteDOM.js")


def mathjax_source() -> Path | None:
    """MathJax 3's ``es5`` folder inside the installed ``django-static-mathjax`` package (None if missing)."""
    try:
        import mathjax
    except ImportError:
        return None
    es5 = Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"
    return es5 if (es5 / MATHJAX_ENTRY).is_file() else None


def use_local_mathjax(app, config) -> None:
    """``config-inited`` handler: point ``mathjax_path`` at ``_static/mathjax/`` unless the book names one.

    Where the package is missing, Sphinx's CDN default stays and :func:`offline_page` fails the
    build on the first page with math, saying what to install.
    """
    if str(config.mathjax_path).startswith(("http://", "https://", "//")) and mathjax_source() is not None:
        config.mathjax_path = f"{MATHJAX_DIR}/{MATHJAX_ENTRY}"


def copy_mathjax(app) -> None:
    """``builder-inited`` handler: copy MathJax into the site's ``_static/mathjax/`` (before pages are written)."""
    source = mathjax_source()
    if app.builder.format != "html" or source is None or app.config.mathjax_path != f"{MATHJAX_DIR}/{MATHJAX_ENTRY}":
        return
    target = Path(app.outdir) / "_static" / MATHJAX_DIR
    if (target / MATHJAX_ENTRY).is_file() and (target / MATHJAX_ENTRY).stat().st_size == \
            (source / MATHJAX_ENTRY).stat().st_size:
        return
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*_MATHJAX_UNUSED))


def set_theme_defaults(app, config) -> None:
    """``config-inited`` handler: a valid default colour mode for the theme (an ``html_context`` value)."""
    context = dict(config.html_context or {})
    context.setdefault("default_mode", DEFAULT_MODE)
    config.html_context = context


def setup(app) -> dict[str, Any]:
    app.connect("config-inited", set_theme_defaults)
    app.connect("config-inited", use_local_mathjax)
    app.connect("builder-inited", copy_mathjax)
    app.connect("html-page-context", offline_page, priority=900)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
