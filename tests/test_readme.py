"""The README's examples, run verbatim (they are QUICK-sized), in a copy of the project."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from exemplar import config

pytestmark = [pytest.mark.slow, pytest.mark.mpi]


def _section(title: str) -> str:
    text = (config.ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start:end if end > 0 else None]


def _commands(block: str) -> list[str]:
    """The shell commands of a ```bash block: continuation lines joined, comments dropped."""
    code = re.search(r"```bash\n(.*?)```", block, re.S).group(1)
    code = code.replace("\\\n", " ")
    return [line.strip() for line in code.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_the_rerun_examples_run_verbatim(tmp_path):
    commands = _commands(_section("Rerun one notebook with other parameters"))
    assert len(commands) == 2 and "papermill" in commands[1] and "exemplar run" in commands[0]
    root = tmp_path / "project"
    root.mkdir()
    for name in ("_config.yml", "_toc.yml", "README.md"):
        shutil.copy(config.ROOT / name, root / name)
    shutil.copytree(config.ROOT / "notebooks", root / "notebooks")
    shutil.copytree(config.ROOT / "book", root / "book", ignore=shutil.ignore_patterns("_run", "plotly*.js"))
    (root / "pyproject.toml").write_text("")
    (root / ".venv").symlink_to(Path(sys.executable).parent.parent)
    results = tmp_path / "results"
    env = {**os.environ, "EXEMPLAR_ROOT": str(root), "EXEMPLAR_DATA": str(config.data_dir()),
           "EXEMPLAR_RESULTS": str(results)}
    for command in commands:
        proc = subprocess.run(command, shell=True, cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    executed = root / "book" / "_run" / "03-exemplar-parallel__engine_counts_1-2__n_train_600__repeats_1.ipynb"
    assert executed.is_file()
    runs = pd.read_csv(results / "exemplar.csv")
    assert set(runs.n_engines) == {1, 2} and set(runs.n_train) == {600}
    assert Path("/tmp/out.ipynb").is_file() and (Path("/tmp/my-results") / "exemplar.csv").is_file()
