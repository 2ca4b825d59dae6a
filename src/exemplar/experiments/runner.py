"""Running a chapter: one protocol, and a loop whose rows are saved as they finish, resumable, retried.

**The chapter protocol.** Every chapter that runs experiments (``exemplar.experiments.<chapter>``)
offers the same seams, and :func:`run_chapter` drives them all::

    SPEC                                 its parameters (exemplar.experiments.params.ParamSpec)
    RESULTS_NAME, KEY_COLUMNS            results/RESULTS_NAME.csv and the columns naming a configuration
    EXPERIMENT                           what it measures, for the provenance
    parameters(namespace) -> p           the checked parameters (a notebook's globals())
    load(p) -> Inputs                    the data its runs need, and what the provenance records of them
    configs(p) -> list of dict           every configuration, in the order they run
    run_one(p, inputs, cluster, config)  one configuration's measured row
    summarize(rows) -> DataFrame         the chapter's summary of its rows

and, where a chapter needs them, ``cluster_size(p, config)`` (the engines a configuration runs on;
default: its ``n_engines``; ``None`` runs it in this process), ``start_cluster(p, n)`` (default:
:func:`exemplar.parallel.cluster.start_cluster` with ``p.launcher``), ``recorded(p)`` (the
parameters the provenance records; default: every parameter of ``SPEC``), ``finish(rows)`` (the
rows as written at the end, e.g. in column order) and ``run_group(p, inputs, cluster, configs,
done)`` (a whole group of configurations at once, yielding rows as they finish: the sweep's fits
share work) and ``companions(rows, previous)`` (further results files written beside the chapter's, with
its provenance, e.g. the communication chapter's per-checkpoint curves; ``previous(name)`` reads the one
already there, or ``None``). :data:`PROTOCOL` names the required seams; :func:`check_protocol` holds a
module to them.

**The loop.** Every experiment notebook runs the same loop: for each configuration (engine count, repeat,
strategy, ...), run it, and append a row to ``results/NAME.csv``. This module owns that loop so
that each notebook gets the same guarantees:

* **No half-written files.** After every finished configuration the whole CSV is rewritten to a
  temporary file and renamed into place (:func:`exemplar.results.write_results`), so a run killed
  at any moment leaves a parseable file holding every row finished so far. A failed
  configuration writes no row.
* **Resume.** Each row carries ``provenance_id``, a short hash of what produced it (the
  parameters, the package versions, the Python version, the CPU model and core count; not the
  time or the commit). With ``resume=True`` the rows already in the file with the same
  ``provenance_id`` are kept and their configurations skipped; rows of another provenance are
  dropped, and the log says how many.
* **One cluster per engine count, restarted on failure.** Consecutive configurations with the
  same ``n_engines`` share one cluster. If a configuration fails because an engine died (an MPI
  rank that dies takes the whole MPI job with it), the cluster is stopped and, with
  ``retries=N``, started afresh and the configuration rerun, up to N times.
* **One run per results file.** A run holds ``NAME.lock`` (:mod:`exemplar.locks`) while it writes
  ``NAME.csv``; a second run into the same file is refused at its start, naming the first, so
  neither loses the other's rows.
* **Write errors are write errors.** A row joins the log only once it is on disk; a failed write
  raises :class:`ResultsWriteError` naming the file and the system's reason, and is not retried.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

import pandas as pd

from exemplar import config, locks, results
from exemplar.store import plain
from exemplar.validation import check_positive_int

#: What every run chapter module offers (:func:`check_protocol`).
PROTOCOL = ("SPEC", "RESULTS_NAME", "KEY_COLUMNS", "EXPERIMENT", "parameters", "load", "configs", "run_one",
            "summarize")
#: What a run chapter module may offer besides (:func:`run_chapter` has a default for each).
OPTIONAL = ("cluster_size", "start_cluster", "recorded", "finish", "run_group", "companions")

#: Provenance fields that identify what produced a row (time, host name and commit are left out:
#: a rerun tomorrow, or after a commit that touches only prose, may resume).
_FINGERPRINT_KEYS = ("parameters", "packages", "python")
_FINGERPRINT_MACHINE = ("cpu_model", "logical_cores", "usable_cores")
#: What a run that resumed every row keeps of the earlier run's provenance (its own go to ``resumed_at``).
RESUME_KEPT = ("created", "git_commit", "load")
#: Parameters that steer the loop, not the numbers; they do not enter the fingerprint.
LOOP_PARAMETERS = ("resume", "retries")


class ExperimentError(RuntimeError):
    """A configuration failed (after its retries). Rows finished before it are saved."""


class ResultsWriteError(OSError):
    """The results file could not be written. The message names the file and the system's reason."""


#: Another run is writing the same results file (the message names the lock and its holder).
ResultsBusyError = locks.BusyError


def provenance_id(prov: Mapping[str, Any]) -> str:
    """A 12-character hash of the parts of ``prov`` that determine the numbers."""
    params = {k: v for k, v in dict(prov.get("parameters", {})).items() if k not in LOOP_PARAMETERS}
    key = {k: prov.get(k) for k in _FINGERPRINT_KEYS}
    key["parameters"] = params
    key["machine"] = {k: prov.get("machine", {}).get(k) for k in _FINGERPRINT_MACHINE}
    blob = json.dumps(key, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


class ResultsLog:
    """``results/NAME.csv`` grown one row at a time, atomically, with resume.

    Parameters
    ----------
    name : str
        Results name (``NAME.csv`` and ``NAME.json`` in the results folder).
    prov : dict
        The run's provenance (:func:`exemplar.results.provenance`).
    key_columns : sequence of str
        Columns that identify a configuration (e.g. ``n_engines, repeat, strategy``).
    resume : bool
        Keep the rows of an earlier run with the same provenance and skip their configurations.
    log : callable
        Where to say what was kept or dropped.
    """

    def __init__(self, name: str, prov: Mapping[str, Any], key_columns: Sequence[str], resume: bool = False,
                 directory=None, log: Callable[[str], None] = print):
        self.name = name
        self.prov = dict(prov)
        self.directory = directory
        self.key_columns = list(key_columns)
        self.provenance_id = provenance_id(prov)
        self.rows: list[dict[str, Any]] = []
        self.skipped = 0
        #: the run time the earlier run recorded, where its rows were kept (0 otherwise), and its provenance
        self.earlier_seconds = 0.0
        self.earlier_prov: dict = {}
        #: rows known to be in the file on disk (those of the last successful write, or resumed)
        self.saved = 0
        if resume:
            self._load_previous(log)
            self.saved = len(self.rows)

    def _load_previous(self, log) -> None:
        try:
            old, old_prov = results.read_results(self.name, self.directory)
        except FileNotFoundError:
            log(f"resume: no earlier {self.name}.csv; starting afresh")
            return
        if "provenance_id" not in old.columns:
            log(f"resume: {self.name}.csv has no provenance_id column; its {len(old)} rows are dropped")
            return
        same = old[old["provenance_id"] == self.provenance_id]
        dropped = len(old) - len(same)
        self.rows = same.to_dict("records")
        if len(same):
            self.earlier_seconds = float(old_prov.get("run_seconds") or 0.0)
            self.earlier_prov = dict(old_prov)
        log(f"resume: kept {len(same)} rows of {self.name}.csv with the same parameters and provenance"
            + (f"; dropped {dropped} of another provenance" if dropped else ""))

    def key(self, config: Mapping[str, Any]) -> tuple:
        missing = [c for c in self.key_columns if c not in config]
        if missing:
            raise KeyError(f"configuration lacks key column(s) {missing}: {dict(config)}")
        return tuple(plain(config[c]) for c in self.key_columns)

    def done(self, config: Mapping[str, Any]) -> bool:
        """Whether a row for ``config`` is already saved."""
        k = self.key(config)
        return any(self.key(r) == k for r in self.rows)

    @property
    def path(self) -> Path:
        """The CSV file this log writes."""
        return Path(self.directory if self.directory is not None else config.results_dir()) / f"{self.name}.csv"

    def append(self, row: Mapping[str, Any]) -> None:
        """Add one finished row and rewrite the CSV and its provenance atomically.

        The row joins :attr:`rows` only once it is on disk: after a failed write (a
        :class:`ResultsWriteError`) the log is as it was, so a retry cannot add the row twice.
        """
        rows = [*self.rows, {**row, "provenance_id": self.provenance_id}]
        self._write(rows)
        self.rows = rows
        self.saved = len(rows)

    def extend(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add several finished rows (e.g. reused from the training store) with one write, as :meth:`append`."""
        new = [*self.rows, *({**row, "provenance_id": self.provenance_id} for row in rows)]
        if len(new) == len(self.rows):
            return
        self._write(new)
        self.rows = new
        self.saved = len(new)

    def save(self) -> None:
        """Rewrite the CSV and its provenance from :attr:`rows`."""
        self._write(self.rows)
        self.saved = len(self.rows)

    def _write(self, rows) -> None:
        try:
            results.write_results(self.name, pd.DataFrame(rows), self.prov, self.directory)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ResultsWriteError(
                exc.errno, f"could not write the results file {self.path} ({reason}); it still holds the "
                f"{self.saved} rows saved before this one. Free space or fix the folder's permissions (or set "
                "EXEMPLAR_RESULTS to another folder), then rerun with resume=True") from exc

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def locked(self):
        """Hold the lock of this log's CSV for a run, or raise :class:`ResultsBusyError` naming its holder.

        Two runs that write the same results file at once would each rewrite it from their own rows,
        and one run's rows would be lost; so the second is refused at its start.
        """
        return locks.exclusive(self.path, advice="Wait for it to finish, or set EXEMPLAR_RESULTS to another "
                                                 "folder for this run")


def run_configs(configs: Iterable[Mapping[str, Any]], run_one: Callable[[Any, Mapping[str, Any]], Mapping[str, Any]],
                log_to: ResultsLog, *, start_cluster: Callable[[int], Any] | None = None,
                cluster_size: Callable[[Mapping[str, Any]], int | None] = lambda c: c.get("n_engines"),
                retries: int = 0,
                retry_on: tuple[type[BaseException], ...] = (Exception,), progress: bool = True,
                log: Callable[[str], None] = print, run_group: Callable | None = None,
                reuse: "Reuse | None" = None) -> pd.DataFrame:
    """Run each configuration and save its row; one cluster per run of equal ``n_engines``.

    Parameters
    ----------
    configs : iterable of dict
        Each holds at least the key columns of ``log_to``.
    run_one : callable
        ``run_one(cluster_or_None, config) -> dict``: the measured row (config fields are added).
    log_to : ResultsLog
        Where rows go; configurations it already holds are skipped.
    start_cluster : callable, optional
        ``start_cluster(n)`` → a context manager yielding a cluster (default:
        :func:`exemplar.parallel.cluster.start_cluster` with its defaults).
    cluster_size : callable
        The engine count a configuration runs on (default: its ``n_engines``); ``None`` runs it
        in this process, without a cluster.
    retries : int
        How many times a failing configuration is retried on a fresh cluster.
    retry_on : tuple of exception types
        Failures worth a retry (by default any ``Exception``; ``KeyboardInterrupt`` never is).
    run_group : callable, optional
        ``run_group(cluster_or_None, configs, done_rows) -> iterable of rows``: runs a whole group of
        configurations sharing a cluster at once, yielding each row (config fields included) as it
        finishes, in any order; ``done_rows`` is the log's frame (rows of a resumed run included).
        Instead of ``run_one``, for chapters whose configurations share work.
    reuse : Reuse, optional
        The training store: a configuration stored there is not run, its stored row is taken (with
        ``reused_from``); every row run is stored.

    Returns
    -------
    pandas.DataFrame
        All rows of ``log_to``, earlier (resumed) ones included.

    Raises
    ------
    ExperimentError
        When a configuration still fails after ``retries`` retries; rows finished earlier are saved.
    """
    from tqdm import tqdm

    check_positive_int("retries", retries, minimum=0)
    if start_cluster is None:
        from exemplar.parallel.cluster import start_cluster
    todo = [dict(c) for c in configs]
    pending = [c for c in todo if not log_to.done(c)]
    log_to.skipped = len(todo) - len(pending)
    if log_to.skipped:
        log(f"resume: skipping {log_to.skipped} of {len(todo)} configurations already in {log_to.name}.csv")
    if reuse is not None:
        pending = reuse.take(pending, log_to, log)
    bar = tqdm(total=len(pending), desc=log_to.name, unit="run", disable=not progress, file=sys.stderr,
               mininterval=2.0)
    i = 0
    with log_to.locked(), bar:
        while i < len(pending):
            n = cluster_size(pending[i])
            group_end = i
            while group_end < len(pending) and cluster_size(pending[group_end]) == n:
                group_end += 1
            group = pending[i:group_end]
            _run_group(group, n, run_one, log_to, start_cluster, retries, retry_on, bar, log, run_group, reuse)
            i = group_end
    return log_to.frame()


def _run_group(group, n, run_one, log_to, start_cluster, retries, retry_on, bar, log, run_group=None,
               reuse=None) -> None:
    """Run configurations sharing one engine count, restarting the cluster after a failure."""
    attempt = 0
    while True:
        remaining = [c for c in group if not log_to.done(c)]
        if not remaining:
            return
        try:
            with (_null_cluster() if n is None else start_cluster(int(n))) as cl:
                if run_group is None:
                    for config in remaining:
                        row = {**config, **dict(run_one(cl, config))}
                        log_to.append(row)  # a ResultsWriteError is not retried
                        bar.update(1)
                        attempt = 0
                        if reuse is not None:
                            reuse.put(row, log)
                else:
                    for row in run_group(cl, remaining, log_to.frame()):
                        log_to.append(dict(row))
                        bar.update(1)
                        attempt = 0
                        if reuse is not None:
                            reuse.put(dict(row), log)
            return
        except ResultsWriteError:
            raise
        except retry_on as exc:
            attempt += 1
            first = next(c for c in group if not log_to.done(c))
            where = {k: first[k] for k in log_to.key_columns}
            if attempt > retries:
                raise ExperimentError(
                    f"configuration {where} failed{f' after {retries} retries' if retries else ''}: {exc}. "
                    f"The {log_to.saved} rows finished before it are saved in {log_to.path}; "
                    "rerun with resume=True to continue from there"
                    + ("" if retries else ", or with retries=N to restart the cluster and try again")) from exc
            log(f"configuration {where} failed ({type(exc).__name__}: {exc}); "
                f"restarting the cluster, retry {attempt} of {retries}")


class Reuse:
    """A chapter's view of the training store (:mod:`exemplar.store`): the identity of each configuration
    (its key columns, plus what is the same for all of them: ``fingerprint`` (:func:`provenance_id`), the
    data's digests and the inputs' provenance), its stored row, and storing a row just run."""

    def __init__(self, store, what: str, key_columns: Sequence[str], fingerprint: str, trained_by: Mapping[str, Any],
                 data: Mapping[str, str] | None = None, inputs: Mapping[str, Any] | None = None):
        from exemplar import store as store_module

        self.store, self.what, self.key_columns = store, what, list(key_columns)
        self.trained_by, self.code = dict(trained_by), store_module.code_version()
        self.data, self.inputs, self.fingerprint = dict(data or {}), dict(inputs or {}), fingerprint
        self.reused: list[str] = []

    def identity(self, c: Mapping[str, Any]) -> dict:
        from exemplar import store as store_module

        return store_module.identity(self.what, {k: c[k] for k in self.key_columns}, self.fingerprint,
                                     code=self.code, data=self.data, inputs=self.inputs)

    def take(self, pending: list[dict], log_to: ResultsLog, log) -> list[dict]:
        """The configurations of ``pending`` not in the store; the stored ones' rows go to ``log_to`` at once."""
        from exemplar.store import REUSED_COLUMN

        found, rest = [], []
        for c in pending:
            entry = self.store.get(self.identity(c))
            if entry is None:
                rest.append(c)
            else:
                found.append({**entry["row"], REUSED_COLUMN: entry.reused_from})
                self.reused.append(entry.reused_from)
        if found:
            log_to.extend(found)
            runs = sorted(set(self.reused))
            log(f"training store: reused {len(found)} of {len(pending)} configurations of {log_to.name}.csv "
                f"(trained by {', '.join(runs)}; their timings are that run's); {len(rest)} to train")
        return rest

    def put(self, row: Mapping[str, Any], log) -> None:
        """Store a row just run (a store that cannot be written is only said: the row is in the results)."""
        from exemplar.store import REUSED_COLUMN

        row = {k: v for k, v in row.items() if k not in ("provenance_id", REUSED_COLUMN)}
        try:
            self.store.put(self.identity(row), row, self.trained_by)
        except OSError as exc:
            log(f"training store: could not store a row of {self.what} ({exc.strerror or exc}); it will be "
                "trained again next time")


class _null_cluster:
    """A stand-in context manager for configurations that need no cluster."""

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------------------------------------
# The chapter protocol
# ---------------------------------------------------------------------------------------------

class Inputs(dict):
    """What a chapter's ``load(p)`` returns: the data its runs need (by name, as a dict), and in
    :attr:`provenance` what the results' provenance records of them (``inputs``, ``n_test``, ...)."""

    def __init__(self, data: Mapping[str, Any] | None = None, **provenance):
        super().__init__(data or {})
        self.provenance = dict(provenance)

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class ChapterRun(NamedTuple):
    """What :func:`run_chapter` returns: every row of the results file, its provenance, and where it is.

    ``prov`` holds ``run_seconds`` (the time spent producing the rows: this run's, plus, where it resumed
    an earlier run's rows, the time that run recorded), ``resumed_rows`` and the machine's load at the
    start and the end.
    """

    rows: pd.DataFrame
    prov: dict
    path: Path

    @property
    def cores(self) -> int:
        """Usable cores of the machine that ran it (:func:`exemplar.analysis.provenance.cores`)."""
        from exemplar.analysis.provenance import cores

        return cores(self.prov)


def check_protocol(module) -> None:
    """Raise ``TypeError`` naming what ``module`` lacks of :data:`PROTOCOL`, or what is not callable."""
    missing = [name for name in PROTOCOL if not hasattr(module, name)]
    if missing:
        raise TypeError(f"{module.__name__} is not a run chapter: it lacks {', '.join(missing)} "
                        f"(the protocol: {', '.join(PROTOCOL)})")
    wrong = [name for name in (*PROTOCOL[4:], *OPTIONAL) if hasattr(module, name)
             and not callable(getattr(module, name))]
    if wrong:
        raise TypeError(f"{module.__name__}: {', '.join(wrong)} must be functions")


def recorded(module, p) -> dict[str, Any]:
    """The parameters a chapter's provenance records: its own ``recorded(p)``, else every ``SPEC`` name."""
    if hasattr(module, "recorded"):
        return dict(module.recorded(p))
    return {name: getattr(p, name) for name in module.SPEC.names}


def run_chapter(module, p, *, inputs: Inputs | None = None, directory=None, start_cluster: Callable | None = None,
                progress: bool = True, log: Callable[[str], None] = print, store="auto") -> ChapterRun:
    """Run a chapter: load → provenance → results log → every configuration → the rows written with provenance.

    Parameters
    ----------
    module : module
        A run chapter (:data:`PROTOCOL`).
    p : Parameters
        From ``module.parameters``.
    inputs : Inputs, optional
        Stand-in for ``module.load(p)`` (tests give small data or stand-in trainers).
    directory : path, optional
        The results folder (default: :func:`exemplar.config.results_dir`).
    start_cluster : callable, optional
        ``start_cluster(n)`` → a context manager yielding a cluster (default: the module's
        ``start_cluster(p, n)``, else :func:`exemplar.parallel.cluster.start_cluster` with ``p.launcher``).
    progress : bool
        Show a progress bar.
    log : callable
        Where the loop says what it resumed or retried.
    store : TrainingStore, None or "auto"
        The training store (:mod:`exemplar.store`): configurations stored there are reused, not run, and
        every row run is stored. ``"auto"`` (default): the results folder's store when the chapter loads
        its own data (``inputs`` not given); ``None``: no store.

    Returns
    -------
    ChapterRun
        Every row of the results file (resumed ones included), its provenance and its path.

    Raises
    ------
    ExperimentError
        When a configuration still fails after ``p.retries`` retries; rows finished before it are saved.
    ResultsBusyError
        When another run is writing the same results file.
    """
    import time

    check_protocol(module)
    if store == "auto":
        from exemplar.store import STORE_DIRNAME, TrainingStore

        folder = Path(directory) if directory is not None else config.results_dir()
        store = TrainingStore(folder / STORE_DIRNAME, log=log) if inputs is None else None
    inputs = module.load(p) if inputs is None else inputs
    prov = results.provenance(recorded(module, p), experiment=module.EXPERIMENT,
                              **getattr(inputs, "provenance", {}))
    log_to = ResultsLog(module.RESULTS_NAME, prov, module.KEY_COLUMNS, resume=getattr(p, "resume", False),
                        directory=directory, log=log)
    if start_cluster is None:
        start_cluster = _default_start(module, p)
    reuse = None
    if store is not None:
        reuse = Reuse(store, module.RESULTS_NAME, module.KEY_COLUMNS, log_to.provenance_id,
                      {"provenance_id": log_to.provenance_id, "created": prov["created"],
                       "git_commit": prov["git_commit"]},
                      data=store.data_fingerprint(), inputs=getattr(inputs, "provenance", {}))
        prov["code_version"] = reuse.code
    t0 = time.perf_counter()
    configs = module.configs(p)
    rows = run_configs(configs, _run_one(module, p, inputs), log_to, start_cluster=start_cluster,
                       cluster_size=_cluster_size(module, p), retries=getattr(p, "retries", 0), progress=progress,
                       log=log, run_group=_run_group_of(module, p, inputs), reuse=reuse)
    rows = _in_order(rows, configs, log_to)
    # the time spent producing these rows: this run's, plus the earlier run's whose rows it kept
    prov["run_seconds"] = round(time.perf_counter() - t0 + (log_to.earlier_seconds if log_to.skipped else 0.0), 1)
    prov["resumed_rows"] = int(log_to.skipped)
    if reuse is not None:
        prov["reused_rows"] = len(reuse.reused)
        prov["reused_from"] = sorted(set(reuse.reused))
        prov["store"] = "fresh: nothing reused" if not store.reuse else str(store.directory)
    if log_to.skipped and log_to.skipped == len(rows) and log_to.earlier_prov:
        # nothing ran: the rows are the earlier run's, and so are when, at which commit and under what load
        prov["resumed_at"] = {k: prov.get(k) for k in RESUME_KEPT}
        prov.update({k: log_to.earlier_prov[k] for k in RESUME_KEPT if k in log_to.earlier_prov})
    prov = results.with_end_load(prov)
    extra = module.companions(rows, lambda name: _previous(name, directory)) if hasattr(module, "companions") else {}
    if hasattr(module, "finish"):
        rows = module.finish(rows)
    for name, frame in extra.items():
        results.write_results(name, frame, prov, directory)
    path = results.write_results(module.RESULTS_NAME, rows, prov, directory)
    return ChapterRun(rows, prov, Path(path))


def _in_order(rows: pd.DataFrame, configs, log_to: ResultsLog) -> pd.DataFrame:
    """``rows`` in the order of ``configs`` (rows reused from the store join the log before those run)."""
    order = {log_to.key(c): i for i, c in enumerate(configs)}
    if not len(rows) or not all(col in rows.columns for col in log_to.key_columns):
        return rows
    rank = [order.get(log_to.key(r), len(order)) for r in rows.to_dict("records")]
    return rows.iloc[sorted(range(len(rows)), key=rank.__getitem__)].reset_index(drop=True)


def _previous(name: str, directory) -> pd.DataFrame | None:
    """The results file ``name`` as it is on disk, or ``None`` where there is none."""
    try:
        return results.read_results(name, directory)[0]
    except FileNotFoundError:
        return None


def _default_start(module, p) -> Callable:
    if hasattr(module, "start_cluster"):
        return lambda n: module.start_cluster(p, n)

    def start(n):
        from exemplar.parallel.cluster import start_cluster

        return start_cluster(n, launcher=getattr(p, "launcher", "mpi"))

    return start


def _cluster_size(module, p) -> Callable:
    if hasattr(module, "cluster_size"):
        return lambda c: module.cluster_size(p, c)
    return lambda c: c.get("n_engines")


def _run_one(module, p, inputs) -> Callable:
    """The module's ``run_one``; a row run on a cluster also records the cluster's start-up time
    (``start_seconds``) and whether its engines outnumber this machine's cores (``oversubscribed``)."""
    cores = results.usable_cores()

    def run_one(cl, c):
        return _cluster_fields(dict(module.run_one(p, inputs, cl, c)), cl, c, cores)

    return run_one


def _cluster_fields(row: dict, cl, c: Mapping[str, Any], cores: int) -> dict:
    """``row`` with its cluster's start-up time and whether its engines outnumber ``cores`` (run on a cluster)."""
    if cl is not None:
        row.setdefault("start_seconds", getattr(cl, "start_seconds", float("nan")))
        row.setdefault("oversubscribed", int(getattr(cl, "n", c.get("n_engines", 1))) > cores)
    return row


def _run_group_of(module, p, inputs):
    if not hasattr(module, "run_group"):
        return None
    cores = results.usable_cores()
    return lambda cl, group, done: (_cluster_fields(dict(row), cl, row, cores)
                                    for row in module.run_group(p, inputs, cl, group, done))
