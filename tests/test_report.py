"""The notebooks run under papermill, and the book builds with offline plotly figures."""

import json


import nbformat
import pandas as pd
import pytest

from exemplar import config
from exemplar.analysis.stages import PLAN
from exemplar.site import notebooks


def test_output_name():
    assert notebooks.output_name("02-sequential-sweep") == "02-sequential-sweep.ipynb"
    name = notebooks.output_name("03-exemplar-parallel", {"n_engines": 4}, plan=False)
    assert name == "03-exemplar-parallel__n_engines_4.ipynb"
    assert notebooks.output_name("x", {"b": [1, 2], "a": "mpi"}, plan=False) == "x__a_mpi__b_1-2.ipynb"


def test_every_notebook_has_a_parameters_cell_and_no_outputs():
    for path in sorted(config.NOTEBOOKS_DIR.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        tags = [c.metadata.get("tags", []) for c in nb.cells]
        assert sum("parameters" in t for t in tags) == 1, path
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), path
        assert nb.cells[0].source.startswith("# "), f"{path} should open with a title"


@pytest.mark.slow
def test_sweep_notebook_runs_under_papermill(tmp_path, monkeypatch, mnist_small):
    monkeypatch.setenv("EXEMPLAR_RESULTS", str(tmp_path / "results"))
    out = notebooks.execute("02-sequential-sweep", {"hidden_sizes": [10, 20], "epochs": [3], "repeats": 2,
                                                 "n_train": 300}, out_dir=tmp_path, plan=False)
    assert out.name == "02-sequential-sweep__epochs_3__hidden_sizes_10-20__n_train_300__repeats_2.ipynb"
    rows = pd.read_csv(tmp_path / "results" / "sequential_sweep.csv")
    assert len(rows) == 4 and set(rows.hidden) == {10, 20}
    prov = json.loads((tmp_path / "results" / "sequential_sweep.json").read_text())
    assert prov["parameters"]["n_train"] == 300
    assert prov["machine"]["logical_cores"] >= 1 and prov["packages"]["scikit-learn"]
    nb = nbformat.read(out, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "remove-cell" in injected[0].metadata["tags"]
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert "Plotly.newPlot" in html and "cdn.plot.ly" not in html


def test_a_bad_parameter_is_refused_before_a_kernel_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("EXEMPLAR_RESULTS", str(tmp_path / "results"))
    with pytest.raises(ValueError, match="parameter repeats must be an integer of at least 1; got 0"):
        notebooks.execute("02-sequential-sweep", {"repeats": 0}, out_dir=tmp_path, plan=False)
    assert not list(tmp_path.glob("*.ipynb")) and not (tmp_path / "results").exists()


def test_failed_notebook_leaves_no_output(tmp_path, monkeypatch):
    """A notebook that fails while it runs (here: no data) leaves NAME.failed.ipynb, no page and no results."""
    monkeypatch.setenv("EXEMPLAR_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("EXEMPLAR_DATA", str(tmp_path / "no-data"))
    with pytest.raises(notebooks.RunError, match="failed"):
        notebooks.execute("02-sequential-sweep", {"repeats": 1}, out_dir=tmp_path, plan=False)
    assert not list((tmp_path).glob("02-*__repeats_1.ipynb"))
    assert list(tmp_path.glob("*.failed.ipynb"))
    assert not (tmp_path / "results" / "sequential_sweep.csv").exists()


@pytest.mark.book
@pytest.mark.slow
def test_quick_book_builds_with_offline_plotly(quick_book):
    """`exemplar run --quick` then `exemplar book` in a copy of the project: the sweep page holds plotly figures."""
    root = quick_book
    html_dir = root / "_build" / "html"
    assert (html_dir / "index.html").is_file()
    page = (html_dir / "book" / "_run" / "02-sequential-sweep.html").read_text()
    assert page.count("Plotly.newPlot") >= 2
    assert '"type":"surface"' in page.replace(" ", "")
    assert (html_dir / "_static" / "plotly.min.js").stat().st_size > 1_000_000
    assert "plotly.min.js" in page and "cdn.plot.ly" not in page
    assert (root / "results" / "quick" / "sequential_sweep.csv").is_file()
    # every stage's wall time is recorded, the build's too, all as QUICK, in results/quick
    stages = pd.read_csv(root / "results" / "quick" / "report_stages.csv")
    assert set(PLAN) | {"jupyter-book build"} <= set(stages.stage)
    assert stages.quick.all() and (stages.seconds > 0).all()
    assert not (root / "results" / "report_stages.csv").exists()


def test_record_stage_appends_rows_atomically(tmp_path):
    notebooks.record_stage("run-a", "01-data", 1.5, quick=False, directory=tmp_path)
    notebooks.record_stage("run-a", "02-sequential-sweep", 2.25, quick=False, directory=tmp_path)
    stages = pd.read_csv(tmp_path / "report_stages.csv")
    assert stages[["run_id", "stage", "seconds"]].values.tolist() == [["run-a", "01-data", 1.5],
                                                                      ["run-a", "02-sequential-sweep", 2.25]]
    assert (tmp_path / "report_stages.json").is_file()
    assert not list(tmp_path.glob(".*tmp"))
