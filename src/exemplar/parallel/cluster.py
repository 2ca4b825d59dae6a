"""An ipyparallel cluster of MPI engines that always stops, with BLAS threads pinned to one.

:func:`start_cluster` is a context manager::

    with start_cluster(4) as cl:              # 4 engines started by mpiexec
        cl.view.apply_sync(f)                 # results in MPI rank order
        cl.rank_of[engine_id], cl.engine_of[rank]

What it does, in order:

1. Starts an ipyparallel controller listening on ``127.0.0.1`` (unless ``controller_ip`` says
   otherwise) and ``n_engines`` engines, with this Python environment's own ``mpiexec`` (the MPI
   ``mpi4py`` was built for, whatever ``PATH`` holds). On one host (no host file, no ``-hosts``,
   controller on loopback) MPI's transports stay on loopback too (:data:`LOOPBACK_MPI_ENV`,
   ``mpiexec -iface lo``); only Hydra's PMI control port listens on all interfaces.
2. Sets ``OMP_NUM_THREADS=1`` and friends in the engines' environment before they start (the
   engines run this Python environment, where the package is installed: they import it as is).
   With more engines than this machine's cores, it also makes MPI ranks that wait in a
   collective sleep between polls instead of spinning (:data:`YIELD_MPI_ENV`, ``yield_waiting``).
3. Waits for all engines to register (``timeout`` seconds, then a clear error with the
   launcher's output), applies ``threadpoolctl.threadpool_limits(1)`` on each engine and maps
   engine id to MPI rank (``COMM_WORLD`` rank; with ``launcher="local"`` there is no MPI and
   the rank is the engine's position in id order).
4. On leaving the block -- normally, by an exception or by ``KeyboardInterrupt`` -- closes the
   client, stops controller and engines, then kills any process of this cluster still running
   (found by the ``IPP_CLUSTER_ID`` every process of the cluster inherits), so no ``mpiexec``,
   ``hydra_pmi_proxy``, ``ipengine`` or ``ipcontroller`` is left behind.
5. And if this process dies without leaving the block (``SIGKILL``, a killed kernel), the
   cluster's watchdog (:mod:`exemplar.parallel.watchdog`, a process of its own started with the
   cluster) sees its owner gone and ends every process of the cluster within seconds.

With ``launcher="slurm"`` the engines are one Slurm job (``sbatch``, ``srun --mpi=pmi2``), the controller
listens on every interface, and the job is cancelled (and waited for) in steps 4 and 5; see
:mod:`exemplar.parallel.slurm`. A controller listening beyond loopback encrypts and authenticates its
traffic (CurveZMQ, the key in 0600 connection files only): :mod:`exemplar.parallel.security`.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import psutil

from exemplar.parallel import security
from exemplar.parallel.registration import ClusterError, launcher_tail as _tail, set_up, wait_for_engines
from exemplar.parallel.watchdog import alive, cluster_processes, start_watchdog, stop_cluster, stop_watchdog
from exemplar.results import usable_cores
from exemplar.validation import check_bool, check_choice, check_positive_int, check_timeout


#: Launchers :func:`start_cluster` accepts.
LAUNCHERS = ("mpi", "local", "slurm")


#: Environment variables that cap the thread pools of BLAS / OpenMP libraries.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


#: For a cluster on this host alone: MPI's network transports use the loopback interface only
#: (libfabric's tcp/sockets providers, UCX, and Hydra's proxies), so no MPI socket of the run
#: listens on an outside interface. Ranks on one host talk through shared memory anyway.
LOOPBACK_MPI_ENV = {"FI_TCP_IFACE": "lo", "FI_SOCKETS_IFACE": "lo", "UCX_NET_DEVICES": "lo"}
LOOPBACK_MPI_ARGS = ["-iface", "lo"]


#: MPICH (the ``mpich`` wheel: device ch4, network modules UCX and OFI, shared memory between the
#: ranks of one host) waits in a collective by polling its progress engine in a loop, calling
#: ``sched_yield`` now and then. The waiting rank stays runnable, so on an oversubscribed host it
#: takes as large a share of a core as the rank that computes, and its CPU time counts the
#: spinning. ``MPIR_CVAR_ENABLE_HEAVY_YIELD=1`` turns that yield into a ``nanosleep``: a waiting
#: rank leaves the core to the ranks that compute. (``MPIR_CVAR_CH4_PROGRESS_THROTTLE`` and
#: ``MPIR_CVAR_POLLS_BEFORE_YIELD`` were tried too: neither sleeps on this device's path.)
#: Each wait then costs a timer tick more, so it is set only where engines share cores.
YIELD_MPI_ENV = {"MPIR_CVAR_ENABLE_HEAVY_YIELD": "1"}


def mpiexec_path() -> Path:
    """The ``mpiexec`` of the running Python environment (next to ``sys.executable``)."""
    return Path(sys.executable).parent / "mpiexec"


def have_mpiexec() -> bool:
    """Whether this Python environment has its own ``mpiexec`` (:func:`mpiexec_path`): ``launcher="mpi"`` needs it."""
    return mpiexec_path().exists()


@dataclass
class RunningCluster:
    """A started cluster: what :func:`start_cluster` yields.

    Attributes
    ----------
    rc : ipyparallel.Client
        The client.
    view : ipyparallel.DirectView
        A view on all engines, targets ordered by MPI rank, so ``view.apply_sync`` returns
        its results in rank order (``view.targets[r]`` is the engine of rank ``r``).
    rank_of, engine_of : dict
        Engine id to MPI rank, and MPI rank to engine id.
    n : int
        Number of engines.
    launcher : str
        ``"mpi"``, ``"local"`` or ``"slurm"``.
    start_seconds : float
        Seconds from starting the controller to all engines registered and set up.
    cluster : ipyparallel.Cluster
        The underlying cluster object.
    engine_info : list of dict
        Per rank: ``pid``, ``host``, ``rank``, ``size`` (MPI world size), the
        ``threadpoolctl`` report after pinning (``threadpools``) and the thread caps and
        :data:`YIELD_MPI_ENV` variables as the engine sees them (``env``).
    mpi_yield : bool
        Whether waiting MPI ranks sleep instead of spinning (:data:`YIELD_MPI_ENV` was set).
    job_id : str or None
        The engines' Slurm job (``launcher="slurm"``), else ``None``.
    """

    rc: object
    view: object
    rank_of: dict[int, int]
    engine_of: dict[int, int]
    n: int
    launcher: str
    start_seconds: float
    cluster: object
    engine_info: list[dict] = field(default_factory=list)
    mpi_yield: bool = False
    job_id: str | None = None

    @property
    def cluster_id(self) -> str:
        return self.cluster.cluster_id

    def processes(self) -> list[psutil.Process]:
        """The running processes of this cluster (controller, mpiexec, proxies, engines, nannies)."""
        return cluster_processes(self.cluster_id, self.known_pids())

    @property
    def controller_pid(self) -> int | None:
        """The pid of the controller this process started (``None`` if it did not start one)."""
        pid = getattr(self.cluster.controller, "pid", -1) if self.cluster.controller is not None else -1
        return pid if pid and pid > 0 else None

    def controller_alive(self) -> bool:
        """Whether the controller's process still runs (``True`` when this process did not start it: cannot tell)."""
        pid = self.controller_pid
        if pid is None:
            return True
        try:
            return alive(psutil.Process(pid))
        except psutil.Error:
            return False

    def known_pids(self) -> set[int]:
        """The pids this cluster knows of: the engines', the controller's and the engine launcher's."""
        here = socket.gethostname()  # an engine's pid on another host names nothing here
        pids = {info["pid"] for info in self.engine_info if info.get("host") == here}
        launchers = [self.cluster.controller, *self.cluster.engines.values()]
        for launcher in launchers:
            pid = getattr(launcher, "pid", -1) if launcher is not None else -1
            if pid and pid > 0:
                pids.add(pid)
        return pids


#: The environment variables each engine reports in ``RunningCluster.engine_info[rank]["env"]``.
ENGINE_ENV_REPORTED = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", *YIELD_MPI_ENV,
                       "SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_PROCID")


def _engine_setup(use_mpi: bool) -> dict:
    """Run on each engine: pin thread pools to 1, report the MPI rank."""
    import os
    import socket

    from threadpoolctl import threadpool_info, threadpool_limits

    # Called (not used as a context manager), the limits stay in force for the engine's lifetime.
    threadpool_limits(limits=1)
    if use_mpi:
        from mpi4py import MPI

        rank, size = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
    else:
        rank, size = -1, 1
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "rank": rank,
        "size": size,
        "threadpools": [
            {k: p.get(k) for k in ("internal_api", "num_threads", "filepath")} for p in threadpool_info()
        ],
        "env": {k: os.environ.get(k) for k in ENGINE_ENV_REPORTED},
    }


@contextmanager
def start_cluster(
    n_engines: int,
    launcher: str = "mpi",
    *,
    timeout: float = 60.0,
    mpi_args: list[str] | None = None,
    hostfile: str | os.PathLike | None = None,
    controller_ip: str | None = None,
    controller_args: list[str] | None = None,
    engine_args: list[str] | None = None,
    environment: dict[str, str] | None = None,
    yield_waiting: bool | None = None,
    heartbeat_ms: int = 500,
    config=None,
    partition: str | None = None,
    time: str | None = None,
    account: str | None = None,
    sbatch_args: list[str] | None = None,
    **cluster_kwargs,
) -> Iterator[RunningCluster]:
    """Start an ipyparallel cluster, yield a :class:`RunningCluster`, and always stop it.

    Parameters
    ----------
    n_engines : int
        Number of engines (MPI processes), at least 1.
    launcher : {"mpi", "local", "slurm"}
        ``"mpi"``: one ``mpiexec -n n_engines`` runs all engines, which share an MPI
        ``COMM_WORLD`` (needed by :func:`exemplar.parallel.train.run_exemplar`). ``"local"``: engines
        are independent local processes without MPI; ranks are the engine order. ``"slurm"``: one
        Slurm job of ``n_engines`` tasks runs them as one MPI world (``sbatch``, then
        ``srun --mpi=pmi2``; :mod:`exemplar.parallel.slurm`); the ``timeout`` includes its time in the queue.
    timeout : float
        Seconds to wait for all engines to register before raising :class:`ClusterError`.
    mpi_args : list of str, optional
        Extra arguments for ``mpiexec`` (``MPIEngineSetLauncher.mpi_args``), e.g. ``["-bind-to", "core"]``.
    hostfile : path, optional
        A host file for ``mpiexec`` (added to ``mpi_args`` as ``-f PATH``, which MPICH's Hydra reads).
    controller_ip : str, optional
        Interface the controller listens on; ``127.0.0.1`` (only this machine) by default, ``"*"``
        with ``launcher="slurm"``. Use e.g. ``"*"`` with ``controller_location`` (the address the engines
        connect to) to accept engines from other hosts. Beyond loopback the cluster is encrypted and
        authenticated (CurveZMQ; :mod:`exemplar.parallel.security`).
    controller_args, engine_args : list of str, optional
        Extra command-line arguments for ``ipcontroller`` / ``ipengine``.
    environment : dict, optional
        Extra environment variables for the engines (added to the thread caps).
    yield_waiting : bool, optional
        Make MPI ranks that wait in a collective sleep instead of spinning (:data:`YIELD_MPI_ENV`).
        ``None`` (default): only where the engines share cores, that is with ``launcher="mpi"``
        on this host alone (no ``hostfile``, no ``-hosts``) and ``n_engines`` above
        :func:`exemplar.results.usable_cores`. On several hosts their cores are not known here:
        pass ``True`` when they are oversubscribed. ``environment`` overrides it variable by variable;
        ``launcher="local"`` has no MPI and ignores it.
    heartbeat_ms : int
        Controller heartbeat period in ms. Registering takes about two periods (ipyparallel's 3000: ~6 s
        a start; 500: ~1 s); an engine is dead after 20 missed beats (its heart beats in a thread of its own).
    config : traitlets.config.Config, optional
        Further ipyparallel configuration. The arguments above take precedence, except that
        ``MPIEngineSetLauncher.mpi_cmd`` set here replaces the environment's own ``mpiexec``,
        and ``mpi_args`` / ``environment`` set here are extended by the arguments.
    partition, time, account : str, optional
        ``launcher="slurm"`` only: the job's ``sbatch --partition / --time / --account``; when not
        given, ``$EXEMPLAR_SLURM_PARTITION``, ``$EXEMPLAR_SLURM_TIME``, ``$EXEMPLAR_SLURM_ACCOUNT``.
    sbatch_args : list of str, optional
        ``launcher="slurm"`` only: further ``sbatch`` options (default: ``$EXEMPLAR_SLURM_ARGS``,
        split as a shell would).
    **cluster_kwargs
        Passed to :class:`ipyparallel.Cluster` (e.g. ``controller_location``, ``profile_dir``).

    Yields
    ------
    RunningCluster

    Raises
    ------
    ValueError
        For an unknown ``launcher``, a bad ``n_engines``, or options of another launcher (before anything starts).
    ClusterError
        If the engines do not all register within ``timeout`` seconds, or do not form one
        MPI world of ``n_engines`` ranks.
    exemplar.parallel.security.ConnectionSecurityError
        If CurveZMQ is needed but missing, or the connection files are not private (mode 0600) or lack its key.
    exemplar.parallel.slurm.SlurmJobError
        If ``sbatch`` refuses the job, or the job ends (``scancel``, a failed node, its time limit)
        while the cluster starts or is in use: naming the job id and its state.
    """
    check_choice("launcher", launcher, LAUNCHERS)
    n = check_positive_int("n_engines", n_engines)
    timeout = check_timeout(timeout, allow_none=False)
    check_positive_int("heartbeat_ms", heartbeat_ms, minimum=10)
    mpi_yield = _yield_waiting(yield_waiting, n, launcher, hostfile, mpi_args)
    slurm = _slurm_module().options_for(launcher, partition, time, account, sbatch_args)
    controller_ip = controller_ip or ("*" if launcher == "slurm" else "127.0.0.1")
    curve = security.curve_for(controller_ip)  # encrypted beyond loopback; the key in 0600 files only

    import ipyparallel as ipp

    environment = {**(YIELD_MPI_ENV if mpi_yield else {}), **(environment or {})}
    mpi_yield = launcher != "local" and all(environment.get(k) == v for k, v in YIELD_MPI_ENV.items())
    cfg, mpi_cmd = _configure(launcher, config, mpi_args, hostfile, controller_ip, engine_args, environment, slurm)
    # ipyparallel logs every engine's output at WARNING when engines are stopped by a signal (as every
    # cluster ends), flooding a notebook; real failures are raised here with the launcher's output.
    cluster_kwargs.setdefault("log_level", logging.ERROR)
    cluster_kwargs.setdefault("delay", 0)  # engines wait for the controller's connection info anyway
    cluster = ipp.Cluster(n=n, engines=launcher if slurm is None else _slurm_module().SlurmEngines,
                          controller_ip=controller_ip, engine_timeout=int(max(1, timeout)), config=cfg,
                          controller_args=[f"--HeartMonitor.period={int(heartbeat_ms)}", *security.controller_args(
                              curve), "--HeartMonitor.max_heartmonitor_misses=20", *(controller_args or [])],
                          **security.cluster_options(curve), **cluster_kwargs)
    started: dict[str, Any] = {"rc": None, "pids": set(), "job_id": None}
    # ends the cluster (and removes its connection files, cancels its Slurm job) if this process dies
    watchdog = start_watchdog(cluster.cluster_id, security_dir=os.path.dirname(cluster.cluster_file),
                              slurm_job_name=None if slurm is None else _slurm_module().job_name(cluster.cluster_id))
    try:
        running = _start(cluster, n, launcher, timeout, mpi_cmd, started, curve)
        running.mpi_yield = mpi_yield
        yield running
    except Exception as exc:  # a Slurm job that ended under the cluster: say so, by job id and state
        if started["job_id"] is not None:
            _slurm_module().raise_if_ended(started["job_id"], exc, lambda: _tail(cluster.engine_set))
        raise
    finally:
        try:
            job_id = started["job_id"]  # ended after the processes: raises unless Slurm lists it as ended
            stop_cluster(cluster, started["rc"], started["pids"],
                         after=None if job_id is None else lambda: _slurm_module().end_job(job_id))
        finally:
            stop_watchdog(watchdog)


def _slurm_module():
    """:mod:`exemplar.parallel.slurm`, imported when needed (it imports ipyparallel's launchers)."""
    from exemplar.parallel import slurm

    return slurm


def _yield_waiting(yield_waiting: bool | None, n: int, launcher: str, hostfile, mpi_args) -> bool:
    """Whether the engines get :data:`YIELD_MPI_ENV` (see ``start_cluster``'s ``yield_waiting``)."""
    if yield_waiting is not None:
        return check_bool("yield_waiting", yield_waiting) and launcher != "local"
    one_host = hostfile is None and not any(a in ("-hosts", "-f", "-hostfile") for a in list(mpi_args or []))
    return launcher == "mpi" and one_host and n > usable_cores()


def _configure(launcher: str, config, mpi_args, hostfile, controller_ip: str, engine_args, environment, slurm=None):
    """ipyparallel's configuration for :func:`start_cluster`, and the ``mpiexec`` command it uses.

    ``slurm`` (:class:`exemplar.parallel.slurm.SlurmOptions`) gives the batch script of ``launcher="slurm"``.
    """
    from traitlets.config import Config

    cfg = Config()
    if config is not None:
        cfg.merge(config)
    # mpiexec: this environment's own, unless a config names one explicitly
    mpi_cmd = list(cfg.MPIEngineSetLauncher.get("mpi_cmd", [])) or [str(mpiexec_path())]
    if launcher == "mpi" and len(mpi_cmd) == 1 and not Path(mpi_cmd[0]).exists():
        raise ClusterError(f"launcher='mpi' needs mpiexec next to the Python interpreter, at {mpi_cmd[0]}; not found")
    engine_launcher = {"mpi": "MPIEngineSetLauncher", "local": "LocalEngineSetLauncher",
                       "slurm": "SlurmEngines"}[launcher]
    configured_env = dict(cfg[engine_launcher].get("environment", {}))
    # One host (no host file, no -hosts, controller on loopback): keep MPI's sockets on loopback too.
    single_host = (launcher == "mpi" and hostfile is None and controller_ip in ("127.0.0.1", "localhost")
                   and not any(a in ("-hosts", "-f", "-hostfile", "-iface") for a in list(mpi_args or [])))
    loopback_env = LOOPBACK_MPI_ENV if single_host else {}
    cfg[engine_launcher].environment = {**{name: "1" for name in THREAD_ENV_VARS}, **loopback_env, **configured_env,
                                        **(environment or {})}
    if launcher == "mpi":
        args = (LOOPBACK_MPI_ARGS if single_host else []) + list(cfg.MPIEngineSetLauncher.get("mpi_args", [])) \
            + list(mpi_args or [])
        if hostfile is not None:
            args += ["-f", os.fspath(hostfile)]
        cfg.MPIEngineSetLauncher.mpi_cmd = mpi_cmd
        cfg.MPIEngineSetLauncher.mpi_args = args
    elif mpi_args or hostfile is not None:
        raise ValueError("mpi_args and hostfile apply only to launcher='mpi'")
    if slurm is not None:
        cfg.SlurmEngines.batch_template = _slurm_module().batch_template(slurm)
    if engine_args:
        cfg[engine_launcher].engine_args = list(engine_args)
    return cfg, mpi_cmd


def _start(cluster, n: int, launcher: str, timeout: float, mpi_cmd: list[str], started: dict,
           curve: bool = False) -> RunningCluster:
    """Start controller and engines, set the engines up and map them by rank.

    ``started`` collects the client (``"rc"``), the pids (``"pids"``) and the Slurm job (``"job_id"``)
    as they appear, so that :func:`~exemplar.parallel.watchdog.stop_cluster` can end whatever had started.
    """
    t0 = time.perf_counter()
    security_dir = security.private_security_dir(os.path.dirname(cluster.cluster_file))
    cluster.start_controller_sync()
    started["pids"] |= {getattr(cluster.controller, "pid", -1)} - {-1, 0, None}
    files = security.secure_connection_files(cluster.cluster_id, security_dir, curve, timeout, cluster.controller)
    cluster.start_engines_sync(n)
    engine_set = cluster.engine_set
    if engine_set is not None and getattr(engine_set, "pid", -1) > 0:
        started["pids"].add(engine_set.pid)
    if launcher == "slurm":
        started["job_id"] = engine_set.job_id
    security.check_connection_files(files, curve)
    rc = started["rc"] = cluster.connect_client_sync()
    wait_for_engines(rc, cluster, n, timeout, started["job_id"])
    ids = sorted(rc.ids)[:n]
    try:
        infos = set_up(rc, ids, cluster, _engine_setup, launcher != "local", timeout)
    except ClusterError:
        raise
    except Exception as exc:  # ipyparallel's CompositeError/EngineError: say what failed, in the cluster's words
        detail = "; ".join(line.strip() for line in str(exc).splitlines()[:4] if line.strip())
        raise ClusterError(f"the engines failed while being set up ({type(exc).__name__}: {detail}); "
                           f"engine launcher output:\n{_tail(cluster.engine_set)}") from exc
    started["pids"].update(info["pid"] for info in infos if info["host"] == socket.gethostname())
    if launcher != "local":
        ranks = [info["rank"] for info in infos]
        sizes = {info["size"] for info in infos}
        if sizes != {n} or sorted(ranks) != list(range(n)):
            mpi = "srun --mpi=pmi2" if launcher == "slurm" else mpi_cmd[0]
            raise ClusterError(f"the {n} engines do not form one MPI world of {n} ranks (ranks {ranks}, world "
                               f"sizes {sorted(sizes)}); is {mpi} starting the MPI that mpi4py was built against?")
        if started["job_id"] is not None:
            _slurm_module().check_tasks(infos, started["job_id"])
    else:
        ranks = list(range(n))
    rank_of = dict(zip(ids, ranks))
    engine_of = {r: e for e, r in rank_of.items()}
    view = rc[[engine_of[r] for r in range(n)]]
    view.block = True
    by_rank = sorted(zip(ranks, infos))
    for rank, info in by_rank:
        info["rank"] = rank
        info["engine_id"] = engine_of[rank]
    running = RunningCluster(rc=rc, view=view, rank_of=rank_of, engine_of=engine_of, n=n, launcher=launcher,
                             start_seconds=time.perf_counter() - t0, cluster=cluster,
                             engine_info=[info for _, info in by_rank], job_id=started["job_id"])
    started["pids"] |= running.known_pids()
    return running
