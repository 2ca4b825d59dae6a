"""The long path interrupted (issue 24, part 4): ``make book`` stopped anywhere and run again loses nothing
and reruns only what was unfinished; a full disk during the book build gives one clear line and leaves
the previous site as it was.

The plan here is a small fake one (notebooks executed by a stand-in that records its calls), the
book build a stand-in command; the full disk is a 1 MiB tmpfs (root only; skipped elsewhere).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from exemplar import config
from exemplar.analysis import stages
from exemplar.site import notebooks

PLAN = {"01-data": ({}, {}), "03-exemplar-parallel": ({}, {"repeats": 1}), "04-communication": ({}, {"repeats": 1}),
        "99-status": ({}, {})}


@pytest.fixture
def fake_plan(tmp_path, monkeypatch):
    """A four-notebook plan run by a stand-in ``execute`` that writes the executed notebook and records
    its calls; ``calls.fail_at = STEM`` interrupts the run there (``KeyboardInterrupt``, as Ctrl-C and
    the command line's SIGTERM do)."""
    monkeypatch.setattr(stages, "PLAN", PLAN)
    monkeypatch.setattr(config, "RUN_DIR", tmp_path / "book" / "_run")
    monkeypatch.setenv("EXEMPLAR_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("EXEMPLAR_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("EXEMPLAR_FRESH", raising=False)
    monkeypatch.setattr(notebooks, "record_stage", lambda *a, **k: None)

    class Calls(list):
        fail_at = None

    calls = Calls()

    def execute(stem, params=None, out_dir=None, plan=True, log_output=False):
        calls.append((stem, dict(params or {})))
        if stem == calls.fail_at:
            raise KeyboardInterrupt
        target = config.RUN_DIR / notebooks.output_name(stem)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("{}")
        if stem.startswith("0") and stem != "01-data":  # a run chapter writes its results
            out = config.results_dir() / f"{stem}.csv"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(f"params\n{sorted(dict(params or {}).items())}\n")
        return target

    monkeypatch.setattr(notebooks, "execute", execute)
    return calls


def test_an_interrupted_plan_reruns_only_what_was_unfinished(fake_plan):
    fake_plan.fail_at = "04-communication"
    with pytest.raises(KeyboardInterrupt):
        notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    assert [s for s, _ in fake_plan] == ["01-data", "03-exemplar-parallel", "04-communication"]
    fake_plan.clear()
    fake_plan.fail_at = None
    notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    # the finished ones are kept; the one it was in resumes its saved rows; the rest run as planned
    assert fake_plan == [("04-communication", {"repeats": 1, "resume": True}), ("99-status", {})]


def test_a_finished_plan_waits_for_the_book_then_runs_only_what_changed(fake_plan, tmp_path):
    notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    fake_plan.clear()
    notebooks.run_plan(quick=True, log=lambda *a, **k: None)  # `make book` again after the build was interrupted
    assert fake_plan == []
    (config.RUN_DIR / notebooks.PROGRESS_NAME).unlink()  # what build_book does once the site is built
    notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    assert fake_plan == []  # nothing changed
    notebooks.run_plan(quick=True, log=lambda *a, **k: None, fresh=True)
    assert [s for s, _ in fake_plan] == list(PLAN)


def test_another_plan_or_restart_runs_everything(fake_plan):
    fake_plan.fail_at = "99-status"
    with pytest.raises(KeyboardInterrupt):
        notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    fake_plan.clear()
    fake_plan.fail_at = None
    notebooks.run_plan(quick=False, log=lambda *a, **k: None)  # full size: not the interrupted QUICK run
    assert [s for s, _ in fake_plan] == list(PLAN)
    assert all("resume" not in p for _, p in fake_plan)
    fake_plan.clear()
    notebooks.run_plan(quick=False, log=lambda *a, **k: None, restart=True)
    assert fake_plan == []  # a restart of a finished, unchanged plan: every notebook stands
    notebooks.run_plan(quick=False, log=lambda *a, **k: None, fresh=True)
    assert [s for s, _ in fake_plan] == list(PLAN)


def test_a_finished_notebook_that_is_gone_runs_again(fake_plan):
    fake_plan.fail_at = "99-status"
    with pytest.raises(KeyboardInterrupt):
        notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    (config.RUN_DIR / "03-exemplar-parallel.ipynb").unlink()
    fake_plan.clear()
    fake_plan.fail_at = None
    notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    assert [s for s, _ in fake_plan] == ["03-exemplar-parallel", "99-status"]


def _fake_build(tmp_path, body: str) -> list[str]:
    script = tmp_path / "fake_jb.py"
    script.write_text(textwrap.dedent(body))
    return [sys.executable, str(script)]


def _old_site(root):
    site = root / "_build" / "html"
    site.mkdir(parents=True)
    (site / "index.html").write_text("the previous site")
    return site


def test_a_successful_build_replaces_the_site(tmp_path):
    site = _old_site(tmp_path)
    cmd = _fake_build(tmp_path, """
        import pathlib, sys
        out = pathlib.Path.cwd() / "_build" / ".staging" / "_build" / "html"
        out.mkdir(parents=True, exist_ok=True)
        (out / "index.html").write_text("the new site")
    """)
    assert notebooks.build_site(tmp_path, cmd) == site / "index.html"
    assert (site / "index.html").read_text() == "the new site"
    assert sorted(p.name for p in (tmp_path / "_build").iterdir()) == [".staging", "html"]


def test_a_failed_build_leaves_the_previous_site(tmp_path):
    site = _old_site(tmp_path)
    cmd = _fake_build(tmp_path, """
        import pathlib, sys
        out = pathlib.Path.cwd() / "_build" / ".staging" / "_build" / "html"
        out.mkdir(parents=True, exist_ok=True)
        (out / "index.html").write_text("half a site")
        sys.exit(1)
    """)
    with pytest.raises(notebooks.RunError, match="jupyter-book build failed"):
        notebooks.build_site(tmp_path, cmd)
    assert (site / "index.html").read_text() == "the previous site"


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (root only)."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", f"exemplar-{uuid.uuid4().hex[:6]}", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_says_so_in_one_line_and_keeps_the_site(tmp_path, tiny_disk):
    site = _old_site(tiny_disk)
    cmd = _fake_build(tmp_path, """
        import pathlib
        out = pathlib.Path.cwd() / "_build" / ".staging" / "_build" / "html"
        out.mkdir(parents=True, exist_ok=True)
        (out / "big.js").write_bytes(b"x" * 4 * 2**20)  # more than the disk holds: OSError ENOSPC
    """)
    with pytest.raises(notebooks.RunError) as caught:
        notebooks.build_site(tiny_disk, cmd)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the disk is full") and "free some space" in message and str(site) in message
    assert (site / "index.html").read_text() == "the previous site"
    assert sorted(p.name for p in site.iterdir()) == ["index.html"]


def test_a_full_disk_while_the_new_site_is_copied_keeps_the_old_one(tmp_path, tiny_disk):
    site = _old_site(tiny_disk)
    cmd = _fake_build(tmp_path, """
        import pathlib
        out = pathlib.Path.cwd() / "_build" / ".staging" / "_build" / "html"
        out.mkdir(parents=True, exist_ok=True)
        (out / "index.html").write_text("the new site")
        (out / "big.js").write_bytes(b"x" * 700 * 2**10)  # fits once, not twice
    """)
    with pytest.raises(notebooks.RunError, match="^the disk is full"):
        notebooks.build_site(tiny_disk, cmd)
    assert (site / "index.html").read_text() == "the previous site"
    assert not (tiny_disk / "_build" / ".html-new").exists()


def test_sigterm_unwinds_the_command_line_like_ctrl_c(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent("""
        import argparse, sys, time
        from exemplar import cli
        def slow(args):
            try:
                print("ready", flush=True)  # SIGTERM's handler is in place by now
                time.sleep(60)
            finally:
                print("cleaned up", flush=True)
        cli.build_parser = lambda: argparse.Namespace(parse_args=lambda argv: argparse.Namespace(func=slow))
        sys.exit(cli.main([]))
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert "cleaned up" in out
    assert err.strip() == "terminated (SIGTERM); rerun the same command to continue"


def test_a_failed_notebook_is_one_line_naming_the_kernel_s_error(monkeypatch, tmp_path):
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    def fail(source, target, **kwargs):
        Path(target).write_text("{}")
        raise PapermillExecutionError(cell_index=3, exec_count=7, source="run = ...", ename="ExperimentError",
                                      evalue="configuration {'n_engines': 2} failed: rank 1\n(engine 1) died",
                                      traceback=["Traceback ...", "ExperimentError: ..."])

    monkeypatch.setattr(pm, "execute_notebook", fail)
    with pytest.raises(notebooks.RunError) as caught:
        notebooks.execute("01-data", {}, out_dir=tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "ExperimentError: configuration {'n_engines': 2} failed: rank 1 (engine 1) died" in message
    assert (tmp_path / "01-data.failed.ipynb").is_file() and not (tmp_path / "01-data.ipynb").exists()
    interrupted = PapermillExecutionError(cell_index=3, exec_count=7, source="", ename="KeyboardInterrupt",
                                          evalue="", traceback=[])
    assert "kernel was interrupted" in notebooks.failure(interrupted)
    assert notebooks.failure(RuntimeError("Kernel died before replying to kernel_info")) == (
        "Kernel died before replying to kernel_info")


def test_named_notebooks_always_run_and_leave_the_plan_s_progress(fake_plan):
    fake_plan.fail_at = "04-communication"
    with pytest.raises(KeyboardInterrupt):
        notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    fake_plan.clear()
    fake_plan.fail_at = None
    notebooks.run_plan(quick=True, only=["01-data"], log=lambda *a, **k: None)
    notebooks.run_plan(quick=True, only=["01-data"], log=lambda *a, **k: None)
    assert fake_plan == [("01-data", {}), ("01-data", {})]
    fake_plan.clear()
    notebooks.run_plan(quick=True, log=lambda *a, **k: None)  # the interrupted whole plan still resumes
    assert [s for s, _ in fake_plan] == ["04-communication", "99-status"]


def test_the_run_chapters_take_resume_the_pages_do_not():
    assert notebooks._takes_resume("03-exemplar-parallel") and notebooks._takes_resume("04-communication")
    assert not notebooks._takes_resume("01-data") and not notebooks._takes_resume("99-status")


def test_a_changed_parameter_reruns_its_chapter_and_the_pages_that_read_it(fake_plan, monkeypatch):
    notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    (config.RUN_DIR / notebooks.PROGRESS_NAME).unlink()
    fake_plan.clear()
    plan = {**PLAN, "03-exemplar-parallel": ({}, {"repeats": 2})}
    monkeypatch.setattr(stages, "PLAN", plan)
    notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    # 04 reads nothing of 03 (stages.READS); the status page reads every earlier notebook's results
    assert [s for s, _ in fake_plan] == ["03-exemplar-parallel", "99-status"]


def test_a_results_file_changed_or_gone_reruns_the_notebook_that_wrote_it(fake_plan):
    notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    (config.RUN_DIR / notebooks.PROGRESS_NAME).unlink()
    fake_plan.clear()
    (config.results_dir() / "04-communication.csv").unlink()
    notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    assert [s for s, _ in fake_plan] == ["04-communication"]  # it wrote the same bytes: the page stands
    (config.RUN_DIR / notebooks.PROGRESS_NAME).unlink()
    fake_plan.clear()
    (config.results_dir() / "04-communication.csv").write_text("edited\n")
    notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    assert [s for s, _ in fake_plan] == ["04-communication"]


def test_changed_code_reruns_everything_and_fresh_reaches_the_kernels(fake_plan, monkeypatch):
    from exemplar import store

    notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    (config.RUN_DIR / notebooks.PROGRESS_NAME).unlink()
    fake_plan.clear()
    monkeypatch.setattr(store, "code_version", lambda *a, **k: "another version")
    notebooks.run_plan(quick=True, log=lambda *a, **k: None)
    assert [s for s, _ in fake_plan] == list(PLAN)
    (config.RUN_DIR / notebooks.PROGRESS_NAME).unlink()
    notebooks.run_plan(quick=True, log=lambda *a, **k: None, fresh=True)
    assert os.environ.get("EXEMPLAR_FRESH") == "1"  # what the kernels inherit: their chapters reuse no training
