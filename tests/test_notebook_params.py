"""Bad parameters fail in the notebook's first cell, naming the parameter, before any work or cluster starts."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from exemplar.site import notebooks as report

CASES = [
    ("02-sequential-sweep", {"hidden_sizes": [0]}, r"hidden_sizes\[0\] must be an integer of at least 1"),
    ("02-sequential-sweep", {"epochs": [50, -5]}, r"epochs\[1\] must be an integer of at least 1"),
    ("02-sequential-sweep", {"n_train": 70000}, r"n_train must be an integer of at least 1 and at most 60000"),
    ("02-sequential-sweep", {"repeats": 0}, r"repeats must be an integer of at least 1"),
    ("03-exemplar-parallel", {"engine_counts": [0]}, r"engine_counts\[0\] must be an integer of at least 1"),
    ("03-exemplar-parallel", {"engine_counts": [2, 200], "n_train": 100},
     r"engine_counts\[1\] must be an integer of at least 1 and at most 100"),
    ("03-exemplar-parallel", {"launcher": "slurm"}, r"launcher must be 'mpi'"),
    ("03-exemplar-parallel", {"hidden": 0, "epochs": 75}, r"hidden must be an integer of at least 1"),
    ("03-exemplar-parallel", {"hidden": 75, "epochs": -1}, r"epochs must be an integer of at least 1"),
    ("03-exemplar-parallel", {"retries": -1}, r"retries must be an integer of at least 0"),
]


@pytest.mark.slow
@pytest.mark.parametrize("stem, params, message", CASES, ids=[f"{s[:2]}-{'-'.join(p)}" for s, p, _ in CASES])
def test_bad_parameter_fails_fast_with_its_name(tmp_path, monkeypatch, stem, params, message):
    monkeypatch.setenv("EXEMPLAR_RESULTS", str(tmp_path / "results"))
    t0 = time.monotonic()
    with pytest.raises(report.RunError, match=message):
        report.execute(stem, params, out_dir=tmp_path, plan=False)
    assert time.monotonic() - t0 < 60  # the first cells fail: no sweep, no cluster
    assert not (tmp_path / "results").exists()  # nothing written
    assert not [p for p in tmp_path.glob("*.ipynb") if not p.name.endswith(".failed.ipynb")]


def test_cli_reports_a_bad_parameter_and_exits_non_zero(tmp_path):
    exe = Path(sys.executable).parent / "exemplar"
    proc = subprocess.run([str(exe), "run", "02-sequential-sweep", "-p", "repeats", "0", "--output-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "EXEMPLAR_RESULTS": str(tmp_path / "r")})
    assert proc.returncode == 2
    assert "repeats must be an integer of at least 1" in proc.stderr
    assert "failed.ipynb" in proc.stderr


def test_cli_unknown_notebook(tmp_path):
    exe = Path(sys.executable).parent / "exemplar"
    proc = subprocess.run([str(exe), "run", "99-nope", "-p", "a", "1", "--output-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no notebook" in proc.stderr and "02-sequential-sweep" in proc.stderr
