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
        raise RunError(f"{stem} failed after {time.perf_counter() - t0:.0f} s: {failure(exc)} (the partly "
                       f"executed notebook is {failed})") from exc
    hide_injected_parameters(tmp)
    os.replace(tmp, target)
    failed.unlink(missing_ok=True)
    return target


def failure(exc: BaseException) -> str:
    """What failed, on one line: a cell's exception as the kernel named it (``ExperimentError: ...``, not
    papermill's traceback of it), else the exception's own text ("Kernel died ...")."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename == "KeyboardInterrupt":  # a SIGINT reached the kernel, not this process
        return "the notebook's kernel was interrupted (KeyboardInterrupt: it received SIGINT)"
    text = f"{ename}: {evalue}" if ename and evalue is not None else (str(exc) or type(exc).__name__)
    return " ".join(text.split())


def ipc_kernel_manager():
    """A kernel manager class whose kernels talk to papermill over local IPC sockets, not TCP.

    The kernel then has no TCP port open at all, and says nothing of "running over TCP without
    encryption" on every run. The sockets live in a private temporary folder, removed with the kernel.
    The kernel's own log is kept to critical messages (see ``_async_launch_kernel``).
    """
    import tempfile

    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self._ipc_dir = tempfile.mkdtemp(prefix="exemplar-kernel-")
            self.transport = "ipc"
            self.ip = os.path.join(self._ipc_dir, "kernel")

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            # The kernel's own log says nothing a reader needs, but it does print "Exception in message
            # handler ... ZMQError" when a cell interrupted by Ctrl-C replies after papermill has gone;
            # a cell's errors still reach the notebook and this process.
            return await super()._async_launch_kernel([*kernel_cmd, "--IPKernelApp.log_level=CRITICAL"], **kw)

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


#: In ``book/_run``: the notebooks a run of the plan has finished, kept until ``exemplar book`` has built the site.
PROGRESS_NAME = ".plan-progress.json"


def _plan_key(stems: list[str], quick: bool) -> dict:
    """What makes two runs of the plan the same run: the notebooks, their parameters, QUICK, the results folder."""
    return {"stems": list(stems), "quick": bool(quick), "results": str(config.results_dir()),
            "parameters": {stem: stages.PLAN[stem][1 if quick else 0] for stem in stems}}


def read_progress(run_dir: Path, key: dict) -> dict:
    """The progress of an unfinished run of the same plan (``done``: finished stems, ``started``: the one it was
    in), or an empty progress when there is none, it is unreadable, or it was another plan."""
    try:
        state = json.loads((run_dir / PROGRESS_NAME).read_text())
    except (OSError, ValueError):
        return {"done": [], "started": None}
    if not isinstance(state, dict) or state.get("plan") != json.loads(json.dumps(key)):
        return {"done": [], "started": None}
    done = [s for s in state.get("done", []) if (run_dir / output_name(s)).is_file()]
    return {"done": done, "started": state.get("started"), "run_id": state.get("run_id")}


def _write_progress(run_dir: Path, key: dict, run_id: str, done: list[str], started: str | None) -> None:
    from exemplar import fileio

    run_dir.mkdir(parents=True, exist_ok=True)
    state = {"plan": key, "run_id": run_id, "done": done, "started": started}
    fileio.atomic_write_text(run_dir / PROGRESS_NAME, json.dumps(state, indent=1))


def _takes_resume(stem: str) -> bool:
    """Whether the chapter of ``stem`` has a ``resume`` parameter (the run chapters do)."""
    import importlib

    from exemplar.experiments import CHAPTERS

    if stem not in CHAPTERS:
        return False
    spec = getattr(importlib.import_module(f"exemplar.experiments.{CHAPTERS[stem]}"), "SPEC", None)
    return spec is not None and "resume" in spec.names


#: In ``book/_run``: each executed notebook's key (what it was run from: :func:`stage_key`) and the results files it wrote.
STAGE_KEYS_NAME = ".stage-keys.json"
#: Results files no notebook's key depends on: the stage times (every run adds to them).
NOT_READ = (f"{stages.STAGES_NAME}.csv", f"{stages.STAGES_NAME}.json")


def results_files(directory: Path) -> dict[str, str]:
    """The SHA-256 of every results file (``*.csv``, ``*.json``) in ``directory`` and its ``bench/`` folder, by
    relative path; the stage times (:data:`NOT_READ`), locks and the training store left out."""
    from exemplar.store import file_sha256

    out = {}
    for pattern in ("*.csv", "*.json", "bench/*.csv", "bench/*.json"):
        for path in directory.glob(pattern):
            rel = path.relative_to(directory).as_posix()
            if path.is_file() and rel not in NOT_READ:
                out[rel] = file_sha256(path)
    return dict(sorted(out.items()))


def stage_key(stem: str, params: Mapping[str, Any], quick: bool, reads: Mapping[str, str], data: Mapping[str, str],
              code: str) -> str:
    """What a notebook's run depends on, hashed: the notebook's bytes, its parameters, QUICK, the results folder,
    the package's code (all of it: the pages' text lives there), the data files' digests, and the results files
    it reads (``reads``: relative path → SHA-256)."""
    import hashlib

    blob = json.dumps({"stem": stem, "notebook": hashlib.sha256((config.NOTEBOOKS_DIR / f"{stem}.ipynb").read_bytes())
                       .hexdigest(), "parameters": dict(params), "quick": bool(quick),
                       "results": str(config.results_dir()), "code": code, "data": dict(data),
                       "reads": dict(sorted(reads.items()))}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def read_stage_keys(run_dir: Path) -> dict:
    """``book/_run/.stage-keys.json`` (an empty dict when it is missing or unreadable)."""
    try:
        keys = json.loads((run_dir / STAGE_KEYS_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return keys if isinstance(keys, dict) else {}


def _write_stage_keys(run_dir: Path, keys: dict) -> None:
    from exemplar import fileio

    run_dir.mkdir(parents=True, exist_ok=True)
    fileio.atomic_write_text(run_dir / STAGE_KEYS_NAME, json.dumps(keys, indent=1, sort_keys=True))


def _reads(stem: str, keys: Mapping[str, Any], files: Mapping[str, str]) -> dict[str, str]:
    """The results files ``stem`` reads (:data:`exemplar.analysis.stages.READS`) with their digests now: those the
    notebooks it reads wrote at their last run, and ``bench/`` for the pages."""
    order = list(stages.PLAN)
    wanted = stages.READS.get(stem, stages.EARLIER)
    if wanted == stages.EARLIER:
        wanted = order[:order.index(stem)] if stem in order else order
        names = {f for f in files if f.startswith("bench/")}
    else:
        names = set()
    for other in wanted:
        names |= set(dict(keys.get(other, {})).get("outputs", {}))
    return {name: files.get(name, "missing") for name in sorted(names)}


def _unchanged(entry: Mapping[str, Any] | None, key: str, executed: Path, files: Mapping[str, str]) -> bool:
    """Whether a notebook's last run still stands: same key, its executed notebook there, its results as it wrote them."""
    if not entry or entry.get("key") != key or not executed.is_file():
        return False
    return all(files.get(name) == sha for name, sha in dict(entry.get("outputs", {})).items())


def run_plan(quick: bool = False, only: list[str] | None = None, log=print, restart: bool = False,
             fresh: bool = False) -> list[Path]:
    """Execute every notebook of :data:`exemplar.analysis.stages.PLAN` (or those named in ``only``), full size
    or QUICK (results in :data:`exemplar.config.QUICK_RESULTS` unless ``EXEMPLAR_RESULTS`` says otherwise).

    Each notebook's wall time is recorded with :func:`record_stage` as soon as it finishes. The
    notebooks a run of the whole plan (``only`` not given: ``make run``, ``make book``) has finished are
    kept in ``book/_run/.plan-progress.json`` until :func:`build_book` has built the site: a run of the
    same plan interrupted anywhere (``Ctrl-C``, ``SIGTERM``, a crash,
    ``exemplar book`` failing) and run again skips the notebooks it finished and runs the one it was in
    with ``resume=True`` (its saved rows are kept), unless ``restart``.

    **Nothing changed, nothing reruns.** A run of the whole plan skips a notebook whose key
    (:func:`stage_key`: its notebook, parameters, the package's code, the data, the results it reads) is the
    one of its last run, when its executed notebook and the results it wrote are still as they were
    (``book/_run/.stage-keys.json``). A notebook that does run reuses the trainings of the training store
    (:mod:`exemplar.store`). ``fresh`` (``exemplar run --fresh``, ``make book FRESH=1``) skips nothing and
    reuses nothing: every notebook runs and every training is trained again.
    """
    from exemplar import store

    if quick:
        use_quick_results()
    if fresh:
        os.environ[store.FRESH_ENV] = "1"  # the kernels inherit it: their chapters reuse no training
        restart = True
    stems = only or list(stages.PLAN)
    unknown = sorted(set(stems) - set(stages.PLAN))
    if unknown:
        raise RunError(f"unknown notebook(s) {unknown}; the plan has {list(stages.PLAN)}")
    run_dir, key = config.RUN_DIR, _plan_key(stems, quick)
    keep = not only  # the whole plan (`make run`, `make book`) keeps its progress; named notebooks always run
    state = read_progress(run_dir, key) if keep and not restart else {"done": [], "started": None}
    done, out = list(state["done"]), []
    run_id = state.get("run_id") or _run_id()
    if done or state["started"]:
        log(f"[exemplar run] resuming the run of {run_id}: {len(done)} of {len(stems)} notebooks finished "
            f"(book/_run/{PROGRESS_NAME}; `exemplar run --restart` runs them all again)", flush=True)
    results_dir = config.results_dir()
    keys, code = read_stage_keys(run_dir), store.code_version(leave_out=())
    data = store.TrainingStore(results_dir / store.STORE_DIRNAME).data_fingerprint()
    kept = []
    for stem in stems:
        if stem in done:
            log(f"[exemplar run] {stem} finished before; kept", flush=True)
            out.append(run_dir / output_name(stem))
            continue
        params = dict(stages.PLAN[stem][1 if quick else 0])
        files = results_files(results_dir)
        stem_key = stage_key(stem, params, quick, _reads(stem, keys, files), data, code)
        if keep and not fresh and stem != state["started"] and \
                _unchanged(keys.get(stem), stem_key, run_dir / output_name(stem), files):
            log(f"[exemplar run] {stem} unchanged since its run of {keys[stem].get('run_id')} (notebook, parameters, "
                "code, data and the results it reads): kept", flush=True)
            kept.append(stem)
            done.append(stem)
            out.append(run_dir / output_name(stem))
            continue
        if stem == state["started"] and _takes_resume(stem):
            params["resume"] = True  # the rows it saved before the interruption are kept
        if keep:
            _write_progress(run_dir, key, run_id, done, stem)
        wrote_before = set(dict(keys.pop(stem, {})).get("outputs", {}))  # a failed run leaves no key behind
        _write_stage_keys(run_dir, keys)
        t0 = time.perf_counter()
        log(f"[exemplar run] {stem} {'QUICK ' if quick else ''}{params or '(defaults)'}", flush=True)
        out.append(execute(stem, params))
        seconds = time.perf_counter() - t0
        after = results_files(results_dir)
        keys[stem] = {"key": stem_key, "run_id": run_id,
                      "outputs": {name: sha for name, sha in after.items()
                                  if files.get(name) != sha or name in wrote_before}}
        _write_stage_keys(run_dir, keys)
        done.append(stem)
        if keep:
            _write_progress(run_dir, key, run_id, done, None)
        record_stage(run_id, stem, seconds, quick)
        log(f"[exemplar run] {stem} done in {seconds:.1f} s", flush=True)
    if kept:
        log(f"[exemplar run] {len(kept)} of {len(stems)} notebooks unchanged and kept ({', '.join(kept)}); "
            "`exemplar run --fresh` (make book FRESH=1) runs every notebook and trains everything again", flush=True)
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
    t0 = time.perf_counter()
    index = build_site(root, jupyter_book_command(root, strict))
    if record:
        where = None if (os.environ.get("EXEMPLAR_RESULTS") or not quick) else root / config.QUICK_RESULTS
        record_stage(_run_id(), "jupyter-book build", time.perf_counter() - t0, quick=quick, directory=where)
    (root / "book" / "_run" / PROGRESS_NAME).unlink(missing_ok=True)  # the plan's run is complete
    return index


def jupyter_book_command(root: Path, strict: bool = True) -> list[str]:
    """``jupyter-book build ROOT`` into the staging folder ``ROOT/_build/.staging`` (:func:`build_site`)."""
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(root), "--path-output",
           str(root / "_build" / STAGING)]
    return cmd + (["-W", "-n", "--keep-going"] if strict else [])


#: Where the site is built before it replaces ``_build/html`` (Sphinx's caches stay there between builds).
STAGING = ".staging"
NO_SPACE = ("No space left on device", "[Errno 28]", "Disk quota exceeded", "[Errno 122]")


def build_site(root: Path, cmd: list[str]) -> Path:
    """Run the build ``cmd`` into ``root/_build/.staging``; only when it succeeds does its ``_build/html``
    replace ``root/_build/html``, so a failed or interrupted build leaves the previous site as it was.

    Raises
    ------
    RunError
        When the build fails: one line, which says that the disk is full (and where) when it is.
    """
    built, site = root / "_build" / STAGING / "_build" / "html", root / "_build" / "html"
    proc = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace")
    sys.stdout.write(proc.stdout)  # the build's own report and warnings, as jupyter-book wrote them
    full = any(text in proc.stdout for text in NO_SPACE)
    if proc.returncode == 0 and not full:
        if not (built / "index.html").is_file():
            raise RunError(f"jupyter-book reported success but {built / 'index.html'} is missing")
        try:
            _replace_site(built, site)
        except OSError as exc:  # shutil.Error: the failures of copytree's files, in its message
            if exc.errno not in (28, 122) and not any(text in str(exc) for text in NO_SPACE):
                raise
            full = True
    if full:
        free = shutil.disk_usage(root).free if root.exists() else 0
        raise RunError(f"the disk is full ({free / 2**20:.0f} MiB free on the disk of {root / '_build'}): the site was "
                       f"not built and the previous one in {site} is as it was; free some space (df -h "
                       f"{root / '_build'}) and run `exemplar book` again")
    if proc.returncode != 0:
        raise RunError(f"jupyter-book build failed (exit {proc.returncode}); see the warnings above")
    return site / "index.html"


def _replace_site(built: Path, site: Path) -> None:
    """Copy ``built`` beside ``site`` and swap the two by renames; on any failure the copy goes, ``site`` stays."""
    new, old = site.with_name(".html-new"), site.with_name(".html-old")
    try:
        shutil.rmtree(new, ignore_errors=True)
        shutil.copytree(built, new)
        shutil.rmtree(old, ignore_errors=True)
        if site.exists():
            os.replace(site, old)
        os.replace(new, site)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(new, ignore_errors=True)
