"""Execute the notebooks with papermill into ``book/_run/`` and build the Jupyter Book.

The plan of the report is :data:`exemplar.analysis.stages.PLAN`: each notebook with the parameters of
a full run and of a QUICK run. ``exemplar run`` executes it (:func:`run_plan`); ``exemplar book`` builds
``_build/html`` (:func:`build_book`). Each stage's wall time goes to ``results/report_stages.csv``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from exemplar import config
from exemplar.analysis import stages

HIDE_TAG = "remove-cell"


class RunError(RuntimeError):
    """A notebook failed to execute."""


def output_name(stem: str, parameters: Mapping[str, Any] | None = None, plan: bool = True) -> str:
    """File name of an executed notebook: the stem for the report's own runs, else suffixed by parameters.

    ``03-exemplar-parallel`` with ``{"n_engines": 4}`` → ``03-exemplar-parallel__n_engines_4.ipynb``.
    """
    if plan or not parameters:
        return f"{stem}.ipynb"
    parts = []
    for k, v in sorted(parameters.items()):
        text = json.dumps(v, separators=(",", "-")) if not isinstance(v, str) else v
        safe = "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in text).strip("-")
        parts.append(f"{k}_{safe}")
    return f"{stem}__{'__'.join(parts)}.ipynb"


def hide_injected_parameters(path: Path) -> None:
    """Tag papermill's injected-parameters cell so Jupyter Book leaves it out of the page."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and HIDE_TAG not in tags:
            tags.append(HIDE_TAG)
    nbformat.write(nb, path)


def check_parameters(stem: str, parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check ``parameters`` against the chapter's declared parameters before any kernel starts.

    The chapter's module (:data:`exemplar.experiments.CHAPTERS`) declares them once, in ``SPEC``;
    a bad value raises ``ValueError`` naming the parameter and what it accepts.

    Returns
    -------
    dict
        The given parameters as their declared kinds: a value given as text (``exemplar run -p NAME
        VALUE``) is read as its parameter reads it (:meth:`exemplar.experiments.params.Param.parse`:
        ``[1, 2]``, ``3``, ``true``, ``None``, ``float32``). Those of a notebook without a chapter module, as given.
    """
    import importlib

    from exemplar.experiments import CHAPTERS

    given = dict(parameters or {})
    if stem not in CHAPTERS:
        return given
    module = importlib.import_module(f"exemplar.experiments.{CHAPTERS[stem]}")
    spec = getattr(module, "SPEC", None)
    if spec is None:
        return given
    given = {name: spec[name].parse(value) if name in spec.names else value for name, value in given.items()}
    checked = spec.check(given)  # unknown names too
    module.parameters({**spec.defaults(), **given})  # and the chapter's cross-checks
    return {name: getattr(checked, name) for name in given}


def execute(stem: str, parameters: Mapping[str, Any] | None = None, out_dir: Path | None = None,
            plan: bool = True, log_output: bool = False) -> Path:
    """Execute ``notebooks/STEM.ipynb`` with ``parameters`` (checked, and read as their kinds, by
    :func:`check_parameters`) into ``out_dir`` (default ``book/_run``).

    The notebook runs into a temporary file that is renamed into place only on success; a
    failed run is kept as ``NAME.failed.ipynb`` beside it for inspection and raises :class:`RunError`.
    """
    import papermill as pm

    parameters = check_parameters(stem, parameters)
    source = config.NOTEBOOKS_DIR / f"{stem}.ipynb"
    if not source.is_file():
        known = ", ".join(sorted(p.stem for p in config.NOTEBOOKS_DIR.glob("*.ipynb")))
        raise RunError(f"no notebook {source}; known notebooks: {known}")
    out_dir = Path(out_dir) if out_dir is not None else config.RUN_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / output_name(stem, parameters, plan=plan)
    # The notebook runs in a hidden folder beside its target: the book never picks up a half-run page.
    tmp = out_dir / ".running" / target.name
    tmp.parent.mkdir(exist_ok=True)
    failed = target.with_name(f"{target.stem}.failed.ipynb")
    t0 = time.perf_counter()
    try:
        # The kernel's stderr (the sweep's tqdm progress bar, warnings) goes straight to ours, so a
        # batch run shows its progress; the book drops stderr outputs (nb_output_stderr: remove).
        pm.execute_notebook(str(source), str(tmp), parameters=parameters, kernel_name="python3",
                            cwd=str(config.NOTEBOOKS_DIR), progress_bar=False, log_output=log_output,
                            stderr_file=sys.stderr, kernel_manager_class=ipc_kernel_manager())
    except BaseException as exc:
        if tmp.exists():
            os.replace(tmp, failed)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise RunError(f"{stem} failed after {time.perf_counter() - t0:.0f} s: {exc}\n"
                       f"The partly executed notebook is {failed}") from exc
    hide_injected_parameters(tmp)
    os.replace(tmp, target)
    failed.unlink(missing_ok=True)
    return target


def ipc_kernel_manager():
    """A kernel manager class whose kernels talk to papermill over local IPC sockets, not TCP.

    The kernel then has no TCP port open at all, and says nothing of "running over TCP without
    encryption" on every run. The sockets live in a private temporary folder, removed with the kernel.
    """
    import tempfile

    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self._ipc_dir = tempfile.mkdtemp(prefix="exemplar-kernel-")
            self.transport = "ipc"
            self.ip = os.path.join(self._ipc_dir, "kernel")

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart:
                shutil.rmtree(self._ipc_dir, ignore_errors=True)

    return IPCKernelManager


def record_stage(run_id: str, stage: str, seconds: float, quick: bool, directory: Path | None = None) -> Path:
    """Append one stage's wall time to ``results/report_stages.csv`` (rewritten atomically).

    One row per stage and run: ``run_id`` (when the run started, UTC), ``stage`` (a notebook's stem,
    or ``jupyter-book build``), ``seconds``, ``quick``, the commit, CPU model and usable cores.
    """
    import pandas as pd

    from exemplar import locks, results

    directory = Path(directory) if directory is not None else config.results_dir()
    path = directory / f"{stages.STAGES_NAME}.csv"
    prov = results.provenance({}, what="wall time of each stage of `exemplar run` and `exemplar book`")
    row = {"run_id": run_id, "stage": stage, "seconds": round(float(seconds), 2), "quick": bool(quick),
           "git_commit": prov["git_commit"], "cpu_model": prov["machine"]["cpu_model"],
           "usable_cores": prov["machine"]["usable_cores"]}
    with locks.exclusive(path, wait=True):  # two runs at once each add their row; neither is lost
        old = pd.read_csv(path) if path.is_file() else pd.DataFrame()
        frame = pd.concat([old, pd.DataFrame([row])], ignore_index=True)
        return results.write_results(stages.STAGES_NAME, frame, prov, directory=directory)


def _run_id() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def use_quick_results() -> None:
    """Send this process's results (and its kernels') to :data:`exemplar.config.QUICK_RESULTS`, unless
    ``EXEMPLAR_RESULTS`` already names a folder: a QUICK pass never overwrites the full results."""
    os.environ.setdefault("EXEMPLAR_RESULTS", str(config.ROOT / config.QUICK_RESULTS))


def run_plan(quick: bool = False, only: list[str] | None = None, log=print) -> list[Path]:
    """Execute every notebook of :data:`exemplar.analysis.stages.PLAN` (or those named in ``only``), full size
    or QUICK (results in :data:`exemplar.config.QUICK_RESULTS` unless ``EXEMPLAR_RESULTS`` says otherwise).

    Each notebook's wall time is recorded with :func:`record_stage` as soon as it finishes.
    """
    if quick:
        use_quick_results()
    stems = only or list(stages.PLAN)
    unknown = sorted(set(stems) - set(stages.PLAN))
    if unknown:
        raise RunError(f"unknown notebook(s) {unknown}; the plan has {list(stages.PLAN)}")
    out = []
    run_id = _run_id()
    for stem in stems:
        params = stages.PLAN[stem][1 if quick else 0]
        t0 = time.perf_counter()
        log(f"[exemplar run] {stem} {'QUICK ' if quick else ''}{params or '(defaults)'}", flush=True)
        out.append(execute(stem, params))
        seconds = time.perf_counter() - t0
        record_stage(run_id, stem, seconds, quick)
        log(f"[exemplar run] {stem} done in {seconds:.1f} s", flush=True)
    return out


def plotly_js_path() -> Path:
    """The plotly.js bundle that ships inside the installed plotly package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found in the plotly package at {path}")
    return path


def _is_quick_run(root: Path) -> bool:
    """Whether the executed notebooks in ``root/book/_run`` come from a QUICK run (by their parameters)."""
    import nbformat

    path = root / "book" / "_run" / "02-sequential-sweep.ipynb"
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return False
    return any("injected-parameters" in c.metadata.get("tags", []) and "n_train" in c.source for c in nb.cells)


def build_book(root: Path | None = None, strict: bool = True, record: bool = True) -> Path:
    """Copy plotly.js into ``book/_static`` and run ``jupyter-book build`` (warnings are errors).

    The build's wall time is recorded with :func:`record_stage` (``record=False``: not).
    Returns the path of the built ``index.html``.
    """
    root = Path(root) if root is not None else config.ROOT
    static = root / "book" / "_static"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plotly_js_path(), static / "plotly.min.js")
    missing = [stem for stem in stages.PLAN if not (root / "book" / "_run" / f"{stem}.ipynb").is_file()]
    if missing:
        raise RunError(f"executed notebooks missing in book/_run: {missing}; run `exemplar run` first")
    # The first page opens with the report's answer, computed from the results these pages show.
    from exemplar.reporting.answer import render_intro

    quick = _is_quick_run(root)
    results_dir = None if os.environ.get("EXEMPLAR_RESULTS") else root / (config.QUICK_RESULTS if quick else "results")
    render_intro(root / "book" / "intro.md", root / "book" / "_run" / "intro.md", results_dir)
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(root), "--path-output", str(root)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root)
    if proc.returncode == 0 and record:
        where = None if (os.environ.get("EXEMPLAR_RESULTS") or not quick) else root / config.QUICK_RESULTS
        record_stage(_run_id(), "jupyter-book build", time.perf_counter() - t0, quick=quick, directory=where)
    if proc.returncode != 0:
        raise RunError(f"jupyter-book build failed (exit {proc.returncode}); see the warnings above")
    index = root / "_build" / "html" / "index.html"
    if not index.is_file():
        raise RunError(f"jupyter-book reported success but {index} is missing")
    return index
