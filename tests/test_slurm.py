"""The engines under a real Slurm: chapter 03 through ``launcher="slurm"``, its clean-up and its errors.

A module fixture starts Debian's ``munged``, ``slurmctld`` and ``slurmd`` as root, each in the
foreground, with every file of theirs (key, configuration, spool, state, logs, sockets) in one
temporary folder and their own ports: a one-node cluster (``ProctrackType=proctrack/linuxproc``,
``TaskPlugin=task/none``, ``SelectType=select/cons_tres``, no accounting). ``make test`` installs the
packages (``make slurm``); where the test is not root or they are missing, it is skipped with the
reason. Every daemon it started ends with the module (``.ci/run`` checks that none is left: each
carries ``EXEMPLAR_SLURM_TEST`` in its environment, and so do the ``slurmstepd`` of its jobs).

The tests check that

* chapter 03 runs through ``exemplar.experiments.runner.run_chapter`` with ``launcher="slurm"`` as
  one Slurm job whose step runs the ranks (``squeue -s`` while it fits; every engine sees the job's
  ``SLURM_JOB_ID``, step 0 and ``SLURM_PROCID`` = its MPI rank), and gives the accuracy and the
  weights of a local ``mpiexec`` run bit for bit;
* ``scancel`` in the middle of a fit fails the chapter with an error naming the job id and
  ``CANCELLED``, and nothing of the job is left queued or running, nor any process of the cluster;
* when the cluster's owner is killed (``SIGKILL``), its watchdog cancels the job.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from exemplar import config
from exemplar.parallel import slurm
from exemplar.parallel.cluster import cluster_processes, have_mpiexec

#: What the fixture needs, and the Debian package of each.
DAEMONS = {"munged": "munge", "slurmctld": "slurmctld", "slurmd": "slurmd", "sbatch": "slurm-client",
           "srun": "slurm-client", "scancel": "slurm-client", "squeue": "slurm-client",
           "scontrol": "slurm-client", "sinfo": "slurm-client"}

#: The environment variable every process of the test's Slurm carries (``.ci/run`` looks for it).
MARKER = "EXEMPLAR_SLURM_TEST"

SLURM_CONF = """\
ClusterName=exemplartest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
AuthInfo=socket={dir}/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/log/slurmctld.log
SlurmdLogFile={dir}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
FirstJobId={first_job}
KillWait=5
InactiveLimit=0
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=exemplar Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _slurm_problem() -> str | None:
    """Why the test's Slurm cannot be started here, or ``None``."""
    if os.geteuid() != 0:
        return "starting munged, slurmctld and slurmd needs root (run `make test` as root to test the Slurm path)"
    missing = sorted({pkg for tool, pkg in DAEMONS.items() if shutil.which(tool) is None})
    if missing:
        return (f"Slurm is not installed (`make slurm`, or apt-get install -y slurm-wlm munge): "
                f"missing {', '.join(missing)}")
    if (os.cpu_count() or 1) < 2:
        return "the chapter's two engines need two cores (a one-node Slurm hands out one task per core)"
    if not have_mpiexec():
        return "no mpiexec in this environment (the mpich wheel) for the local run the Slurm run is compared with"
    return None


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _ended(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _marked() -> list[psutil.Process]:
    """Every process that carries the test's marker (the daemons, their slurmstepd)."""
    out = []
    for proc in psutil.process_iter():
        try:
            if MARKER in proc.environ() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except (psutil.Error, OSError):
            continue
    return out


def _run(*args: str, check: bool = True) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=60).stdout


@pytest.fixture(scope="module")
def slurm_cluster():
    """A one-node Slurm (munged, slurmctld, slurmd) for this module; ``SLURM_CONF`` points at it."""
    problem = _slurm_problem()
    if problem:
        pytest.skip(problem)
    root = Path(tempfile.mkdtemp(prefix="exemplar-slurm-"))
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir()
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    host = socket.gethostname().split(".")[0]
    ctld_port, d_port = _free_ports(2)
    # Job ids that no earlier run of this test used: MPICH names its shared-memory segment after the
    # job step (/dev/shm/mpich_shm_*), and a step killed by scancel leaves it; a fresh Slurm starting at
    # job 1 again would meet a stale segment of an earlier run, and MPI_Init would fail on its contents.
    conf = root / "slurm.conf"
    conf.write_text(SLURM_CONF.format(host=host, dir=root, ctld_port=ctld_port, d_port=d_port,
                                      cpus=os.cpu_count(), first_job=random.randrange(10**5, 10**7)))
    before = os.environ.get("SLURM_CONF")
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), MARKER: str(root), "SLURM_CONF": str(conf)}
    daemons: list[subprocess.Popen] = []

    def start(name, *args):
        log = open(root / "log" / f"{name}.out", "w")
        daemons.append(subprocess.Popen([name, *args], stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                        start_new_session=True))

    try:
        start("munged", "-F", "-f", f"--key-file={key}", f"--socket={root}/munge.sock",
              f"--log-file={root}/log/munged.log", f"--pid-file={root}/munged.pid", f"--seed-file={root}/munge.seed")
        time.sleep(0.5)
        start("slurmctld", "-D", "-i", "-f", str(conf))
        start("slurmd", "-D", "-f", str(conf), "-N", host)
        os.environ["SLURM_CONF"] = str(conf)
        deadline = time.monotonic() + 30
        while _run("sinfo", "-h", "-o", "%T", check=False).strip() != "idle":
            dead = [d.args[0] for d in daemons if d.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted((root / "log").iterdir()))
                pytest.fail(f"the test's Slurm did not come up (exited: {dead or 'none'}; sinfo: "
                            f"{_run('sinfo', check=False)!r}):\n{logs}", pytrace=False)
            time.sleep(0.3)
        yield {"conf": conf, "root": root, "host": host}
    finally:
        jobs = _run("squeue", "-h", "-o", "%i", check=False).split() if daemons else []
        if jobs:
            _run("scancel", *jobs, check=False)
        _ended(daemons[::-1])
        _, left = psutil.wait_procs(_marked(), timeout=10)
        for proc in left:
            proc.kill()
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before
        shutil.rmtree(root, ignore_errors=True)
        assert not jobs, f"Slurm jobs left queued or running by the tests: {jobs}"
        assert not left, f"processes of the test's Slurm that had to be killed: {[p.pid for p in left]}"


def _active_jobs() -> list[str]:
    return _run("squeue", "-h", "-o", "%i %T").splitlines()


# ------------------------------------------------------------------------------------ no Slurm needed

def test_options_come_from_the_arguments_then_the_environment():
    env = {"EXEMPLAR_SLURM_PARTITION": "short", "EXEMPLAR_SLURM_TIME": "30", "EXEMPLAR_SLURM_ARGS": "--qos=debug -N 2"}
    opts = slurm.SlurmOptions.resolve(time="1:00:00", environ=env)
    assert opts == slurm.SlurmOptions(partition="short", time="1:00:00", account=None,
                                      sbatch_args=("--qos=debug", "-N", "2"))
    script = slurm.batch_template(opts)
    assert "#SBATCH --partition=short\n#SBATCH --time=1:00:00\n#SBATCH --qos=debug\n#SBATCH -N\n#SBATCH 2" in script
    assert "exec srun --mpi=pmi2 --kill-on-bad-exit=1 {program_and_args}" in script
    assert "#SBATCH --ntasks={n}" in script and "#SBATCH --no-requeue" in script
    with pytest.raises(ValueError, match="time must be a non-empty string"):
        slurm.SlurmOptions.resolve(time=30)


@pytest.mark.parametrize("state, meaning", [("CANCELLED", "cancelled (scancel"), ("TIMEOUT", "time limit"),
                                            ("NODE_FAIL", "node of its allocation failed")])
def test_an_ended_job_is_named_with_its_state_and_what_it_means(state, meaning):
    err = slurm.ended_error("4242", slurm.JobState("4242", state, "None", "0:15", "node1"), "fitting", "srun: boom\n")
    text = str(err)
    assert f"Slurm job 4242 of the engines ended {state} while fitting" in text and meaning in text
    assert "Nothing of the job is left queued or running" in text and "srun: boom" in text


# ------------------------------------------------------------------------------------ a real Slurm

def _chapter_params(launcher: str, **given):
    from exemplar.experiments import exemplar_parallel as chapter

    return chapter.parameters({**chapter.SPEC.defaults(), "engine_counts": [2], "repeats": 1, "n_train": 600,
                               "hidden": 12, "epochs": 6, "seed": 3, "launcher": launcher, **given})


def _recording_inputs(p, seen: dict, on_start=None, **overrides):
    """Chapter 03's inputs, whose trainer records what the cluster is and what it trained (``on_start(cl)``
    is called before the fit; ``overrides`` change the trainer's arguments)."""
    from exemplar.experiments import exemplar_parallel as chapter
    from exemplar.models.sklearn_mlp import get_weights

    inputs = chapter.load(p)
    train = inputs.train

    def recording(cl, *args, **kwargs):
        seen.update(cluster_id=cl.cluster_id, job_id=cl.job_id, launcher=cl.launcher,
                    env=[info["env"] for info in cl.engine_info])
        if cl.job_id is not None:
            seen["steps"] = _run("squeue", "-h", "--steps", "-j", cl.job_id, "-o", "%i %N").splitlines()
        if on_start is not None:
            on_start(cl)
        res = train(cl, *args, **{**kwargs, **overrides})
        seen["weights"] = get_weights(res.model)
        return res

    inputs["train"] = recording
    return inputs


@pytest.mark.mpi
@pytest.mark.slow
def test_chapter_03_under_slurm_equals_a_local_mpi_run_bit_for_bit(slurm_cluster, tmp_path):
    from exemplar.experiments import exemplar_parallel as chapter
    from exemplar.experiments import runner

    if not (config.data_dir() / config.MNIST_TRAIN_CSV).is_file():
        pytest.fail("MNIST is missing: run `make data` (or `exemplar data`) before the tests", pytrace=False)
    runs, seen = {}, {"slurm": {}, "mpi": {}}
    for launcher in ("slurm", "mpi"):
        p = _chapter_params(launcher)
        runs[launcher] = runner.run_chapter(chapter, p, inputs=_recording_inputs(p, seen[launcher]),
                                            directory=tmp_path / launcher, progress=False, log=lambda m: None)
    s = seen["slurm"]
    job = s["job_id"]
    assert s["launcher"] == "slurm" and job and seen["mpi"]["job_id"] is None
    # the ranks ran as step 0 of the job, tasks 0 and 1 = MPI ranks 0 and 1
    assert f"{job}.0 {slurm_cluster['host']}" in s["steps"], s["steps"]
    assert [(e["SLURM_JOB_ID"], e["SLURM_STEP_ID"], e["SLURM_PROCID"]) for e in s["env"]] == \
        [(job, "0", "0"), (job, "0", "1")]
    assert all(e["SLURM_JOB_ID"] is None for e in seen["mpi"]["env"])
    one_shot = {k: r.rows[r.rows.strategy == "one-shot"].iloc[0] for k, r in runs.items()}
    assert one_shot["slurm"].accuracy_pct == one_shot["mpi"].accuracy_pct
    assert len(s["weights"]) == len(seen["mpi"]["weights"]) > 0
    assert all(np.array_equal(a, b) for a, b in zip(s["weights"], seen["mpi"]["weights"]))
    # the job ended with the cluster, nothing of it is left
    assert _active_jobs() == []
    assert slurm.job_state(job).state == "CANCELLED"
    assert cluster_processes(s["cluster_id"]) == []


@pytest.mark.mpi
@pytest.mark.slow
def test_scancel_mid_fit_names_the_job_and_its_state_and_leaves_nothing(slurm_cluster, tmp_path):
    from exemplar.experiments import exemplar_parallel as chapter
    from exemplar.experiments import runner

    if not (config.data_dir() / config.MNIST_TRAIN_CSV).is_file():
        pytest.fail("MNIST is missing: run `make data` (or `exemplar data`) before the tests", pytrace=False)
    p = _chapter_params("slurm")
    seen = {}
    # a fit of minutes, cancelled after 3 s
    inputs = _recording_inputs(p, seen, on_start=lambda cl: threading.Timer(3.0, _run, ("scancel", cl.job_id)).start(),
                               epochs=20_000, hidden=200, mlp_params={"n_iter_no_change": 10**6})
    t0 = time.monotonic()
    with pytest.raises(runner.ExperimentError) as info:
        runner.run_chapter(chapter, p, inputs=inputs, directory=tmp_path, progress=False, log=lambda m: None)
    seconds = time.monotonic() - t0
    job = seen["job_id"]
    message = str(info.value)
    print(f"failed after {seconds:.1f} s: {message}")
    assert f"Slurm job {job} of the engines ended CANCELLED" in message
    assert isinstance(info.value.__cause__, slurm.SlurmJobError)
    assert "weights" not in seen  # the fit did not finish
    assert _active_jobs() == []
    assert slurm.job_state(job).state == "CANCELLED"
    assert cluster_processes(seen["cluster_id"]) == []
    assert seconds < 60


DRIVER = """
import sys, time
from exemplar.parallel.cluster import start_cluster
with start_cluster(2, launcher="slurm", timeout=60) as cl:
    print(cl.job_id, cl.cluster_id, flush=True)
    time.sleep(600)
"""


@pytest.mark.mpi
@pytest.mark.slow
def test_the_watchdog_cancels_the_job_when_its_owner_is_killed(slurm_cluster, tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", textwrap.dedent(DRIVER)], stdout=subprocess.PIPE, text=True,
                             cwd=tmp_path)
    try:
        job, cluster_id = owner.stdout.readline().split()
        assert slurm.job_state(job).state == "RUNNING"
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        deadline = time.monotonic() + 30
        while _active_jobs() and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(10)
    assert _active_jobs() == []
    assert slurm.job_state(job).state == "CANCELLED"
    deadline = time.monotonic() + 15
    while cluster_processes(cluster_id) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert cluster_processes(cluster_id) == []
