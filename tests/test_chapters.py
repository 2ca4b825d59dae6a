"""Every chapter: notebook and module agree on the parameters; the notebook reads as a chapter."""

from __future__ import annotations

import ast
import importlib
import re

import nbformat
import pytest

from exemplar import config
from exemplar.experiments import CHAPTERS

STEMS = sorted(CHAPTERS)


def _notebook(stem):
    return nbformat.read(config.NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4)


def _code_lines(nb):
    return [line for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_every_notebook_is_a_chapter_and_every_chapter_a_notebook():
    assert sorted(p.stem for p in config.NOTEBOOKS_DIR.glob("*.ipynb")) == STEMS


@pytest.mark.parametrize("stem", STEMS)
def test_the_parameters_cell_holds_the_declared_defaults_in_order(stem):
    module = importlib.import_module(f"exemplar.experiments.{CHAPTERS[stem]}")
    cells = [c for c in _notebook(stem).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{stem}: one cell tagged 'parameters'"
    assigned = {}
    for node in ast.parse(cells[0].source).body:
        assert isinstance(node, ast.Assign), f"{stem}: the parameters cell holds assignments only"
        assigned[node.targets[0].id] = ast.literal_eval(node.value)
    assert list(assigned) == module.SPEC.names
    assert assigned == module.SPEC.defaults()
    checked = module.parameters(assigned).as_dict()  # the chapter's cross-checks accept its own defaults
    assert set(module.SPEC.names) <= set(checked)


@pytest.mark.parametrize("stem", STEMS)
def test_notebooks_hold_calls_and_prose_not_logic(stem):
    nb = _notebook(stem)
    logic = [line for line in _code_lines(nb) if re.match(r"\s*(def|for|while|class)\b", line)]
    assert not logic, f"{stem}: logic in code cells: {logic[:3]}"
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{stem}: outputs committed"
    assert len(_code_lines(nb)) <= 45, f"{stem}: {len(_code_lines(nb))} code lines"
    headings = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()
                if line.startswith("## ")]
    assert headings[:1] == ["## Overview"] and "## Summary" in headings, f"{stem}: the chapter outline"
