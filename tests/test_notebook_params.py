"""Each chapter's parameters are declared once: the notebook's `parameters` cell holds the chapter module's SPEC,
the notebook checks them in its first cell, and bad values fail before any work or cluster starts.

The checks of each bad value are unit tests of the chapter modules (tests/test_experiments_*.py, test_sweep.py);
here: the notebooks agree with the modules, and a notebook run by papermill itself refuses a bad value fast.
"""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from exemplar import config
from exemplar.experiments import CHAPTERS
from exemplar.site import notebooks

#: The chapters whose notebooks follow the house rules already (the others join as they are rewritten).
THIN = ["00-paper-vs-report", "01-data", "02-sequential-sweep", "03-exemplar-parallel", "05-algorithms",
        "06-performance", "99-status"]


def _notebook(stem):
    return nbformat.read(config.NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4)


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _parameters_cell(nb):
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell is tagged `parameters`"
    return cells[0]


def _assignments(source):
    return [(node.targets[0].id, ast.literal_eval(node.value)) for node in ast.parse(source).body]


@pytest.mark.parametrize("stem", sorted(CHAPTERS))
def test_parameters_cell_is_the_chapters_spec(stem):
    module = importlib.import_module(f"exemplar.experiments.{CHAPTERS[stem]}")
    spec = getattr(module, "SPEC", None)
    if spec is None:
        pytest.skip(f"exemplar.experiments.{CHAPTERS[stem]} declares no SPEC yet")
    cell = _parameters_cell(_notebook(stem))
    assert _assignments(cell.source) == list(spec.defaults().items())
    module.parameters(spec.defaults())  # the defaults pass the chapter's own cross-checks


@pytest.mark.parametrize("stem", THIN)
def test_notebook_checks_its_parameters_first_and_holds_no_logic(stem):
    nb = _notebook(stem)
    cells = _code_cells(nb)
    after = cells[cells.index(_parameters_cell(nb)) + 1].source.splitlines()[0]
    assert after.startswith("p = ") and after.endswith(".parameters(globals())"), after
    lines = [line for line in _parameters_cell(nb).source.splitlines() if line.strip()]
    assert all("#" in line for line in lines), "a comment on each line of the parameters cell"
    source = "\n".join(c.source for c in cells)
    for keyword in ("def ", "for ", "while ", "class "):
        assert not [line for line in source.splitlines() if line.startswith(keyword)], keyword
    code_lines = [line for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert len(code_lines) <= 40, f"{stem}: {len(code_lines)} code lines"


@pytest.mark.slow
def test_papermill_run_refuses_an_engine_count_above_n_train_in_the_first_cell(tmp_path):
    """papermill's own command line (not `exemplar run`): the notebook's first cell refuses, before any cluster."""
    papermill = Path(sys.executable).parent / "papermill"
    out = tmp_path / "out.ipynb"
    t0 = time.monotonic()
    proc = subprocess.run([str(papermill), str(config.NOTEBOOKS_DIR / "03-exemplar-parallel.ipynb"), str(out),
                           "-p", "engine_counts", "[2, 200]", "-p", "n_train", "100", "--cwd", str(config.NOTEBOOKS_DIR)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "EXEMPLAR_RESULTS": str(tmp_path / "results")})
    assert proc.returncode != 0
    assert "parameter engine_counts must be a list of integers from 1 to n_train (100)" in proc.stderr
    assert time.monotonic() - t0 < 120  # the first cells fail: no sweep, no cluster
    assert not (tmp_path / "results").exists()  # nothing written


def test_cli_reports_a_bad_parameter_and_exits_non_zero(tmp_path):
    exe = Path(sys.executable).parent / "exemplar"
    proc = subprocess.run([str(exe), "run", "02-sequential-sweep", "-p", "repeats", "0", "--output-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "EXEMPLAR_RESULTS": str(tmp_path / "r")})
    assert proc.returncode == 2
    assert "parameter repeats must be an integer of at least 1; got 0" in proc.stderr
    assert not list(tmp_path.glob("*.ipynb")) and not (tmp_path / "r").exists()


def test_cli_unknown_notebook(tmp_path):
    exe = Path(sys.executable).parent / "exemplar"
    proc = subprocess.run([str(exe), "run", "99-nope", "-p", "a", "1", "--output-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no notebook" in proc.stderr and "02-sequential-sweep" in proc.stderr


def test_execute_refuses_bad_parameters_before_a_kernel_starts(tmp_path):
    with pytest.raises(ValueError, match=r"parameter engine_counts must be a list of integers of at least 1"):
        notebooks.execute("03-exemplar-parallel", {"engine_counts": [0]}, out_dir=tmp_path, plan=False)
    assert not list(tmp_path.rglob("*.ipynb"))


def test_text_values_are_read_as_their_parameters_kinds():
    """`exemplar run -p NAME VALUE` gives text; each value is read as its parameter reads it (Param.parse)."""
    given = {"engine_counts": "[1, 2]", "n_train": "[1000]", "n_test": "None", "trainer": "sklearn", "resume": "true"}
    assert notebooks.check_parameters("05-algorithms", given) == {
        "engine_counts": [1, 2], "n_train": [1000], "n_test": None, "trainer": "sklearn", "resume": True}
    assert notebooks.check_parameters("99-nope", {"a": "1"}) == {"a": "1"}  # no chapter module: as given
