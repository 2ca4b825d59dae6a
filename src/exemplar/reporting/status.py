"""The status page and the results' downloads: how the numbers were produced, read from what the runs recorded.

Everything here *reads* what the notebooks wrote: each results file's provenance
(``results/NAME.json`` beside ``NAME.csv``) and papermill's record of each executed notebook in
``book/_run/``; nothing is re-measured.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from exemplar import config
from exemplar.analysis import provenance, stages


def download_markdown(directory: Path | None = None, relative_to: Path | None = None) -> str:
    """A MyST Markdown table with a ``{download}`` link to every results CSV and its provenance JSON.

    Parameters
    ----------
    directory : Path, optional
        The results folder (default :func:`config.results_dir`).
    relative_to : Path, optional
        The folder of the page that shows the links (default ``book/_run``): the links are
        relative to it, and Sphinx copies the files into the site.

    Returns
    -------
    str
        Render it with ``IPython.display.Markdown`` in a cell whose metadata sets
        ``mystnb.markdown_format: myst``, so that the ``{download}`` role is parsed.
    """
    directory = Path(directory) if directory is not None else config.results_dir()
    relative_to = Path(relative_to) if relative_to is not None else config.RUN_DIR
    lines = ["| results | rows | written (UTC) | what | download |", "|---|---|---|---|---|"]
    for csv_path in sorted(directory.glob("*.csv")):
        rel = Path(os.path.relpath(csv_path, relative_to)).as_posix()
        json_path = csv_path.with_suffix(".json")
        prov = json.loads(json_path.read_text()) if json_path.is_file() else {}
        n_rows = max(sum(1 for _ in csv_path.open(encoding="utf-8")) - 1, 0)
        links = f"{{download}}`{csv_path.name} <{rel}>`"
        if json_path.is_file():
            links += f", {{download}}`{json_path.name} <{Path(os.path.relpath(json_path, relative_to)).as_posix()}>`"
        lines.append(f"| `{csv_path.stem}` | {n_rows} | {prov.get('created', '–')} | "
                     f"{prov.get('experiment', '–')} | {links} |")
    if len(lines) == 2:
        raise FileNotFoundError(f"no results CSV in {directory}: run `exemplar run` first")
    return "\n".join(lines)



def provenance_records(directory: Path | None = None) -> dict[str, dict]:
    """Every results file's provenance (``NAME.json`` beside ``NAME.csv``), by name, in name order."""
    directory = Path(directory) if directory is not None else config.results_dir()
    out = {}
    for json_path in sorted(directory.glob("*.json")):
        if json_path.with_suffix(".csv").is_file():
            out[json_path.stem] = json.loads(json_path.read_text())
    if not out:
        raise FileNotFoundError(f"no results with provenance in {directory}: run `exemplar run` first")
    return out


def _blas_text(blas: list[Mapping[str, Any]] | None) -> str:
    if not blas:
        return "–"
    parts = []
    for lib in blas:
        name = lib.get("internal_api") or lib.get("user_api")
        version = f" {lib['version']}" if lib.get("version") else ""
        kernel = f"{lib['architecture']} kernel, " if lib.get("architecture") else ""
        layer = f", {lib['threading_layer']}" if lib.get("threading_layer") else ""
        parts.append(f"{name}{version} ({kernel}{lib.get('num_threads')} threads{layer})")
    return "; ".join(sorted(set(parts)))


def blas_kernel(prov: Mapping[str, Any]) -> str:
    """The BLAS a results file's numbers were computed with: threadpoolctl's ``internal_api``, ``version`` and
    ``architecture`` (the kernel it chose for this CPU) of each BLAS library recorded in ``prov["blas"]``.

    Returns
    -------
    str
        ``"openblas 0.3.30 (SkylakeX kernel)"`` (several libraries joined by ``" and "``), ``"kernel not
        recorded"`` in place of the kernel where the record has no ``architecture`` (older records), ``"not
        recorded"`` without any BLAS record.
    """
    libs = [lib for lib in prov.get("blas") or [] if lib.get("user_api") == "blas"]
    if not libs:
        return "not recorded"
    texts = []
    for lib in libs:
        version = f" {lib['version']}" if lib.get("version") else ""
        kernel = f"{lib['architecture']} kernel" if lib.get("architecture") else "kernel not recorded"
        texts.append(f"{lib.get('internal_api') or 'BLAS'}{version} ({kernel})")
    return " and ".join(sorted(set(texts)))


def machine_of(prov: Mapping[str, Any]) -> str:
    """The CPU model and BLAS kernel of a results file, in words: "AMD EPYC with openblas 0.3.30 (Zen kernel)"."""
    cpu = (prov.get("machine") or {}).get("cpu_model") or "a CPU not recorded"
    blas = blas_kernel(prov)
    return f"{cpu} with " + ("a BLAS not recorded" if blas == "not recorded" else blas)


def machine_sentence(records: Mapping[str, Mapping[str, Any]]) -> str:
    """Which CPU model and BLAS kernel (:func:`machine_of`) produced each results file, for the figures' page.

    Parameters
    ----------
    records : dict
        Name (or a label such as ``"sweep"``) -> provenance.

    Returns
    -------
    str
        One machine: "Every results file here was computed on one CPU and BLAS: ...". Several: which files
        each produced, and that times, speedups and the sweep's optimum compare only within one machine.
    """
    groups: dict[str, list[str]] = {}
    for name, prov in records.items():
        groups.setdefault(machine_of(prov), []).append(f"`{name}`")
    if len(groups) == 1:
        (machine, names), = groups.items()
        which = "The results here were" if len(names) > 1 else f"{names[0]} was"
        return f"{which} computed on one CPU and BLAS: {machine}."
    return (f"The results here come from {len(groups)} CPU and BLAS set-ups: "
            + "; ".join(f"{', '.join(names)} on {machine}" for machine, names in groups.items())
            + ". Times, speedups and the sweep's optimum depend on them, so they compare only within one set-up; "
              "accuracies do not.")


def machine_table(records: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Machine, OS, Python, BLAS, MPI and commit of each results file: one row per field, one column per file."""
    fields = {
        "CPU model": lambda p: p.get("machine", {}).get("cpu_model"),
        "BLAS kernel": blas_kernel,
        "logical cores": lambda p: p.get("machine", {}).get("logical_cores"),
        "usable cores": lambda p: p.get("machine", {}).get("usable_cores"),
        "memory (GiB)": lambda p: p.get("machine", {}).get("memory_gib"),
        "OS": lambda p: p.get("machine", {}).get("os"),
        "host": lambda p: p.get("machine", {}).get("hostname"),
        "Python": lambda p: p.get("python"),
        "BLAS / OpenMP (threads)": lambda p: _blas_text(p.get("blas")),
        "MPI": lambda p: p.get("mpi"),
        "git commit": lambda p: p.get("git_commit"),
        "load average, 1 min (start / end)": load_text,
        "written (UTC)": lambda p: p.get("created"),
    }
    data = {name: [str(f(prov)) if f(prov) is not None else "–" for f in fields.values()]
            for name, prov in records.items()}
    return pd.DataFrame(data, index=pd.Index(list(fields), name="")).reset_index()


def package_table(records: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Package versions recorded with each results file: one row per package, one column per file."""
    names = list(dict.fromkeys(n for prov in records.values() for n in prov.get("packages", {})))
    data = {name: [prov.get("packages", {}).get(n) or "–" for n in names] for name, prov in records.items()}
    return pd.DataFrame(data, index=pd.Index(names, name="package")).reset_index()


def parameters_table(records: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The parameters each results file was produced with (one row per file)."""
    rows = []
    for name, prov in records.items():
        params = prov.get("parameters", {})
        rows.append({"results": name, "experiment": prov.get("experiment", "–"),
                     "parameters": ", ".join(f"{k} = {v}" for k, v in params.items()),
                     "inputs": prov.get("inputs", "–"), "test images": prov.get("n_test", "–")})
    return pd.DataFrame(rows)


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The parameters an executed notebook ran with: its defaults, overridden by what papermill injected."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    defaults: dict[str, Any] = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            defaults = _literal_assignments(cell.source)
            break
    injected = nb.metadata.get("papermill", {}).get("parameters", {}) or {}
    return {**defaults, **injected}


def _literal_assignments(source: str) -> dict[str, Any]:
    import ast

    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                out[node.targets[0].id] = ast.unparse(node.value)
    return out


def execution_table(run_dir: Path | None = None, stems: Iterable[str] | None = None,
                    current: str | None = None) -> pd.DataFrame:
    """How each notebook of the report was executed, from papermill's record in ``book/_run/STEM.ipynb``.

    Parameters
    ----------
    run_dir : Path, optional
        Folder of executed notebooks (default ``book/_run``).
    stems : iterable of str, optional
        The notebooks, in order (default: the report's, :data:`exemplar.analysis.stages.PLAN`).
    current : str, optional
        The notebook that is running now (this status page): its own time is not known yet.

    Returns
    -------
    DataFrame
        One row per notebook: started (UTC), duration (s), the parameters it ran with (defaults
        overridden by injected ones; "injected" lists the latter), and the slowest cell.
    """
    run_dir = Path(run_dir) if run_dir is not None else config.RUN_DIR
    stems = list(stems) if stems is not None else list(stages.PLAN)
    rows = []
    for stem in stems:
        path = run_dir / f"{stem}.ipynb"
        if stem == current:
            rows.append({"notebook": stem, "started (UTC)": "running now (this page)", "duration (s)": np.nan,
                         "parameters": "", "injected": "", "slowest cell (s)": np.nan})
            continue
        if not path.is_file():
            rows.append({"notebook": stem, "started (UTC)": "not run", "duration (s)": np.nan, "parameters": "",
                         "injected": "", "slowest cell (s)": np.nan})
            continue
        import nbformat

        nb = nbformat.read(path, as_version=4)
        pm = nb.metadata.get("papermill", {})
        cell_times = [c.metadata.get("papermill", {}).get("duration") for c in nb.cells]
        cell_times = [t for t in cell_times if t is not None]
        params = notebook_parameters(path)
        rows.append({"notebook": stem, "started (UTC)": str(pm.get("start_time", "–"))[:19].replace("T", " "),
                     "duration (s)": pm.get("duration", np.nan),
                     "parameters": ", ".join(f"{k} = {v!r}" for k, v in params.items()),
                     "injected": ", ".join(f"{k} = {v!r}" for k, v in (pm.get("parameters") or {}).items()) or "none",
                     "slowest cell (s)": max(cell_times) if cell_times else np.nan})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# How busy the machine was (the provenance's load averages)
# ---------------------------------------------------------------------------------------------

def load_record(prov: Mapping[str, Any]) -> tuple[float | None, float | None, int]:
    """The 1-minute load averages at a chapter's start and end, and the usable cores, from its provenance.

    Returns
    -------
    (start, end, cores)
        ``start`` and ``end`` are ``None`` where not recorded (results older than the record, or an
        OS without a load average); ``cores`` is :func:`exemplar.analysis.provenance.cores`.
    """
    load = prov.get("load") or {}
    cores = provenance.cores(prov)

    def one_minute(x):
        return float(x[0]) if isinstance(x, (list, tuple)) and x else None

    return one_minute(load.get("start")), one_minute(load.get("end")), cores


def busier_than_cores(prov: Mapping[str, Any], own: int = 0) -> bool | None:
    """Whether the machine was busier than its cores while a chapter ran: its 1-minute load average
    above the usable cores at the start, or above the cores plus the chapter's ``own`` busy processes
    (e.g. its engines) at the end. ``None`` when no load was recorded."""
    start, end, cores = load_record(prov)
    if start is None and end is None:
        return None
    return bool((start is not None and start > cores) or (end is not None and end > cores + own))


def _loads_text(start, end, cores: int, own: int) -> str:
    parts = []
    if start is not None:
        parts.append(f"{start:.1f} at the start")
    if end is not None:
        parts.append(f"{end:.1f} at the end")
    own_text = f", the end counting its own {own} busy processes" if own and end is not None else ""
    return f"load average {' and '.join(parts)} on {cores} usable cores{own_text}"


#: What the chapters' verdicts rest on, said after a busy machine's warning (:func:`load_sentence`).
CPU_VERDICTS = "The verdicts use CPU times, which such load barely moves; the wall times are shown beside them."
#: The same for the communication chapter, timed to a target on the clock and on its probes.
TO_TARGET_VERDICTS = ("The measured speedups compare on-clock training times, which such load inflates for the "
                      "parallel and the sequential runs alike; the estimates rest on one step and one exchange "
                      "timed while the run's other engines sleep.")


def load_sentence(prov: Mapping[str, Any], own: int = 0, verdicts: str = CPU_VERDICTS) -> str:
    """One plain sentence on how busy the machine was while a chapter's numbers were produced.

    Parameters
    ----------
    prov : dict
        The chapter's provenance (:func:`exemplar.results.provenance`; ``load.start`` and ``load.end``).
    own : int
        Busy processes the chapter itself ran (its engines, 0 for fits in the kernel): the end load
        may exceed the cores by that many before the machine counts as busy.
    verdicts : str
        What the chapter's verdicts rest on, said after the warning of a busy machine
        (:data:`CPU_VERDICTS`, or :data:`TO_TARGET_VERDICTS` for the communication chapter).

    A record with ``load.start`` but no ``load.end`` (the one in memory right after a run, before
    :func:`exemplar.results.write_results` added it) is completed with the load average now.

    Returns
    -------
    str
        Markdown: a bold warning when the machine was busier than its cores, a plain statement when
        not, and a note when no load was recorded.
    """
    return reuse_sentence(prov) + _load_only(prov, own, verdicts)


def precision_sentence(dtype: str | None, what: str = "The networks") -> str:
    """Which precision a chapter trained in (chapters 04, 04b and 05 say it; float64 where not recorded)."""
    dtype = dtype or "float64"
    how = ("single precision: pixels, weights and MPI buffers; about twice as fast as float64, and the "
           "performance chapter measures what it costs in accuracy" if dtype == "float32" else
           "double precision, as scikit-learn")
    return f"{what} train in **{dtype}** ({how})."


def reuse_sentence(prov: Mapping[str, Any]) -> str:
    """What of a chapter's rows the training store gave (:mod:`exemplar.store`), said before its load: "" when
    nothing was reused."""
    n = int(prov.get("reused_rows") or 0)
    if not n:
        return ""
    runs = sorted({str(r).split("@", 1)[-1] for r in prov.get("reused_from") or []})
    when = ", ".join(runs) if runs else "an earlier run"
    return (f"**{n} of these trainings were reused from the training store**, not run again: the run of {when} "
            "trained them with the same parameters, code, data and machine, and their times are that run's. "
            "`make book FRESH=1` trains everything again. ")


def _load_only(prov: Mapping[str, Any], own: int, verdicts: str) -> str:
    load = prov.get("load") or {}
    if load.get("start") is not None and load.get("end") is None:
        from exemplar import results

        prov = results.with_end_load(prov)  # the record in memory right after a run: its end is now
    start, end, cores = load_record(prov)
    busy = busier_than_cores(prov, own)
    if busy is None:
        return ("The load of the machine was not recorded with these results (they predate the record), "
                "so whether other work shared its cores is not known.")
    loads = _loads_text(start, end, cores, own)
    if busy:
        return (f"**The machine was busier than its cores while these numbers were produced** ({loads}): "
                f"other work took turns on the cores, so wall times are inflated. {verdicts}")
    return f"The machine was not busier than its cores while these numbers were produced ({loads})."


def busy_sentence(records: Mapping[str, Mapping[str, Any]]) -> str:
    """For the status page: which results files were produced on a machine busier than its cores.

    Parameters
    ----------
    records : dict
        :func:`provenance_records` (name -> provenance). The end load may exceed the cores by the
        run's own engines (:func:`own_processes`).
    """
    busy, quiet, unknown = [], [], []
    for name, prov in records.items():
        flag = busier_than_cores(prov, own_processes(prov))
        (unknown if flag is None else busy if flag else quiet).append(f"`{name}`")
    out = []
    if busy:
        out.append(f"**The machine was busier than its cores while {', '.join(busy)} "
                   f"{'was' if len(busy) == 1 else 'were'} produced**: {'its' if len(busy) == 1 else 'their'} "
                   "wall times are inflated; "
                   "the verdicts use CPU times, which such load barely moves.")
    if quiet:
        out.append(f"No more work than cores while {', '.join(quiet)} {'was' if len(quiet) == 1 else 'were'} "
                   "produced.")
    if unknown:
        out.append(f"No load recorded for {', '.join(unknown)} (results older than the record).")
    return " ".join(out)


def load_text(prov: Mapping[str, Any]) -> str:
    """``"0.52 / 3.10"``: the 1-minute load averages at the start and end (``–`` where not recorded)."""
    start, end, _ = load_record(prov)
    return " / ".join("–" if x is None else f"{x:.2f}" for x in (start, end))


def own_processes(prov: Mapping[str, Any]) -> int:
    """The busy processes a run started itself: its largest engine count (``engines`` or ``engine_counts``)."""
    params = prov.get("parameters") or {}
    counts = params.get("engine_counts") or [params.get("engines") or 0]
    return int(max(counts))


def timing_note_markdown(bases: Mapping[str, str], provs: Mapping[str, Mapping[str, Any]]) -> str:
    """Which time each results file's verdicts are judged from, and why, and how busy the machine was.

    Parameters
    ----------
    bases : dict
        Label (e.g. ``"sweep"``) -> ``"cpu"`` or ``"wall"``, the time its figures come from.
    provs : dict
        Label -> its provenance (:func:`load_sentence` of each, its own engines counted).
    """
    cpu = [label for label, basis in bases.items() if basis == "cpu"]
    wall = [label for label, basis in bases.items() if basis != "cpu"]
    text = []
    if cpu:
        text.append(f"Times of the {' and the '.join(cpu)} are judged from CPU time (the seconds the fits' own "
                    "threads computed: for parallel runs, the slowest engine's), which other work on the machine "
                    "barely moves, so a rerun on a busy machine reaches the same verdicts; the measured wall times "
                    "stand beside them in the tables as \"ours, wall\".")
    if wall:
        text.append(f"The {' and the '.join(wall)} record no CPU time (results older than that record), so "
                    f"{'their' if len(wall) > 1 else 'its'} times are judged from wall time, which grows when "
                    "other work shares the cores.")
    text += [f"{label.capitalize()}: {load_sentence(prov, own_processes(prov))}" for label, prov in provs.items()]
    return " ".join(text)


# ---------------------------------------------------------------------------------------------
# The status page's sentences
# ---------------------------------------------------------------------------------------------

def results_sentence(folder, names: Iterable[str]) -> str:
    """"Results read from `FOLDER`: `a`, `b`." (``folder`` ``None``: :func:`exemplar.config.results_dir`)."""
    return (f"Results read from `{config.display_path(folder or config.results_dir())}`: "
            + ", ".join(f"`{name}`" for name in names) + ".")


def execution_sentence(runs: pd.DataFrame) -> str:
    """"Total execution time: **T s** over N notebooks." from :func:`execution_table`."""
    return (f"Total execution time: **{runs['duration (s)'].sum():.1f} s** over "
            f"{int(runs['duration (s)'].notna().sum())} notebooks.")
