"""A chaos soak: chapters 03 and 04 run again and again at a small size, each faulted once, then resumed.

Each run is ``exemplar run STEM -p ... --output-dir DIR`` in a process of its own, with a private
``EXEMPLAR_RESULTS`` (every process of the run, the kernel and the cluster included, inherits it:
that is how the soak finds them, and how it finds what is left afterwards). At a random moment one
random member of the run gets one signal:

* members (:data:`TARGETS`): an engine, ``mpiexec`` or Hydra's proxy, the controller, the kernel, or
  papermill itself (the ``exemplar run`` process);
* signals (:data:`SIGNALS`): ``SIGKILL``, ``SIGTERM``, ``SIGSTOP`` (then ``SIGCONT`` 1-15 s later)
  and ``SIGINT``.

The run then ends one of three ways: it completes, it fails (a clean error within
:data:`ERROR_SECONDS` of the fault), or it hangs (still running :data:`ERROR_SECONDS` plus a
fault-free run's time after the fault; the soak then kills it). The soak counts the run's processes
still alive :data:`LEFT_GRACE_SECONDS` after it ended, reruns it with ``resume=True``, and holds
the resumed rows to a fault-free run of the same parameters: rows lost, rows duplicated, and whether
every accuracy is equal. One row per faulted run goes to ``results/bench/chaos.csv``;
:func:`exemplar.reporting.performance.chaos_table` sums it up per fault kind.

The goal over at least 100 faulted runs: no hang, no process left, no row lost or duplicated, and
every error one sentence that names what died. ``python -m exemplar.bench.chaos [--quick]`` (``make
bench``); ``--quick``: 2 faulted runs of chapter 03.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil

from exemplar.bench import common

#: The members a fault hits, and how each is recognised in its command line.
TARGETS = {
    "engine": ("ipyparallel.engine --mpi", "ipyparallel.engine"),
    "mpiexec/hydra": ("hydra_pmi_proxy", "bin/mpiexec"),
    "controller": ("ipyparallel.controller",),
    "kernel": ("ipykernel_launcher",),
    "papermill": (),  # the `exemplar run` process itself
}
SIGNALS = ("SIGKILL", "SIGTERM", "SIGSTOP", "SIGINT")

#: A failure must reach the user within this many seconds of the fault.
ERROR_SECONDS = 60.0
#: Seconds the run's processes get to end after the run did (the watchdog polls every 0.5 s, then 2 s of grace).
LEFT_GRACE_SECONDS = 15.0

#: The small runs: chapter → parameters (``exemplar run -p NAME VALUE``).
SMALL = {
    "03-exemplar-parallel": {"engine_counts": "[1, 2]", "repeats": "1", "n_train": "1000"},
    "04-communication": {"engine_counts": "[1, 2]", "repeats": "1", "n_train": "1000", "n_validation": "1000",
                         "variants": '["one-shot", "gradient-allreduce, global batch"]',
                         "hidden": "75", "epochs": "75"},
}
#: Each chapter's results file and the columns naming one row.
RESULTS = {"03-exemplar-parallel": ("exemplar", ["strategy", "n_engines", "repeat"]),
           "04-communication": ("communication", ["n_engines", "scale_inputs", "repeat", "variant"])}

#: What an error must mention to name the member that died (any of the words, lower case).
NAMES = {"engine": ("engine", "rank"), "mpiexec/hydra": ("mpiexec", "hydra", "engine", "rank"),
         "controller": ("controller",), "kernel": ("kernel",),
         "papermill": ("interrupted", "terminated", "killed", "signal")}


def params(quick: bool = False) -> dict:
    """The soak's size: ``runs`` faulted runs over ``stems``, at most ``minutes`` of wall time."""
    if quick:
        return {"runs": 2, "stems": ["03-exemplar-parallel"], "seed": 0, "minutes": 10.0}
    return {"runs": 100, "stems": list(SMALL), "seed": 0, "minutes": 240.0}


def command(stem: str, outdir: Path, resume: bool = False, extra: dict | None = None) -> list[str]:
    """The ``exemplar run`` command line of one small run of ``stem`` into ``outdir``."""
    cmd = [sys.executable, "-m", "exemplar.cli", "run", stem, "--output-dir", str(outdir / "nb")]
    for name, value in {**SMALL[stem], **(extra or {}), **({"resume": "true"} if resume else {})}.items():
        cmd += ["-p", name, value]
    return cmd


def members(results_dir: Path) -> list[psutil.Process]:
    """Every running process whose environment names ``results_dir`` as ``EXEMPLAR_RESULTS`` (zombies excluded)."""
    out = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.status() != psutil.STATUS_ZOMBIE \
                    and proc.environ().get("EXEMPLAR_RESULTS") == str(results_dir):
                out.append(proc)
        except (psutil.Error, OSError):
            continue
    return out


def find_target(target: str, runner: psutil.Popen | subprocess.Popen, results_dir: Path) -> psutil.Process | None:
    """One running member of kind ``target`` of the run (random among several), or None if there is none now."""
    if target == "papermill":
        return psutil.Process(runner.pid) if runner.poll() is None else None
    found = []
    for proc in members(results_dir):
        try:
            cmd, parent = " ".join(proc.cmdline()), proc.parent()
            parent_cmd = " ".join(parent.cmdline()) if parent is not None else ""
        except psutil.Error:
            continue
        if any(word in cmd for word in TARGETS[target]) and "nanny" not in cmd:
            if target == "controller" and "ipyparallel.controller" in parent_cmd:
                continue  # the controller's own children (schedulers); the controller is their parent
            found.append(proc)
    return random.choice(found) if found else None


def run_plain(stem: str, outdir: Path, resume: bool = False, timeout: float = 600.0,
              extra: dict | None = None) -> tuple[int, float, str]:
    """Run ``stem`` once without a fault (``extra``: parameters over :data:`SMALL`'s): (exit status, seconds,
    stderr's tail)."""
    env = {**os.environ, "EXEMPLAR_RESULTS": str(outdir / "results")}
    t0 = time.monotonic()
    proc = subprocess.run(command(stem, outdir, resume, extra), env=env, capture_output=True, text=True,
                          timeout=timeout)
    return proc.returncode, time.monotonic() - t0, proc.stderr[-2000:]


def read_rows(stem: str, outdir: Path) -> pd.DataFrame | None:
    """The chapter's results rows in ``outdir/results``, or None if there is no file."""
    path = outdir / "results" / f"{RESULTS[stem][0]}.csv"
    return pd.read_csv(path) if path.is_file() else None


def compare(stem: str, rows: pd.DataFrame | None, reference: pd.DataFrame) -> dict:
    """Rows lost and duplicated against the fault-free ``reference``, and whether the accuracies equal it."""
    keys = RESULTS[stem][1]
    if rows is None or rows.empty:
        return {"rows_lost": len(reference), "rows_duplicated": 0, "accuracy_equal": False}
    dup = int(rows.duplicated(keys).sum())
    merged = reference.merge(rows.drop_duplicates(keys), on=keys, how="left", suffixes=("", "_run"),
                             indicator=True)
    lost = int((merged["_merge"] == "left_only").sum())
    differs = merged[(merged["accuracy_pct"] - merged["accuracy_pct_run"]).abs().fillna(1.0) >= 1e-9]
    unequal = "; ".join(f"{dict(zip(keys, k))}: {a} vs {b}" for k, a, b in
                        zip(differs[keys].itertuples(index=False), differs["accuracy_pct"], differs["accuracy_pct_run"]))
    return {"rows_lost": lost, "rows_duplicated": dup, "accuracy_equal": lost == 0 and differs.empty,
            "accuracy_unequal": unequal[:300]}


def error_line(stderr: str) -> str:
    """The run's error as the user sees it: the first line of the last ``error:`` message (else the last line)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("error:")]
    if errors:
        return lines[errors[-1]]
    return lines[-1] if lines else ""


def names_member(target: str, sig: str, message: str) -> bool:
    """Whether ``message`` names what died (the member, or for papermill itself the signal)."""
    text = message.lower()
    return any(word in text for word in NAMES[target]) or sig.lower() in text


def dump_stacks(results_dir: Path, path: Path) -> str:
    """Write the Python stacks of the run's papermill and kernel to ``path`` (with py-spy, where installed);
    returns the kernel's innermost frame of this package, which is where the run hung."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.path.exists(spy):
        return "(py-spy not installed)"
    where, out = "", []
    for proc in members(results_dir):
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "exemplar.cli" in cmd or "ipykernel_launcher" in cmd:
            text = subprocess.run([spy, "dump", "--pid", str(proc.pid)], capture_output=True, text=True,
                                  timeout=60).stdout
            out.append(f"== {proc.pid} {cmd[:100]}\n{text}")
            if "ipykernel_launcher" in cmd:
                mine = [line.strip() for line in text.splitlines() if "exemplar/" in line]
                where = mine[0] if mine else where
    path.write_text("\n".join(out))
    return where[:200]


def _signal(proc: psutil.Process, sig: str, rng: random.Random) -> float:
    """Send ``sig`` to ``proc`` (``SIGSTOP``: then ``SIGCONT`` 1-15 s later); the seconds it stayed stopped."""
    try:
        proc.send_signal(getattr(signal, sig))
        if sig != "SIGSTOP":
            return 0.0
        stopped = rng.uniform(1.0, 15.0)
        time.sleep(stopped)
        proc.send_signal(signal.SIGCONT)
        return stopped
    except psutil.Error:
        return 0.0


def _end(procs: list[psutil.Process]) -> None:
    """SIGKILL ``procs`` (what a run left, or a hung run) so the soak goes on."""
    for proc in procs:
        try:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)


def _left(results_dir: Path, grace: float = LEFT_GRACE_SECONDS) -> list[psutil.Process]:
    """The run's processes still running ``grace`` seconds after it ended (none: returns at once)."""
    deadline = time.monotonic() + grace
    left = members(results_dir)
    while left and time.monotonic() < deadline:
        time.sleep(0.25)
        left = members(results_dir)
    return left


def faulted_run(stem: str, target: str, sig: str, outdir: Path, reference: pd.DataFrame, ref_seconds: float,
                rng: random.Random, extra: dict | None = None, window: float = 0.3) -> dict:
    """One run of ``stem`` faulted by ``sig`` to a ``target`` member, then resumed: its row of ``chaos.csv``.

    The fault comes at a random moment: for the kernel and papermill, of the first half of
    ``ref_seconds`` (a fault-free run's time); for a member of the cluster, of the first ``window`` of
    ``ref_seconds`` after it started (or as soon as a member of that kind runs again); ``extra``:
    parameters over :data:`SMALL`'s. Whatever ends the soak meanwhile (``Ctrl-C``), the run's processes end too.
    """
    results_dir = outdir / "results"
    env = {**os.environ, "EXEMPLAR_RESULTS": str(results_dir)}
    row = {"stem": stem, "target": target, "signal": sig, "process": "", "fault_at_seconds": float("nan"),
           "stopped_seconds": 0.0}
    t0 = time.monotonic()
    with open(outdir / "stderr.txt", "w+") as err:
        runner = subprocess.Popen(command(stem, outdir, extra=extra), env=env, stdout=subprocess.DEVNULL,
                                  stderr=err, start_new_session=True, preexec_fn=default_sigint)
        try:
            victim = _await_target(target, runner, results_dir, ref_seconds, window, rng)
            if victim is None:
                runner.wait()
                return {**row, "outcome": "not faulted", "seconds": round(time.monotonic() - t0, 1)}
            _fault_and_watch(row, victim, runner, results_dir, ref_seconds, rng, t0, err, outdir)
        except BaseException:
            _end(members(results_dir) + ([psutil.Process(runner.pid)] if runner.poll() is None else []))
            raise
    rows_faulted = read_rows(stem, outdir)
    row["rows_after_fault"] = 0 if rows_faulted is None else len(rows_faulted)
    row["faulted_rows_wrong"] = 0 if rows_faulted is None else compare(stem, rows_faulted, reference)["rows_duplicated"]
    rc2, _, err2 = run_plain(stem, outdir, resume=True, extra=extra)
    row["resume_ok"] = rc2 == 0
    row["resume_error"] = "" if rc2 == 0 else error_line(err2)[:300]
    row.update(compare(stem, read_rows(stem, outdir), reference))
    row["resume_left"] = len(_left(results_dir, grace=LEFT_GRACE_SECONDS))
    row["seconds"] = round(time.monotonic() - t0, 1)
    return row


def _await_target(target, runner, results_dir, ref_seconds, window, rng) -> psutil.Process | None:
    """Wait for the fault's moment (:func:`faulted_run`); the member to hit then, or None if the run ended first."""
    if target in ("kernel", "papermill"):
        time.sleep(rng.uniform(0.5, 0.5 * ref_seconds))
    else:  # a cluster runs in the middle of a run: from its start, up to `window` of a run later
        while runner.poll() is None and find_target(target, runner, results_dir) is None:
            time.sleep(0.1)
        time.sleep(rng.uniform(0.0, window * ref_seconds))
    victim = None
    while runner.poll() is None and victim is None:  # the member may not be running yet (between clusters)
        victim = find_target(target, runner, results_dir)
        if victim is None:
            time.sleep(0.1)
    return victim


def _fault_and_watch(row, victim, runner, results_dir, ref_seconds, rng, t0, err, outdir) -> None:
    """Signal ``victim``, wait for the run to end (or hang), count what it left, and fill in ``row``."""
    target, sig = row["target"], row["signal"]
    try:
        row["process"] = " ".join(victim.cmdline()[1:4])[-80:]
    except psutil.Error:
        pass
    row["victim_ignores"] = ignores(victim, sig)  # e.g. a kernel ignores SIGINT between cells
    t_fault = time.monotonic()
    row["fault_at_seconds"] = round(t_fault - t0, 2)
    row["stopped_seconds"] = round(_signal(victim, sig, rng), 2)
    try:
        rc, hung = runner.wait(timeout=ERROR_SECONDS + ref_seconds + row["stopped_seconds"]), False
    except subprocess.TimeoutExpired:
        rc, hung = None, True
        row["hung_in"] = dump_stacks(results_dir, outdir / "stacks.txt")
        _end(members(results_dir) + [psutil.Process(runner.pid)])
        runner.wait()
    after = time.monotonic() - t_fault
    left = _left(results_dir)
    row["processes_left"] = len(left)
    row["left"] = "; ".join(sorted({_name(p) for p in left}))[:300]
    _end(left)
    err.seek(0)
    message = "" if rc in (0, None) else error_line(err.read())
    outcome = ("hung" if hung else "completed" if rc == 0 else
               "error" if after <= ERROR_SECONDS + row["stopped_seconds"] else "slow error")
    named = names_member(target, sig, message) if message else None
    if rc is not None and rc < 0:  # papermill itself killed: the shell, not it, can say so
        message, named = f"(none: the run's own process ended by {signal.Signals(-rc).name})", None
    row.update(outcome=outcome, exit_status=rc, error_seconds=round(after, 2) if rc not in (0, None) else None,
               error=message[:300], error_names_member=named)


def default_sigint() -> None:
    """In the run's process before it starts: ``SIGINT`` as a terminal's ``Ctrl-C`` finds it, not ignored.

    A soak started in the background of a shell (``make bench &``, ``nohup``) ignores ``SIGINT``, and its
    children would inherit that; Python then never raises ``KeyboardInterrupt``, and a SIGINT fault tests nothing.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ignores(proc: psutil.Process, sig: str) -> bool:
    """Whether ``proc`` ignores ``sig`` (its ``SigIgn`` mask in ``/proc``); False where that cannot be read."""
    try:
        mask = next(line for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                    if line.startswith("SigIgn:"))
        return bool(int(mask.split()[1], 16) >> (getattr(signal, sig) - 1) & 1)
    except (OSError, StopIteration, ValueError):
        return False


def _name(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline()[1:3])[-60:]
    except psutil.Error:
        return f"pid {proc.pid}"


def run(runs: int = 100, stems: list[str] | tuple[str, ...] = tuple(SMALL), seed: int = 0, minutes: float = 240.0,
        workdir: str | os.PathLike | None = None, progress=print, kinds: list[tuple[str, str]] | None = None,
        csv: str | os.PathLike | None = None) -> pd.DataFrame:
    """The soak: ``runs`` faulted runs (kinds drawn in turn: every member × every signal, shuffled), at most
    ``minutes`` of wall time (a run is not started after that; the rows say how many ran).

    Each chapter first runs once without a fault: its rows are the reference, its time bounds a
    fault's moment. ``kinds``: only these (member, signal) pairs; ``csv``: also rewrite this file after
    every run (a soak stopped early keeps what it measured). Returns one row per faulted run.
    """
    rng = random.Random(seed)
    base = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="exemplar-chaos-"))
    t_start = time.monotonic()
    references = {}
    for stem in stems:
        out = base / f"reference-{stem}"
        rc, seconds, err = run_plain(stem, out)
        if rc != 0:
            raise common.BenchError(f"the fault-free run of {stem} failed ({error_line(err)}); fix it before the soak")
        references[stem] = (read_rows(stem, out), seconds)
        progress(f"[chaos] fault-free {stem}: {seconds:.1f} s, {len(references[stem][0])} rows", flush=True)
    kinds = list(kinds or [(t, s) for t in TARGETS for s in SIGNALS])
    rows, i = [], 0
    while len([r for r in rows if r["outcome"] != "not faulted"]) < runs and i < 2 * runs:
        if time.monotonic() - t_start > minutes * 60:
            progress(f"[chaos] stopping after {i} runs: the {minutes:g} minutes are spent", flush=True)
            break
        faulted = len([r for r in rows if r["outcome"] != "not faulted"])
        if faulted % len(kinds) == 0 and (not rows or rows[-1]["outcome"] != "not faulted"):
            rng.shuffle(kinds)
        target, sig = kinds[faulted % len(kinds)]  # a run that ended before its member ran: the same kind again
        stem = stems[i % len(stems)]
        out = base / f"run-{i:04d}"
        out.mkdir(parents=True)
        reference, ref_seconds = references[stem]
        row = {"run": i, **faulted_run(stem, target, sig, out, reference, ref_seconds, rng)}
        rows.append(row)
        i += 1
        if csv is not None:
            pd.DataFrame(rows).to_csv(csv, index=False)
        progress(f"[chaos] {i - 1}: {stem} {target} {sig}: {row['outcome']} {row.get('error', '')[:120]} "
                 f"left={row.get('processes_left')} lost={row.get('rows_lost')} dup={row.get('rows_duplicated')} "
                 f"equal={row.get('accuracy_equal')} ({row['seconds']:.0f} s)", flush=True)
        if row["outcome"] == "not faulted" or (row["accuracy_equal"] and not row["rows_lost"]):
            for bulky in ("nb", "results"):  # stderr.txt (and a hang's stacks.txt) stay; a wrong run stays whole
                shutil.rmtree(out / bulky, ignore_errors=True)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    """``python -m exemplar.bench.chaos [--quick] [--output-dir DIR]``."""
    return common.main("chaos", __doc__.split("\n\n")[0], run, params, argv)


if __name__ == "__main__":
    sys.exit(main())
