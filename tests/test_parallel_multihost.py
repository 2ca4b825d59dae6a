"""Engines on two hosts: the README's multi-host recipe, run between two network namespaces.

The test builds two Linux network namespaces joined by a veth pair -- two "hosts", 10.77.0.1 and
10.77.0.2, each with its own network stack and its own host name -- and runs this file as a
script (the *driver*) on the first one. The driver starts the cluster exactly as the README's
"Point the cluster at more machines" section says (a host file, ``controller_ip="*"``,
``controller_location``), with Hydra's ssh launcher pointed at a small script that enters the
other namespace where a real cluster would ssh to the other machine. It runs
:func:`run_exemplar` with two engines per host, then the same runs with four engines on one host,
and reports both.

The test checks that

* ranks 0-1 ran on the first host and ranks 2-3 on the second (their own host names);
* the shards of ranks 2-3 crossed the veth: its transmit counter on the first host grew, during
  the scatter alone, by at least their bytes (MPI over TCP between the hosts, not shared memory);
* so did the periodic strategy's weight averages (``MPI.Allreduce`` between the hosts);
* the combined models (one-shot and periodic) equal the single-host runs bit for bit;
* ipyparallel's traffic over the veth is encrypted: a capture on the first host's end of it (a raw
  ``AF_PACKET`` socket, from before the cluster starts to after its runs, no packet dropped) sees
  every ZeroMQ connection greet with the CURVE mechanism and none of their bytes hold a pickle's
  header, a message's ``msg_type``, ``numpy`` or the controller's key, while MPI's own TCP
  connections, captured alike, do carry the shards' pixels in the clear (the capture sees payloads);
* an engine whose connection file holds another key cannot register: with the second host reading
  a forged copy, ``start_cluster`` fails within its timeout naming the CurveZMQ key and the file,
  and nothing of that cluster is left;
* nothing is left afterwards: no namespace, no veth, no process.

Two namespaces share one kernel, so UCX (the ``mpich`` wheel's default network module) would
reach the other "host" through shared memory; the driver forbids that with ``UCX_TLS=tcp,self``,
which is what it gets between real machines. Where namespaces cannot be made (not root, no
``ip`` / ``unshare``), the test is skipped with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.mpi, pytest.mark.slow]

#: The two hosts' addresses, only ever given to the veth ends inside the test's own namespaces.
HOST_IPS = ("10.77.0.1", "10.77.0.2")
ENGINES_PER_HOST = 2
N_TRAIN = 2000
DRIVER_TIMEOUT = 200
WRONG_KEY_TIMEOUT = 20

#: Hydra's ssh launcher runs ``LAUNCHER -x HOST COMMAND``, as it would run ``ssh -x HOST COMMAND``.
LAUNCHER_SCRIPT = """#!/bin/sh
# Hydra's ssh launcher calls this as it would call ssh: [OPTIONS] HOST COMMAND...
# Instead of logging in to HOST, enter HOST's network namespace (and a UTS namespace, for its own
# host name) and run COMMAND there, through a shell as sshd would.
while [ $# -gt 0 ]; do case "$1" in -*) shift ;; *) break ;; esac; done
host="$1"; shift
case "$host" in
{cases}
  *) echo "$0: unknown host $host" >&2; exit 2 ;;
esac
if [ -n "$FORGE_KEY_HOST" ] && [ "$host" = "$FORGE_KEY_HOST" ]; then
  # this host reads a copy of the engines' connection file whose CurveZMQ key is another one
  real="$IPP_PROFILE_DIR/security/ipcontroller-$IPP_CLUSTER_ID-engine.json"
  forged="$FORGE_KEY_DIR/engine-$IPP_CLUSTER_ID.json"
  {python} -I -c "$FORGE_KEY_PY" "$real" "$forged" || exit 3
  exec ip netns exec "$ns" unshare --uts --mount sh -c "mount --bind $forged $real && hostname $name && exec $*"
fi
exec ip netns exec "$ns" unshare --uts sh -c "hostname $name && exec $*"
"""

#: Copies connection file argv[1] to argv[2] with the controller's key replaced by a fresh one.
FORGE_KEY_PY = (
    "import json, sys, zmq; d = json.load(open(sys.argv[1])); assert d['curve_serverkey']; "
    "d['curve_serverkey'] = zmq.curve_keypair()[0].decode(); json.dump(d, open(sys.argv[2], 'w'))"
)


# ---------------------------------------------------------------------------- the namespaces

def _namespace_problem() -> str | None:
    """Why two namespaces cannot be made here, or ``None`` if they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (run `make test` as root to test engines on two hosts)"
    for tool, package in (("ip", "iproute2"), ("unshare", "util-linux")):
        if shutil.which(tool) is None:
            return f"no `{tool}` on PATH (apt-get install -y {package})"
    probe = f"exmhprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _namespace_pids(ns: str) -> list[int]:
    done = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    return [int(p) for p in done.stdout.split()] if done.returncode == 0 else []


def _make_hosts(names: list[str], links: list[str]) -> None:
    """Two namespaces, a veth pair between them (one end in each), addresses and links up."""
    for ns in names:
        _ip("netns", "add", ns)
    _ip("link", "add", links[0], "netns", names[0], "type", "veth", "peer", "name", links[1], "netns", names[1])
    for ns, link, addr in zip(names, links, HOST_IPS):
        _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", link)
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "link", "set", link, "up")


def _remove_hosts(names: list[str], grace: float = 8.0) -> list[str]:
    """Kill what still runs in the namespaces after ``grace`` seconds, delete them; returns what had to be killed.

    The grace lets a cluster's watchdog end its processes when the driver itself was killed.
    """
    deadline = time.monotonic() + grace
    while any(_namespace_pids(ns) for ns in names) and time.monotonic() < deadline:
        time.sleep(0.2)
    killed = []
    for ns in names:
        for pid in _namespace_pids(ns):
            try:
                killed.append(f"pid {pid} in {ns}: {Path(f'/proc/{pid}/cmdline').read_bytes()[:80]!r}")
                os.kill(pid, 9)
            except OSError:
                continue
    time.sleep(0.5 if killed else 0)
    for ns in names:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    return killed


@pytest.fixture
def two_hosts(tmp_path):
    """Two "hosts" (network namespaces) joined by a veth pair; removed afterwards, even on failure."""
    problem = _namespace_problem()
    if problem is not None:
        pytest.skip(f"ENGINES ON TWO HOSTS NOT TESTED: {problem}")
    tag = f"exmh{os.getpid()}"
    names, links = [f"{tag}a", f"{tag}b"], [f"{tag}a", f"{tag}b"]
    hosts = {"namespaces": names, "links": links, "ips": list(HOST_IPS), "dir": tmp_path}
    try:
        _make_hosts(names, links)
        cases = "\n".join(f'  {ip}) ns={ns}; name=host{i} ;;' for i, (ip, ns) in enumerate(zip(HOST_IPS, names)))
        launcher = tmp_path / "enter-host.sh"
        launcher.write_text(LAUNCHER_SCRIPT.format(cases=cases, python=sys.executable))
        launcher.chmod(0o755)
        hostfile = tmp_path / "hosts.txt"
        hostfile.write_text("".join(f"{ip}:{ENGINES_PER_HOST}\n" for ip in HOST_IPS))
        hosts.update(launcher=launcher, hostfile=hostfile)
        yield hosts
    finally:
        hosts["killed"] = _remove_hosts(names)
        _check_nothing_left(hosts)


def _check_nothing_left(hosts: dict) -> None:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left = [ns for ns in hosts["namespaces"] if ns in listed.split()]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    left += [link for link in hosts["links"] if f" {link}:" in links or f" {link}@" in links]
    assert not left, f"left behind: {left}"
    assert not hosts["killed"], f"processes still ran in the namespaces after the driver ended: {hosts['killed']}"


# ---------------------------------------------------------------------------- the test

def test_engines_on_two_hosts_train_the_single_host_model_over_the_veth(two_hosts):
    names, out = two_hosts["namespaces"], two_hosts["dir"] / "driver.json"
    args = ["--out", str(out), "--hostfile", str(two_hosts["hostfile"]), "--launcher", str(two_hosts["launcher"]),
            "--link", two_hosts["links"][0], "--controller", HOST_IPS[0]]
    command = ["ip", "netns", "exec", names[0], "unshare", "--uts", "sh", "-c",
               'hostname host0 && exec "$@"', "sh", sys.executable, os.path.abspath(__file__), *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=DRIVER_TIMEOUT)
    except subprocess.TimeoutExpired as exc:  # the cluster's watchdog ends the engines; the fixture the rest
        pytest.fail(f"the driver took more than {DRIVER_TIMEOUT} s; its output:\n{exc.stderr}")
    assert done.returncode == 0, f"driver failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-4000:]}"
    report = json.loads(out.read_text())
    two, one = report["two_hosts"], report["one_host"]

    # two engines on each host, by their own host names
    assert two["hosts"] == ["host0"] * 2 + ["host1"] * 2, two["hosts"]
    assert set(one["hosts"]) == {"host0"}
    # the shards of host1's ranks crossed the veth, during the scatter alone
    remote_bytes = sum(n * 784 for n, h in zip(two["shard_rows"], two["hosts"]) if h == "host1")
    assert remote_bytes >= 2 * (N_TRAIN // 4) * 784
    assert two["scatter_tx_bytes"] >= remote_bytes, (two["scatter_tx_bytes"], remote_bytes)
    # ... and on one host nothing went over it
    assert one["scatter_tx_bytes"] < remote_bytes / 10
    # same shards, same models, bit for bit
    assert two["shard_checksums"] == one["shard_checksums"]
    for strategy in ("one-shot", "periodic"):
        assert two[strategy]["weights_sha256"] == one[strategy]["weights_sha256"], strategy
        assert two[strategy]["accuracy_pct"] == one[strategy]["accuracy_pct"], strategy
    assert two["one-shot"]["accuracy_pct"] > 50
    # the periodic run's averages crossed it too: the second host cannot hold the sum without the
    # first host's whole buffer, so beyond the run's own scatter at least comm_bytes (buffer x
    # rounds) went over (5 % allowed for the scatter's share measured apart)
    periodic = two["periodic"]
    assert periodic["comm_rounds"] == 5 and periodic["comm_bytes"] > 0
    assert periodic["tx_bytes"] - two["scatter_tx_bytes"] >= 0.95 * periodic["comm_bytes"], periodic

    # ipyparallel's traffic over the veth is encrypted; MPI's is not
    cap = report["capture"]
    assert cap["dropped"] == 0 and cap["packets"] > 0, cap
    assert cap["zmq_flows"] >= 2 * ENGINES_PER_HOST and cap["zmq_bytes"] > 50_000, cap
    assert cap["zmq_mechanisms"] == ["CURVE"], cap
    assert cap["zmq_plaintext"] == [], cap  # no pickle header, msg_type, numpy, pixels or key in them
    assert any(m.startswith("pixels") for m in cap["mpi_plaintext"]), cap  # the shards crossed in MPI's clear TCP
    assert "key" not in cap["mpi_plaintext"], cap  # the key is in the connection file only, not in Hydra's env
    # ... where the same capture of a loopback cluster (not encrypted) finds them in the clear
    control = report["loopback_capture"]
    assert control["dropped"] == 0 and control["zmq_mechanisms"] == ["NULL"], control
    assert {"pickle", "msg_type", "numpy"} <= set(control["zmq_plaintext"]), control
    assert report["files"]["modes"] == {"cluster": "600", "client": "600", "engine": "600"}, report["files"]
    assert report["files"]["key_in_engine_env"] is False

    # an engine holding another key cannot register: the start fails within its timeout, saying why
    wrong = report["wrong_key"]
    assert wrong["error"] is not None, wrong
    assert "ClusterError" in wrong["error"] and "CurveZMQ" in wrong["error"], wrong["error"]
    assert "curve_serverkey" in wrong["error"] and "-engine.json" in wrong["error"], wrong["error"]
    assert "only 2 of 4 engines registered" in wrong["error"] or "(2 did)" in wrong["error"], wrong["error"]
    assert wrong["seconds"] < WRONG_KEY_TIMEOUT + 15, wrong
    assert wrong["left"] == [], wrong


# ---------------------------------------------------------------------------- the driver

def _weights_digest(model) -> str:
    model = getattr(model, "model", model)  # the MLP inside the PixelScaledModel
    digest = hashlib.sha256()
    for array in [*model.coefs_, *model.intercepts_]:
        digest.update(array.tobytes())
    return digest.hexdigest()


def _tx_bytes(link: str) -> int:
    return int(Path(f"/sys/class/net/{link}/statistics/tx_bytes").read_text())


def _runs(cl, link: str) -> dict:
    """Scatter alone (counting the veth's bytes), then one-shot and periodic runs on cluster ``cl``."""
    from exemplar import config, data
    from exemplar.parallel.shards import csv_source
    from exemplar.parallel.distribute import distribute_only
    from exemplar.parallel.train import run_exemplar

    source = csv_source(config.data_dir() / config.MNIST_TRAIN_CSV, N_TRAIN)
    X_test, y_test = data.load_mnist("test", n_rows=500)
    before = _tx_bytes(link)
    shards = distribute_only(cl, source, timeout=60)
    report = {"scatter_tx_bytes": _tx_bytes(link) - before, "hosts": [i["host"] for i in cl.engine_info],
              "shard_rows": [s["n_rows"] for s in shards], "shard_checksums": [s["checksum"] for s in shards]}
    for strategy, epochs in (("one-shot", 30), ("periodic", 5)):
        before = _tx_bytes(link)
        result = run_exemplar(cl, source, X_test, y_test, hidden=20, epochs=epochs, seed=0, strategy=strategy,
                              scale_inputs=True, timeout=60)
        report[strategy] = {"weights_sha256": _weights_digest(result.model), "accuracy_pct": result.accuracy_pct,
                            "tx_bytes": _tx_bytes(link) - before, "comm_bytes": result.comm_bytes,
                            "comm_rounds": result.comm_rounds}
    return report


class _Capture:
    """Every TCP segment on ``link`` (a raw ``AF_PACKET`` socket, both directions), read by a thread,
    kept as byte streams per direction of each connection."""

    def __init__(self, link: str):
        import socket
        import threading

        self.skip_outgoing = link == "lo"  # loopback shows each packet twice: going out and coming in
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))  # ETH_P_ALL
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 256 << 20)  # SO_RCVBUFFORCE: 256 MiB, none dropped
        self.sock.bind((link, 0))
        self.sock.settimeout(0.2)
        self.streams: dict[tuple, bytearray] = {}
        self.packets = 0
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        import socket

        while self.running:
            try:
                frame, address = self.sock.recvfrom(1 << 18)
            except socket.timeout:
                continue
            if self.skip_outgoing and address[2] == socket.PACKET_OUTGOING:
                continue
            if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:  # IPv4, TCP
                continue
            ihl = (frame[14] & 0x0F) * 4
            total = int.from_bytes(frame[16:18], "big")
            tcp = 14 + ihl
            offset = (frame[tcp + 12] >> 4) * 4
            payload = frame[tcp + offset:14 + total if total else len(frame)]  # length 0: a GSO super-packet
            self.packets += 1
            if payload:
                key = (frame[26:30], int.from_bytes(frame[tcp:tcp + 2], "big"),
                       frame[30:34], int.from_bytes(frame[tcp + 2:tcp + 4], "big"))
                self.streams.setdefault(key, bytearray()).extend(payload)

    def stop(self) -> int:
        """Stop reading; the packets the kernel dropped (``PACKET_STATISTICS``)."""
        import struct

        time.sleep(0.5)
        self.running = False
        self.thread.join()
        _, drops = struct.unpack("II", self.sock.getsockopt(263, 6, 8))  # SOL_PACKET, PACKET_STATISTICS
        self.sock.close()
        return drops


#: ZeroMQ's ZMTP 3 greeting: signature (10 bytes), version (2), mechanism (20, NUL padded), ...
ZMTP_SIGNATURE = (b"\xff", b"\x7f")


def _is_zmtp(stream: bytes) -> bool:
    return len(stream) >= 32 and stream[:1] == ZMTP_SIGNATURE[0] and stream[9:10] == ZMTP_SIGNATURE[1]


def _plaintext(stream: bytes, markers: dict[str, bytes]) -> list[str]:
    return [name for name, marker in markers.items() if re.search(marker, stream)]


def _read_capture(capture: _Capture, markers: dict[str, bytes]) -> dict:
    """Sort the captured streams into ZeroMQ's (ipyparallel) and the rest (MPI, Hydra); what each holds."""
    dropped = capture.stop()
    zmq_streams = [bytes(s) for s in capture.streams.values() if _is_zmtp(s)]
    other = [bytes(s) for s in capture.streams.values() if not _is_zmtp(s)]
    return {"packets": capture.packets, "dropped": dropped, "zmq_flows": len(zmq_streams),
            "zmq_bytes": sum(map(len, zmq_streams)), "other_bytes": sum(map(len, other)),
            "zmq_mechanisms": sorted({s[12:32].rstrip(b"\0").decode("ascii", "replace") for s in zmq_streams}),
            "zmq_plaintext": sorted({m for s in zmq_streams for m in _plaintext(s, markers)}),
            "mpi_plaintext": sorted({m for s in other for m in _plaintext(s, markers)})}


def _markers(key: str) -> dict[str, bytes]:
    """What plaintext would show (as regular expressions): a pickle's header, ipyparallel's JSON headers,
    numpy's name (pickled arrays), the controller's key, the second host's pixels.

    A pickle (protocol 4 or 5) starts ``PROTO n, FRAME <8-byte length>``: with the length below
    16 MiB, 8 fixed bytes, which 3 random bytes of ciphertext would match once in 16 MiB.
    """
    from exemplar import config
    from exemplar.parallel.shards import csv_source, read_source

    X, _ = read_source(csv_source(config.data_dir() / config.MNIST_TRAIN_CSV, N_TRAIN))
    windows = []  # from host1's rows: 32 bytes from a row's first ink after its 300th pixel
    for row in X[N_TRAIN // 2::100]:
        start = 300 + int(row[300:].nonzero()[0][0])
        windows.append(bytes(row[start:start + 32]))
    return {"pickle": rb"\x80[\x04\x05]\x95[\s\S]{3}\x00{5}", "msg_type": b'"msg_type"', "numpy": b"numpy",
            "key": re.escape(key.encode("ascii")), **{f"pixels{i}": re.escape(w) for i, w in enumerate(windows)}}


def _wrong_key(hostfile: str, launcher: str, forge_dir: str) -> dict:
    """Start the two-host cluster with the second host reading a connection file of another key."""
    from exemplar.parallel.cluster import start_cluster

    env = {"UCX_TLS": "tcp,self", "FORGE_KEY_HOST": HOST_IPS[1], "FORGE_KEY_DIR": forge_dir,
           "FORGE_KEY_PY": FORGE_KEY_PY}
    t0, error = time.monotonic(), None
    try:
        with start_cluster(2 * ENGINES_PER_HOST, hostfile=hostfile, controller_ip="*",
                           controller_location=HOST_IPS[0], mpi_args=["-launcher", "ssh", "-launcher-exec", launcher],
                           environment=env, timeout=WRONG_KEY_TIMEOUT):
            pass
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.monotonic() - t0
    import psutil

    left = [f"{p.pid} {p.name()}" for p in psutil.Process().children(recursive=True)]
    return {"error": error, "seconds": seconds, "left": left}


def _files(cl) -> dict:
    """The modes of the cluster's connection files, and whether an engine's environment holds the key."""
    import psutil

    from exemplar.parallel import security

    files = security.connection_files(cl.cluster_id, Path(cl.cluster.cluster_file).parent)
    key = security.serverkey(files["engine"])
    envs = [psutil.Process(i["pid"]).environ() for i in cl.engine_info if i["host"] == "host0"]
    return {"modes": {name: f"{path.stat().st_mode & 0o777:o}" for name, path in files.items()},
            "key": key, "key_in_engine_env": any(key in v for env in envs for v in env.values())}


def _driver(argv: list[str]) -> int:
    """Run on the first host: the README's recipe on both hosts, then the same on this host alone."""
    import argparse
    import warnings

    from exemplar.parallel.cluster import start_cluster

    parser = argparse.ArgumentParser()
    for name in ("--out", "--hostfile", "--launcher", "--link", "--controller"):
        parser.add_argument(name, required=True)
    a = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    n = 2 * ENGINES_PER_HOST
    capture = _Capture(a.link)  # from before the controller starts: every connection's greeting
    with start_cluster(n, hostfile=a.hostfile, controller_ip="*", controller_location=a.controller,
                       mpi_args=["-launcher", "ssh", "-launcher-exec", a.launcher],
                       environment={"UCX_TLS": "tcp,self"}, timeout=90) as cl:
        files = _files(cl)
        two = _runs(cl, a.link)
    captured = _read_capture(capture, _markers(files.pop("key")))
    wrong = _wrong_key(a.hostfile, a.launcher, str(Path(a.out).parent))
    capture = _Capture("lo")  # the control: on loopback ipyparallel is not encrypted, and the capture sees it
    with start_cluster(n, timeout=90) as cl:
        one = _runs(cl, a.link)
    control = _read_capture(capture, _markers("no key"))
    Path(a.out).write_text(json.dumps({"two_hosts": two, "one_host": one, "capture": captured, "files": files,
                                       "wrong_key": wrong, "loopback_capture": control}))
    return 0


if __name__ == "__main__":
    sys.exit(_driver(sys.argv[1:]))
