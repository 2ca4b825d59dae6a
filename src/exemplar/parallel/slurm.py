"""The engines as one MPI job of a Slurm allocation: ``start_cluster(n, launcher="slurm")``.

:func:`exemplar.parallel.cluster.start_cluster` runs the controller where it is called (the
user's kernel) and submits the engines with ``sbatch`` as one job of ``n`` tasks, whose batch
script runs::

    srun --mpi=pmi2 --kill-on-bad-exit=1 python -m ipyparallel.engine --mpi ...

so the ranks are the tasks of one Slurm job step: ``COMM_WORLD`` rank = ``SLURM_PROCID``, and the
cluster maps engine ids to ranks as with ``mpiexec``.

**Why ``srun --mpi=pmi2`` rather than Hydra's Slurm launcher** (``mpiexec -launcher slurm`` in the
batch script): with ``srun`` every rank is a task Slurm started and tracks itself, with nothing
between them; ``scancel``, a time limit or a failed node end the ranks directly, and
``squeue -s`` / ``scontrol show step`` show them. Hydra would put ``mpiexec`` and its proxies
(started through ``srun`` in turn) between Slurm and the ranks, one more layer that must pass
signals on and die with them. The ``mpich`` wheel's MPI speaks PMI-2 to Slurm's ``pmi2`` plugin
(``srun --mpi=list`` names it), so no ``mpiexec`` is needed on the nodes.

Where the job's options come from (arguments of :func:`start_cluster` first, then the environment,
so ``exemplar run -p launcher slurm`` can use them): :data:`SLURM_ENV`.

Clean-up: leaving the cluster's ``with`` block cancels the job and waits until Slurm no longer
lists it as queued or running (:func:`end_job`; an error names it otherwise); the cluster's
watchdog cancels it by name (``scancel --name``) when the owner dies. A job that ends while the
cluster is in use (``scancel``, a failed node, its time limit) turns the error the engines gave
into a :class:`SlurmJobError` naming the job id and its state (:func:`ended_error`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ipyparallel.cluster.launcher import SlurmEngineSetLauncher

#: The environment variables that give the job's options when ``start_cluster`` does not.
#: ``EXEMPLAR_SLURM_ARGS`` holds further ``sbatch`` options, split as a shell would (``"--qos=debug -N 2"``).
SLURM_ENV = {"partition": "EXEMPLAR_SLURM_PARTITION", "time": "EXEMPLAR_SLURM_TIME",
             "account": "EXEMPLAR_SLURM_ACCOUNT", "sbatch_args": "EXEMPLAR_SLURM_ARGS"}

#: Slurm's client commands the launcher calls.
COMMANDS = ("sbatch", "srun", "scancel", "scontrol")

#: Job states in which a job still holds (or waits for) its allocation.
ACTIVE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
                           "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
                           "RESV_DEL_HOLD", "SPECIAL_EXIT"})

#: What an ended job's state means, for the error.
STATE_MEANING = {
    "CANCELLED": "it was cancelled (scancel, by you or an administrator)",
    "TIMEOUT": "it reached its time limit (give a longer one: time=... or $EXEMPLAR_SLURM_TIME)",
    "NODE_FAIL": "a node of its allocation failed (node down)",
    "FAILED": "srun or an engine exited with an error (see the job's output below)",
    "OUT_OF_MEMORY": "a task ran out of memory",
    "PREEMPTED": "a job of higher priority preempted it",
    "BOOT_FAIL": "a node failed to boot",
    "DEADLINE": "it reached its deadline",
    "COMPLETED": "its engines exited",
}

#: Seconds :func:`end_job` waits for a cancelled job to leave the queue.
END_SECONDS = 60.0

#: Seconds a Slurm command may take before it counts as failed (slurmctld unreachable).
COMMAND_SECONDS = 60.0


class SlurmJobError(RuntimeError):
    """The engines' Slurm job could not be submitted, ended while the cluster was in use, or could not be ended."""


@dataclass(frozen=True)
class SlurmOptions:
    """The engines' job options (``sbatch --partition / --time / --account`` and any others).

    Attributes
    ----------
    partition, time, account : str or None
        As ``sbatch`` takes them (``time``: ``"MM"``, ``"HH:MM:SS"``, ``"D-HH"``, ...); ``None``: the cluster's default.
    sbatch_args : tuple of str
        Further ``sbatch`` options, e.g. ``("--qos=debug",)``.
    """

    partition: str | None = None
    time: str | None = None
    account: str | None = None
    sbatch_args: tuple[str, ...] = ()

    @classmethod
    def resolve(cls, partition=None, time=None, account=None, sbatch_args=None, environ=None) -> "SlurmOptions":
        """The options given, else those of :data:`SLURM_ENV` in ``environ`` (default ``os.environ``)."""
        env = os.environ if environ is None else environ
        given = {"partition": partition, "time": time, "account": account}
        for name, value in given.items():
            if value is not None and (not isinstance(value, str) or not value.strip() or "\n" in value):
                raise ValueError(f"{name} must be a non-empty string as sbatch takes it; got {value!r}")
            given[name] = value if value is not None else (env.get(SLURM_ENV[name]) or None)
        if sbatch_args is None:
            sbatch_args = shlex.split(env.get(SLURM_ENV["sbatch_args"], ""))
        elif isinstance(sbatch_args, str) or not all(isinstance(a, str) for a in sbatch_args):
            raise ValueError(f"sbatch_args must be a list of strings; got {sbatch_args!r}")
        return cls(**given, sbatch_args=tuple(sbatch_args))

    def directives(self) -> list[str]:
        """The ``#SBATCH`` lines of these options."""
        named = [f"--{name}={value}" for name, value in
                 (("partition", self.partition), ("time", self.time), ("account", self.account)) if value]
        return [f"#SBATCH {shlex.quote(arg)}" for arg in [*named, *self.sbatch_args]]


def options_for(launcher: str, partition=None, time=None, account=None, sbatch_args=None) -> SlurmOptions | None:
    """The job's options for ``launcher="slurm"`` (:meth:`SlurmOptions.resolve`; Slurm's commands must be
    on ``PATH``), ``None`` for another launcher, which takes none of them (``ValueError``)."""
    if launcher != "slurm":
        if any(v is not None for v in (partition, time, account, sbatch_args)):
            raise ValueError("partition, time, account and sbatch_args apply only to launcher='slurm'")
        return None
    options = SlurmOptions.resolve(partition, time, account, sbatch_args)
    check_commands()
    return options


def check_tasks(infos: list[dict], job_id: str) -> None:
    """Every engine (``infos``: what each reported, in any order) must be a task of job ``job_id``
    whose ``SLURM_PROCID`` is its MPI rank; else :class:`SlurmJobError` saying what each is."""
    seen = [(info["env"].get("SLURM_JOB_ID"), info["env"].get("SLURM_PROCID"), info["rank"]) for info in infos]
    if any(job != str(job_id) or proc != str(rank) for job, proc, rank in seen):
        raise SlurmJobError(f"the engines are not the tasks of Slurm job {job_id} in rank order "
                            f"(SLURM_JOB_ID, SLURM_PROCID, MPI rank of each: {seen}); did srun start them?")


def job_name(cluster_id: str) -> str:
    """The name of cluster ``cluster_id``'s job (what the watchdog cancels by)."""
    return f"exemplar-{cluster_id}"


def batch_template(options: SlurmOptions) -> str:
    """The batch script, as an ipyparallel template (``{n}``, ``{cluster_id}``, ``{output_file}``,
    ``{program_and_args}``): one job of ``n`` tasks whose ranks ``srun --mpi=pmi2`` starts."""
    directives = "\n".join(options.directives()).replace("{", "{{").replace("}", "}}")
    return f"""#!/bin/sh
#SBATCH --job-name=exemplar-{{cluster_id}}
#SBATCH --ntasks={{n}}
#SBATCH --output={{output_file}}
#SBATCH --export=ALL
#SBATCH --no-requeue
{directives}
exec srun --mpi=pmi2 --kill-on-bad-exit=1 {{program_and_args}}
"""


def missing_commands() -> list[str]:
    """Slurm's client commands (:data:`COMMANDS`) not found on ``PATH``."""
    return [name for name in COMMANDS if shutil.which(name) is None]


def check_commands() -> None:
    """Raise :class:`SlurmJobError` naming the Slurm commands missing on ``PATH``, and the fix."""
    missing = missing_commands()
    if missing:
        raise SlurmJobError(f"launcher='slurm' needs Slurm's commands on PATH; not found: {', '.join(missing)}. "
                            "Run on a Slurm login node (or install Slurm's client, e.g. apt-get install slurm-client)")


def _run(command: list[str], **kwargs) -> str:
    """Run a Slurm command; its output, or :class:`SlurmJobError` with its message."""
    try:
        proc = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=COMMAND_SECONDS, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlurmJobError(f"`{shlex.join(command)}` failed: {exc}; is slurmctld reachable (`sinfo`)?") from exc
    if proc.returncode != 0:
        said = (proc.stderr.strip() or proc.stdout.strip() or "no output")
        raise SlurmJobError(f"`{shlex.join(command)}` failed (exit {proc.returncode}): {said}")
    return proc.stdout


@dataclass(frozen=True)
class JobState:
    """A job as ``scontrol show job`` describes it."""

    job_id: str
    state: str
    reason: str
    exit_code: str
    nodes: str

    @property
    def active(self) -> bool:
        """Whether the job still holds or waits for its allocation."""
        return self.state in ACTIVE_STATES


def job_state(job_id: str) -> JobState | None:
    """Job ``job_id``'s state, or ``None`` when Slurm no longer knows it (purged after ``MinJobAge``)."""
    try:
        out = _run(["scontrol", "show", "job", "-o", str(job_id)])
    except SlurmJobError as exc:
        if "Invalid job id" in str(exc):
            return None
        raise
    fields = dict(item.split("=", 1) for item in out.split() if "=" in item)
    return JobState(str(job_id), fields.get("JobState", "UNKNOWN"), fields.get("Reason", "None"),
                    fields.get("ExitCode", "?"), fields.get("NodeList", ""))


def describe(job_id: str, state: JobState | None = None) -> str:
    """``"Slurm job 12 is RUNNING on node1"``, in words, for messages (``state``: asked for if not given)."""
    state = job_state(job_id) if state is None else state
    if state is None:
        return f"Slurm job {job_id} is no longer known to Slurm"
    where = f" on {state.nodes}" if state.nodes and state.nodes != "(null)" else ""
    why = f", reason {state.reason}" if state.reason not in ("None", "") else ""
    return f"Slurm job {job_id} is {state.state}{where}{why}"


def ended_error(job_id: str, state: JobState | None, while_: str, output: str = "") -> SlurmJobError:
    """The error for a job that ended while the cluster was in use: its id, its state and what that means."""
    if state is None:
        head = f"Slurm job {job_id} of the engines ended while {while_}, and Slurm no longer knows it"
    else:
        meaning = STATE_MEANING.get(state.state, "see `scontrol show job " + str(job_id) + "`")
        head = (f"Slurm job {job_id} of the engines ended {state.state} while {while_}: {meaning} "
                f"(reason {state.reason}, exit code {state.exit_code})")
    tail = f"; the job's output ends:\n{output}" if output.strip() else ""
    return SlurmJobError(f"{head}. Nothing of the job is left queued or running; start a new cluster "
                         f"(leave the `with` block; `exemplar run` retries it with -p retries N){tail}")


def check_job(job_id: str | None, while_: str, output=lambda: "") -> None:
    """Raise :func:`ended_error` if job ``job_id`` no longer runs or waits; ``output()`` gives its output's tail."""
    if job_id is None:
        return
    state = job_state(job_id)
    if state is None or not state.active:
        raise ended_error(job_id, state, while_, output())


def raise_if_ended(job_id: str, cause: BaseException, output=lambda: "") -> None:
    """Raise :func:`ended_error` from ``cause`` if job ``job_id`` has ended (the engines' error was its end);
    return if it still runs, or if Slurm cannot be asked (``cause`` then stands)."""
    try:
        state = job_state(job_id)
    except SlurmJobError:
        return
    if state is None or not state.active:
        raise ended_error(job_id, state, "the cluster was in use", output()) from cause


def end_job(job_id: str | None, wait: float = END_SECONDS) -> JobState | None:
    """Cancel job ``job_id`` (if it still runs or waits) and wait until Slurm lists it as ended.

    Returns
    -------
    JobState or None
        Its last state (``None``: Slurm no longer knows it).

    Raises
    ------
    SlurmJobError
        If it is still queued or running after ``wait`` seconds, naming it and how to end it.
    """
    if job_id is None:
        return None
    deadline = time.monotonic() + wait
    state = job_state(job_id)
    while state is not None and state.active:
        if state.state not in ("COMPLETING",):
            _run(["scancel", str(job_id)])
        if time.monotonic() > deadline:
            raise SlurmJobError(f"{describe(job_id, state)} {wait:g} s after scancel; end it with "
                                f"`scancel --signal=KILL {job_id}` (or ask the cluster's administrator)")
        time.sleep(0.25)
        state = job_state(job_id)
    return state


class SlurmEngines(SlurmEngineSetLauncher):
    """ipyparallel's Slurm engine launcher, with the batch script of :func:`batch_template` (set by
    :func:`exemplar.parallel.cluster.start_cluster`), MPI engines (``--mpi``), Slurm's own error
    messages and a stop that waits until the job has left the queue (:func:`end_job`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # beside the job's output (the profile's log folder), not in the caller's working directory
        self.batch_file = str(Path(self.output_file).with_suffix(".sbatch"))
        self.program = [*self.engine_cmd, "--mpi"]

    def find_args(self):
        return ["sbatch", "--parsable", self.batch_file]

    def _run_command(self, command, **kwargs):
        return _run(list(command), **kwargs)

    def stop(self):
        try:
            state = end_job(self.job_id or None)
        finally:
            Path(self.batch_file).unlink(missing_ok=True)
        return self.notify_stop({"job_id": self.job_id, "state": getattr(state, "state", None)})
