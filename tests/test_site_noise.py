"""What a person sees when a chapter runs, and when they press Ctrl-C: one line, no noise (issue 16, item 8)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

EXEMPLAR = str(Path(sys.executable).parent / "exemplar")
NOISE = ("without encryption", "Traceback", "ZMQError", "Task exception was never retrieved", "RuntimeWarning")


def _run_processes(marker: str) -> list[psutil.Process]:
    """Processes whose environment carries ``EXEMPLAR_RESULTS=marker`` (the run's kernel, cluster, watchdog)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("EXEMPLAR_RESULTS") == marker:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


@pytest.mark.slow
def test_a_chapter_runs_without_the_kernels_tcp_warning(tmp_path):
    env = {**os.environ, "EXEMPLAR_RESULTS": str(tmp_path / "results")}
    proc = subprocess.run([EXEMPLAR, "run", "01-data", "--output-dir", str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not [n for n in NOISE if n in proc.stderr], proc.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.mpi
def test_ctrl_c_says_one_line_and_leaves_nothing_running(tmp_path):
    marker = str(tmp_path / "results")
    env = {**os.environ, "EXEMPLAR_RESULTS": marker}
    run = subprocess.Popen([EXEMPLAR, "run", "03-exemplar-parallel", "-p", "engine_counts", "[1, 2]", "-p", "repeats",
                            "5", "-p", "n_train", "3000", "--output-dir", str(tmp_path)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # a loaded 2-core machine is slow to get there
        while not any(p.name() in ("mpiexec", "hydra_pmi_proxy") for p in _run_processes(marker)):
            assert run.poll() is None and time.monotonic() < deadline, "the chapter never started its cluster"
            time.sleep(0.5)
        time.sleep(2)
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole foreground group
        _, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "interrupted", err[-2000:]
    assert not [n for n in NOISE if n in err], err[-3000:]
    _, left = psutil.wait_procs(_run_processes(marker), timeout=30)
    assert not left, [f"{p.name()} (pid {p.pid})" for p in left]
