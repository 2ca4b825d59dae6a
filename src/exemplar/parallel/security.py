"""An encrypted, authenticated cluster whenever its controller listens beyond this machine.

:func:`exemplar.parallel.cluster.start_cluster` asks :func:`wants_curve` whether the controller
listens on anything but loopback (``controller_ip="*"``, an outside address, and always with
``launcher="slurm"``). If so, the cluster runs ipyparallel's CurveZMQ: the controller makes a key
pair when it starts (``IPController.enable_curve``), and every socket between the controller and
the client or the engines is encrypted and authenticated with it. A client or an engine must know
the controller's public key (``curve_serverkey``) to complete the handshake at all; one that holds
another key cannot register, send or receive anything (ZeroMQ drops its connection, and the engine
gives up registering after ``IPEngine.timeout`` seconds). With CurveZMQ on, ipyparallel leaves its
HMAC message signing off (``Session.key`` empty): the handshake authenticates the controller to every
peer, and only a peer that knows its public key gets a connection at all (the public key is the
credential, like the HMAC key it replaces).

**The key lives in the connection files only.** ipyparallel would also hand the engines their
connection information in ``$IPP_CONNECTION_INFO``, which ``mpiexec`` (Hydra) and ``srun`` copy to
every host in the clear and ``/proc/PID/environ`` shows; :func:`cluster_options` turns that off
(``Cluster.send_engines_connection_env=False``), so the engines read the controller's engine
connection file, as the README's multi-host recipe has them do anyway. :func:`secure_connection_files`
then holds the profile's security folder to mode 0700 and the cluster's files in it to 0600
(:data:`CONNECTION_FILE_MODE`), and checks that the key is in them.

What is **not** encrypted: MPI's own traffic between the ranks (the shards' ``Scatterv``, the
``Allreduce`` of the weights), which the ``mpich`` wheel sends over plain TCP (``ch4:ofi`` / UCX)
between hosts, and Hydra's control connections. Keep those on a private network.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from pathlib import Path

#: Addresses that mean "this machine only": a controller listening there needs no encryption.
LOOPBACK_IPS = frozenset({"127.0.0.1", "localhost", "::1"})

#: The mode of the cluster's connection files (owner read/write) and of the folder that holds them.
CONNECTION_FILE_MODE = 0o600
SECURITY_DIR_MODE = 0o700

#: Seconds the controller gets, at least, to write its connection files.
CONTROLLER_SECONDS = 60.0

#: What an engine whose key is wrong logs before it exits (ipyparallel's ``IPEngine.abort``).
REGISTRATION_TIMED_OUT = "Registration timed out"


class ConnectionSecurityError(RuntimeError):
    """CurveZMQ cannot be used here, or the cluster's connection files are not private or lack the key."""


def wants_curve(controller_ip: str) -> bool:
    """Whether a controller listening on ``controller_ip`` gets CurveZMQ: anything but loopback.

    Parameters
    ----------
    controller_ip : str
        The interface the controller listens on (``"127.0.0.1"``, ``"*"``, ``"10.0.0.1"``, ...).

    Returns
    -------
    bool
        ``False`` for ``127.0.0.0/8``, ``localhost`` and ``::1``; ``True`` otherwise.
    """
    ip = str(controller_ip).strip()
    return not (ip in LOOPBACK_IPS or ip.startswith("127."))


def curve_for(controller_ip: str) -> bool:
    """:func:`wants_curve`, after checking that this pyzmq can do CurveZMQ when it is wanted
    (:class:`ConnectionSecurityError` naming the fix otherwise)."""
    curve = wants_curve(controller_ip)
    if curve:
        check_curve_available()
        quiet_signing_warning()
    return curve


class _SigningWarning(logging.Filter):
    """Drops jupyter_client's "Message signing is disabled" warning: CurveZMQ authenticates the messages."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Message signing is disabled")


def quiet_signing_warning() -> None:
    """Keep the client's session from warning that HMAC signing is off (CurveZMQ's handshake authenticates
    both ends instead; ipyparallel turns the signing off with CurveZMQ), once per process."""
    logger = logging.getLogger("traitlets")
    if not any(isinstance(f, _SigningWarning) for f in logger.filters):
        logger.addFilter(_SigningWarning())


def check_curve_available() -> None:
    """Raise :class:`ConnectionSecurityError` if this pyzmq's libzmq cannot do CurveZMQ, naming the fix."""
    import zmq

    if not zmq.has("curve"):
        raise ConnectionSecurityError(
            f"the controller listens beyond this machine, so the cluster must be encrypted (CurveZMQ), but "
            f"pyzmq {zmq.__version__}'s libzmq {zmq.zmq_version()} was built without CURVE; install pyzmq's "
            "wheel (pip install --force-reinstall pyzmq), whose bundled libzmq has it")


def controller_args(curve: bool) -> list[str]:
    """The ``ipcontroller`` arguments that turn CurveZMQ on (``[]`` when ``curve`` is false)."""
    return ["--IPController.enable_curve=True"] if curve else []


def cluster_options(curve: bool) -> dict:
    """:class:`ipyparallel.Cluster` options for ``curve``: the engines read the connection file,
    not ``$IPP_CONNECTION_INFO`` (which would carry the key through the launcher's environment)."""
    return {"send_engines_connection_env": False} if curve else {}


def connection_files(cluster_id: str, security_dir: str | os.PathLike) -> dict[str, Path]:
    """The cluster's files in ``security_dir``: ``"cluster"``, ``"client"`` and ``"engine"``."""
    folder = Path(security_dir)
    return {"cluster": folder / f"cluster-{cluster_id}.json",
            "client": folder / f"ipcontroller-{cluster_id}-client.json",
            "engine": folder / f"ipcontroller-{cluster_id}-engine.json"}


def private_security_dir(security_dir: str | os.PathLike) -> Path:
    """Create ``security_dir`` if needed and hold it to mode 0700 (before the controller writes into it).

    Raises
    ------
    ConnectionSecurityError
        If it belongs to another user (its mode cannot be ours to set).
    """
    folder = Path(security_dir)
    folder.mkdir(mode=SECURITY_DIR_MODE, parents=True, exist_ok=True)
    if folder.stat().st_uid != os.geteuid():
        raise ConnectionSecurityError(f"the profile's security folder {folder} belongs to another user (uid "
                                      f"{folder.stat().st_uid}); give start_cluster a profile_dir= of your own")
    os.chmod(folder, SECURITY_DIR_MODE)
    return folder


def serverkey(path: str | os.PathLike) -> str | None:
    """The controller's public key (``curve_serverkey``) in connection file ``path``; ``None`` if it has none."""
    try:
        return json.loads(Path(path).read_text()).get("curve_serverkey") or None
    except (OSError, ValueError):
        return None


def secure_connection_files(cluster_id: str, security_dir: str | os.PathLike, curve: bool,
                            timeout: float = 30.0, controller=None) -> dict[str, Path]:
    """Wait for the controller's connection files, set them (and the cluster file) to mode 0600, check them.

    Parameters
    ----------
    cluster_id : str
        The cluster's id.
    security_dir : path
        The profile's security folder, where ipyparallel writes them.
    curve : bool
        Whether the controller was started with CurveZMQ: then both the client's and the engines'
        file must hold its public key.
    timeout : float
        Seconds to wait for the controller to write them (at least :data:`CONTROLLER_SECONDS`).
    controller : ipyparallel launcher, optional
        The controller's launcher: stop waiting if it has exited.

    Returns
    -------
    dict
        :func:`connection_files`.

    Raises
    ------
    ConnectionSecurityError
        If the files do not appear (within ``timeout`` seconds, or before the controller exits), keep a
        mode other than 0600, or lack the key.
    """
    files = connection_files(cluster_id, security_dir)
    deadline = time.monotonic() + max(timeout, CONTROLLER_SECONDS)
    while not (files["client"].exists() and files["engine"].exists()):
        exited = getattr(controller, "state", None) == "after"
        if exited or time.monotonic() > deadline:
            when = "before it exited" if exited else f"within {max(timeout, CONTROLLER_SECONDS):g} s"
            raise ConnectionSecurityError(f"the controller wrote no connection files ({files['engine']}) {when}; "
                                          "see its log in the profile's log folder")
        time.sleep(0.05)
    for path in files.values():
        if path.exists():
            os.chmod(path, CONNECTION_FILE_MODE)
    check_connection_files(files, curve)
    return files


def check_connection_files(files: dict[str, Path], curve: bool) -> None:
    """Raise :class:`ConnectionSecurityError` if a file of ``files`` is not mode 0600, or (``curve``) lacks the key."""
    for path in files.values():
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
        if mode is not None and mode != CONNECTION_FILE_MODE:
            raise ConnectionSecurityError(f"connection file {path} has mode {mode:o}, not 600: anyone who reads it "
                                          f"can join the cluster; chmod 600 it (and 700 its folder)")
    if curve:
        for name in ("client", "engine"):
            if serverkey(files[name]) is None:
                raise ConnectionSecurityError(f"the controller listens beyond this machine but its {name} connection "
                                              f"file {files[name]} holds no CurveZMQ key (curve_serverkey): the "
                                              "cluster would not be encrypted")


def registration_hint(cluster, output: str) -> str:
    """What to add to an "engines did not register" error when ``cluster`` is encrypted ("" when not).

    An engine that holds another controller's key (a stale copy of the connection file, a profile
    folder that is not shared) cannot complete CurveZMQ's handshake; it logs
    :data:`REGISTRATION_TIMED_OUT` and exits. ``cluster`` is the :class:`ipyparallel.Cluster`,
    ``output`` the engine launcher's.
    """
    engine_file = connection_files(cluster.cluster_id, os.path.dirname(cluster.cluster_file))["engine"]
    if serverkey(engine_file) is None:
        return ""
    seen = "engines timed out registering, and " if REGISTRATION_TIMED_OUT in output else ""
    return (f"; the cluster is encrypted (CurveZMQ): {seen}an engine whose connection file holds another "
            f"controller's key (curve_serverkey) cannot register: every engine must read this controller's own "
            f"{engine_file} (a shared profile folder, not a copy) and reach its ports")
