"""The paper-vs-report verdicts, the status page's tables, and the site's offline guard (no browser needed)."""

from __future__ import annotations

from types import SimpleNamespace

import nbformat
import pandas as pd
import pytest

from exemplar import paper, results
from exemplar.analysis import stages
from exemplar.site import browser
from exemplar.reporting import claims, comparison, verdicts
from exemplar.reporting import status
from exemplar.site import sphinxext


def _prov(**params):
    return {"parameters": {"n_train": 6000, "repeats": 5, **params}, "created": "2026-01-01T00:00:00+00:00",
            "machine": {"cpu_model": "Test CPU", "logical_cores": 8, "usable_cores": 8, "memory_gib": 16.0,
                        "os": "Linux", "hostname": "h"},
            "python": "3.11.7", "packages": {"numpy": "2.0", "scikit-learn": "1.5"},
            "blas": [{"user_api": "blas", "internal_api": "openblas", "version": "0.3", "num_threads": 8,
                      "threading_layer": "pthreads"}],
            "mpi": "MPICH Version: 5", "git_commit": "abc123", "experiment": "test"}


@pytest.fixture
def paper_as_ours(tmp_path):
    """Results that are the paper's own numbers (two identical repeats), on an 8-core machine."""
    t1 = paper.table_i()
    rows = pd.concat([t1.assign(repeat=r, seed=r) for r in range(2)])
    rows = rows.rename(columns={"time": "train_seconds", "accuracy": "accuracy_pct"}).drop(columns="impact")
    rows["n_iter"] = rows["epochs"]
    results.write_results("sequential_sweep", rows, _prov(), directory=tmp_path)
    t2, t3 = paper.table_ii(), paper.table_iii()
    runs = []
    for r in range(2):
        for (_, a), (_, b) in zip(t2.iterrows(), t3.iterrows()):
            runs.append({"n_engines": int(a.n_processes), "repeat": r, "seed": r, "strategy": "one-shot",
                         "fit_seconds_max": a.time, "distribute_seconds": b.time - a.time, "combine_seconds": 0.0,
                         "wall_seconds": b.time, "accuracy_pct": a.accuracy})
    results.write_results("exemplar", runs, _prov(hidden=75, epochs=75), directory=tmp_path)
    return tmp_path


def test_verdict_rules():
    assert verdicts.accuracy_verdict(0.99) == verdicts.REPRODUCED
    assert verdicts.accuracy_verdict([0.2, -1.5]) == verdicts.CAVEAT
    assert verdicts.accuracy_verdict([0.2, 2.01, float("nan")]) == verdicts.NOT_REPRODUCED
    with pytest.raises(ValueError, match="no accuracy difference"):
        verdicts.accuracy_verdict([float("nan")])
    assert verdicts.ratio_verdict(1.9, 2.0) == verdicts.REPRODUCED
    assert verdicts.ratio_verdict(1.4, 2.0) == verdicts.NOT_REPRODUCED
    assert verdicts.rank_verdict(0.9) == verdicts.REPRODUCED
    assert verdicts.rank_verdict(0.5) == verdicts.CAVEAT
    assert verdicts.rank_verdict(float("nan")) == verdicts.NOT_REPRODUCED


def test_the_papers_own_numbers_reproduce_every_claim(paper_as_ours):
    ours = comparison.read_ours(paper_as_ours)
    assert comparison.setup_differences(ours) == []
    table = claims.claims_table(ours)
    assert len(table) == 8 and set(table.table) == {"I", "II", "III"}
    assert (table.verdict == verdicts.REPRODUCED).all(), table[["claim", "verdict", "why"]].to_string()
    t1 = comparison.table_i_comparison(ours)
    assert len(t1) == 25 and t1[("accuracy (%)", comparison.DIFF)].abs().max() < 1e-9
    t3 = comparison.table_iii_comparison(ours)
    assert t3[("time (s)", "ours")].round(2).tolist() == paper.table_iii().time.round(2).tolist()


def test_verdicts_follow_the_results(paper_as_ours):
    """Worse accuracy, fewer cores and a fast scatter change exactly the verdicts they should."""
    rows, prov = results.read_results("exemplar", paper_as_ours)
    rows.loc[rows.n_engines == 6, "accuracy_pct"] -= 1.5        # 1.5 pp below the paper at 6 processes
    rows["distribute_seconds"] = 0.01                            # a scatter of milliseconds
    prov["machine"]["usable_cores"] = 2                           # 4 and 6 engines oversubscribed
    results.write_results("exemplar", rows, prov, directory=paper_as_ours)
    table = claims.claims_table(comparison.read_ours(paper_as_ours))

    def row(start):
        return table[table.claim.str.startswith(start)].iloc[0]

    assert row("Accuracy falls").verdict == verdicts.CAVEAT
    assert row("Training gets faster").verdict == verdicts.CAVEAT   # only 2 processes have a core each
    assert "4 / 6 processes share" in row("Training gets faster").why
    assert row("With the cost").verdict == verdicts.NOT_REPRODUCED
    assert row("Test accuracy per hidden").verdict == verdicts.REPRODUCED


def test_verdicts_come_from_cpu_times_with_the_wall_times_beside_them(paper_as_ours):
    """CPU times that are the paper's and wall times inflated by other work: the verdicts are the paper's own."""
    rows, prov = results.read_results("sequential_sweep", paper_as_ours)
    rows["train_cpu_seconds"] = rows["train_seconds"]
    rows["train_seconds"] = rows["train_seconds"] * rows["hidden"].map({50: 3.0, 65: 1.0, 75: 2.5, 85: 1.2, 100: 4.0})
    results.write_results("sequential_sweep", rows, prov, directory=paper_as_ours)
    runs, prov = results.read_results("exemplar", paper_as_ours)
    runs["fit_cpu_seconds_max"] = runs["fit_seconds_max"]
    runs["fit_seconds_max"] = runs["fit_seconds_max"] * runs["n_engines"].map({1: 1.0, 2: 2.5, 4: 3.0, 6: 3.5})
    runs["wall_seconds"] = runs["fit_seconds_max"] + runs["distribute_seconds"]
    results.write_results("exemplar", runs, prov, directory=paper_as_ours)
    ours = comparison.read_ours(paper_as_ours)
    assert (ours.sweep_basis, ours.parallel_basis) == ("cpu", "cpu")
    table = claims.claims_table(ours)
    assert (table.verdict == verdicts.REPRODUCED).all(), table[["claim", "verdict", "why"]].to_string()
    assert "ours from CPU time" in table[table.claim.str.startswith("Training gets faster")].iloc[0].why
    t2 = comparison.table_ii_comparison(ours)
    assert t2[("time (s)", "ours")].round(4).tolist() == paper.table_ii().time.round(4).tolist()
    assert t2[("time (s)", comparison.WALL)].iloc[1] == pytest.approx(2.5 * paper.table_ii().time.iloc[1])
    t1 = comparison.table_i_comparison(ours)
    assert ("time (s)", comparison.WALL) in t1.columns and ("impact (% / s)", comparison.WALL) in t1.columns
    assert comparison.table_iii_comparison(ours)[("time (s)", "ours")].round(2).tolist() == \
        paper.table_iii().time.round(2).tolist()
    assert comparison.timing_note_markdown(ours).startswith("Times of the sweep and the parallel runs are judged "
                                                         "from CPU time")


def test_setup_differences_flag_a_quick_run(paper_as_ours):
    rows, prov = results.read_results("sequential_sweep", paper_as_ours)
    prov["parameters"]["n_train"] = 1000
    results.write_results("sequential_sweep", rows, prov, directory=paper_as_ours)
    ours = comparison.read_ours(paper_as_ours)
    assert comparison.setup_differences(ours) == ["The sweep used n_train = 1000 (the paper: 6000)."]
    assert comparison.setup_note_markdown(ours).startswith(":::{warning}")


def test_missing_results_name_the_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="exemplar run 02-sequential-sweep"):
        comparison.read_ours(tmp_path)


def test_download_links_and_status_tables(paper_as_ours, tmp_path):
    page_dir = tmp_path / "book" / "_run"
    md = status.download_markdown(paper_as_ours, relative_to=page_dir)
    assert "{download}`exemplar.csv <../../exemplar.csv>`" in md
    assert "{download}`sequential_sweep.json <../../sequential_sweep.json>`" in md
    records = status.provenance_records(paper_as_ours)
    assert list(records) == ["exemplar", "sequential_sweep"]
    machine = status.machine_table(records).set_index("")
    assert machine.loc["CPU model", "exemplar"] == "Test CPU"
    assert machine.loc["BLAS / OpenMP (threads)", "exemplar"] == "openblas 0.3 (8 threads, pthreads)"
    assert status.package_table(records).set_index("package").loc["numpy", "sequential_sweep"] == "2.0"
    assert "hidden = 75" in status.parameters_table(records).set_index("results").loc["exemplar", "parameters"]


def test_execution_table_reads_papermills_record(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("a = 1\nb = 'x'"),
                                         nbformat.v4.new_code_cell("a = 5")])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.cells[1].metadata["tags"] = ["injected-parameters"]
    nb.cells[0].metadata["papermill"] = {"duration": 0.5}
    nb.cells[1].metadata["papermill"] = {"duration": 2.5}
    nb.metadata["papermill"] = {"duration": 12.25, "start_time": "2026-01-01T10:00:00.5+00:00",
                                "parameters": {"a": 5}}
    nbformat.write(nb, tmp_path / "02-x.ipynb")
    table = status.execution_table(tmp_path, stems=["02-x", "03-missing", "99-status"], current="99-status")
    row = table.set_index("notebook").loc["02-x"]
    assert row["duration (s)"] == 12.25 and row["slowest cell (s)"] == 2.5
    assert row["started (UTC)"] == "2026-01-01 10:00:00"
    assert row["parameters"] == "a = 5, b = 'x'" and row["injected"] == "a = 5"
    assert table.set_index("notebook").loc["03-missing", "started (UTC)"] == "not run"
    assert "running now" in table.set_index("notebook").loc["99-status", "started (UTC)"]


def test_plan_runs_the_summary_pages_after_the_chapters():
    stems = list(stages.PLAN)
    assert stems[-1] == "99-status", "the status page reads every other notebook's run: it must run last"
    assert stems.index("00-paper-vs-report") > max(stems.index("02-sequential-sweep"),
                                                    stems.index("03-exemplar-parallel"))


class _Asset:
    def __init__(self, filename, **attributes):
        self.filename, self.attributes = filename, attributes


def test_sphinx_extension_drops_thebe_and_flags_remote_assets(monkeypatch):
    warnings = []
    monkeypatch.setattr(sphinxext.logger, "warning", lambda msg, **kw: warnings.append(msg))
    context = {"script_files": [_Asset(None, body='const THEBE_JS_URL = "https://unpkg.com/thebe"'),
                                _Asset("sphinx-thebe.js"), _Asset("plotly.min.js")],
               "css_files": [_Asset("sphinx-thebe.css"), _Asset("styles/theme.css")]}
    bare = {**context, "body": "<p>no figure</p>"}
    sphinxext.offline_page(None, "p", "page.html", bare, None)
    assert bare["script_files"] == []                                  # no figure, no plotly.js
    context["body"] = "<script>Plotly.newPlot('x', [])</script>"
    sphinxext.offline_page(None, "p", "page.html", context, None)
    assert [a.filename for a in context["script_files"]] == ["plotly.min.js"]
    assert [a.filename for a in context["css_files"]] == ["styles/theme.css"]
    assert not warnings
    context = {"script_files": [_Asset("https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js")]}
    sphinxext.offline_page(None, "p", "page.html", context, None)
    assert warnings and "from the network" in warnings[0]


def test_site_pages_leave_out_theme_files(tmp_path):
    for rel in ("index.html", "book/_run/02-x.html", "_static/webpack-macros.html", "_sources/x.html"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("<html></html>")
    assert browser.site_pages(tmp_path) == ["book/_run/02-x.html", "index.html"]


def test_external_asset_pattern():
    from test_browser import EXTERNAL_ASSET

    assert EXTERNAL_ASSET.search('<script src="https://cdn.plot.ly/plotly.js"></script>')
    assert EXTERNAL_ASSET.search("<link rel='stylesheet' href='//fonts.googleapis.com/css'>")
    assert not EXTERNAL_ASSET.search('<script src="../_static/plotly.min.js"></script>')
    assert not EXTERNAL_ASSET.search('<a href="https://papermill.readthedocs.io">papermill</a>')


def test_mathjax_is_served_from_the_sites_own_static_folder(tmp_path):
    if sphinxext.mathjax_source() is None:
        pytest.fail("django-static-mathjax is missing: pip install -e '.[test]'", pytrace=False)
    config = SimpleNamespace(mathjax_path="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js")
    sphinxext.use_local_mathjax(None, config)
    assert config.mathjax_path == "mathjax/tex-mml-chtml.js"
    sphinxext.copy_mathjax(SimpleNamespace(builder=SimpleNamespace(format="html"), outdir=str(tmp_path),
                                           config=config))
    static = tmp_path / "_static" / "mathjax"
    assert (static / "tex-mml-chtml.js").is_file()
    assert list((static / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert not (static / "tex-svg.js").exists() and not (static / "output" / "svg").exists()


def test_exemplar_summary_prints_the_headline_table(paper_as_ours, capsys):
    from exemplar import cli

    assert cli.main(["summary", "--results", str(paper_as_ours)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| Table | The paper's claim | Paper | This report | Verdict | Repeats | Margin |"
    assert len(lines) == 2 + 8 and all("| **reproduced** | 2 | clear (margin " in line for line in lines[2:])


def test_every_verdict_says_its_repeats_and_its_margin(paper_as_ours):
    """The paper's own numbers, two identical repeats: every verdict rests on 2 runs per point, clear of its
    thresholds by a margin the repeats (sd 0) resolve."""
    table = claims.claims_table(comparison.read_ours(paper_as_ours))
    assert list(table.columns) == ["table", "claim", "paper", "ours", "verdict", "repeats", "margin", "why"]
    assert (table.repeats == "2").all() and not claims.within_spread(table).any()
    row = table.set_index("claim").margin
    assert row["Test accuracy per hidden size × epochs"] == "clear (margin 1.00 pp, sd 0.00 pp)"
    assert row["Training time per hidden size × epochs"] == "clear (margin 0.30, sd 0.00)"
    assert row["Training gets faster with more processes (speedup without overhead)"] == \
        "clear (margin 25.0 %, sd 0.0 %)"
    assert row[table.claim[table.claim.str.startswith("With the cost")].iloc[0]] == "clear (margin 7.69 s, sd 0.00 s)"
    assert "it leads the next network" in table.set_index("claim").why[
        "The best impact factor (accuracy / time) is 75 hidden units, 75 epochs"]


def test_a_verdict_decided_inside_the_spread_is_flagged(paper_as_ours):
    """Repeats that disagree: Table I's (50, 50) 0.8 pp above the paper's with an sd of 0.71 pp (reproduced by
    0.2 pp), and the 2-engine accuracy the paper's on average but 1.41 pp apart over the repeats."""
    rows, prov = results.read_results("sequential_sweep", paper_as_ours)
    at = (rows.hidden == 50) & (rows.epochs == 50)
    rows.loc[at, "accuracy_pct"] += 0.8 + rows.loc[at, "repeat"].map({0: 0.5, 1: -0.5})
    results.write_results("sequential_sweep", rows, prov, directory=paper_as_ours)
    runs, prov = results.read_results("exemplar", paper_as_ours)
    runs.loc[runs.n_engines == 2, "accuracy_pct"] += runs.loc[runs.n_engines == 2, "repeat"].map({0: 1.0, 1: -1.0})
    results.write_results("exemplar", runs, prov, directory=paper_as_ours)
    table = claims.claims_table(comparison.read_ours(paper_as_ours)).set_index("claim")
    assert (table.verdict == verdicts.REPRODUCED).all()                # the means alone reproduce every claim
    assert table.margin["Test accuracy per hidden size × epochs"] == (
        "within the spread (margin 0.20 pp against an sd of 0.71 pp)")
    assert table.margin["Accuracy falls as the data are split over more processes"] == (
        "within the spread (margin 1.00 pp against an sd of 1.41 pp)")
    assert claims.within_spread(table.reset_index()).sum() == 2
    assert claims.verdict_sentence(table.reset_index()).endswith(
        "(of 8 claims). 2 of them were decided by a margin inside the spread over the repeats, so another run "
        "could turn them: *Test accuracy per hidden size × epochs*; *Accuracy falls as the data are split over "
        "more processes*.")
    headline = claims.headline_markdown(paper_as_ours).splitlines()
    assert headline[2].endswith("| **reproduced** | 2 | within the spread (margin 0.20 pp against an sd of 0.71 pp) |")


def test_without_the_rows_the_margins_have_no_spread(paper_as_ours):
    ours = comparison.read_ours(paper_as_ours)
    ours.sweep_rows = ours.parallel_rows = None
    table = claims.claims_table(ours).set_index("claim")
    assert table.margin["Test accuracy per hidden size × epochs"] == "clear (margin 1.00 pp, sd 0.00 pp)"
    assert table.margin["Training time per hidden size × epochs"] == "margin 0.30; no spread over repeats"
    assert table.margin["The best impact factor (accuracy / time) is 75 hidden units, 75 epochs"] == \
        "no number decides it"
