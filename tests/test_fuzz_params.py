"""Fuzzing every chapter's parameters (issue 24, part 2): ``exemplar run -p NAME VALUE``, papermill's strings, and
values set in a notebook.

Each value is checked in-process, as ``exemplar run -p`` checks it before any kernel starts
(:func:`exemplar.site.notebooks.check_parameters`: the chapter's ``SPEC``, then its cross-checks): it is either
accepted as a value of its parameter's kind and range, which checks again to itself, or refused with a
``ValueError`` naming a parameter of the chapter. No other exception, no hang (hypothesis' deadline). Two
``exemplar run -p`` subprocesses check the command line's one-line error. The examples that broke the checks
before are pinned with ``@example``.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from exemplar import config
from exemplar.experiments import CHAPTERS
from exemplar.experiments.params import Param, check_engine_counts
from exemplar.site import notebooks

# the profiles (exemplar-fuzz, exemplar-fuzz-long) are registered once, in conftest.py
FUZZ = settings.get_profile(os.environ.get("EXEMPLAR_FUZZ_PROFILE", "exemplar-fuzz"))

STEMS = sorted(CHAPTERS)
NAMED = re.compile(r"^(?:parameter (\w+) |unknown parameter\(s\) )")
#: Text that JSON and YAML read in surprising ways, and text neither reads.
NASTY = ["NaN", "-Infinity", ".nan", ".inf", "-.inf", "1e999", "-1e999", "9" * 5000, "-" + "9" * 5000, "1e20",
         "0x10", "0o17", "1_000", "1:30", "~", "null", "None", "none", "yes", "no", "on", "off", "y", "TRUE",
         "2001-01-01", "!!python/object/apply:os.system ['true']", "!!binary aGk=", "&a [*a]", "&a [*a, *a]",
         "[" * 100_000, "- " * 300 + "1", "{" * 5000, "[" * 64, '{"a": 1}', "{1: 2}", "!!set {1, 2}", "[1, 1.0]",
         "[1, true]",
         "[]", "[[1]]", "[1, 2", "'", '"', "\x00", "\ud800", "\u2028", "１", "[１]", "  [1, 2]  ", "- 1\n- 2", "\t",
         "", " ", "[null]", "[.nan]", "['mnist', 'mnist']", "[mnist, MNIST]", "float16", " float32", "float32 ",
         "-1", "0", "-0", "0.5", "2.0", "2.5", "[0]", "[-1]", "[1, 2]", "[2, 1]", "[1e300]", "[" + "1," * 1000 + "1]",
         "a" * 300]


@pytest.fixture(scope="module", autouse=True)
def private_results():
    """``model="sweep-optimum"`` reads the sweep's results: an empty folder of our own, never the project's."""
    with tempfile.TemporaryDirectory(prefix="exemplar-fuzz-results-") as d, pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXEMPLAR_RESULTS", d)
        yield Path(d)


def spec_of(stem):
    return importlib.import_module(f"exemplar.experiments.{CHAPTERS[stem]}").SPEC


def json_values():
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-10, 70_000),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                        st.sampled_from(["mnist", "fashion-mnist", "float32", "numpy", "sklearn", "one-shot", "mean",
                                         "identical", "paper", "sweep-optimum", "mpi"]))
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                         st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                        max_leaves=12)


def texts():
    """What ``-p NAME VALUE`` may pass: JSON of any value, the nasty list, any text, a default respelled."""
    return st.one_of(json_values().map(lambda v: json.dumps(v, allow_nan=True)), st.sampled_from(NASTY),
                     st.text(max_size=60), json_values().map(repr))


def assert_accepted(spec, name, value):
    """An accepted value is of its parameter's kind and range, and checks again to itself."""
    param = spec[name]
    assert param.check(value) == value
    items = value if param.kind.endswith("_list") else [value]
    if value is None:
        assert param.optional
        return
    assert items and len(set(items)) == len(items)
    for v in items:
        if param.kind.startswith(("int", "float")):
            assert type(v) is (int if param.kind.startswith("int") else float)
            assert isinstance(v, int) or math.isfinite(v)
            assert param.minimum is None or v >= param.minimum
            assert param.maximum is None or v <= param.maximum
        if param.choices:
            assert v in param.choices


def assert_refused_by_name(spec, exc: ValueError):
    message = str(exc)
    m = NAMED.match(message)
    assert m, message
    assert m.group(1) is None or m.group(1) in spec.names, message
    assert len(message) < 2000 and "Traceback" not in message


def check_text(stem, name, text):
    spec = spec_of(stem)
    try:
        got = notebooks.check_parameters(stem, {name: text})
    except ValueError as exc:
        assert_refused_by_name(spec, exc)
        return
    assert list(got) == [name]
    assert_accepted(spec, name, got[name])


@pytest.mark.parametrize("stem", STEMS)
@FUZZ
@given(data=st.data())
def test_any_text_for_any_parameter_is_read_or_refused_by_name(stem, data):
    spec = spec_of(stem)
    name = data.draw(st.sampled_from(spec.names), label="name")
    check_text(stem, name, data.draw(texts(), label="text"))


@pytest.mark.parametrize("stem", STEMS)
def test_every_nasty_text_for_every_parameter(stem):
    """The whole nasty list, on every parameter of every chapter (deterministic, a few thousand checks)."""
    for name in spec_of(stem).names:
        for text in NASTY:
            check_text(stem, name, text)


@pytest.mark.parametrize("stem", STEMS)
@FUZZ
@given(data=st.data())
def test_several_parameters_at_once(stem, data):
    spec = spec_of(stem)
    given_ = data.draw(st.dictionaries(st.sampled_from(spec.names + ["nope", "Engine_counts"]), texts(),
                                       min_size=1, max_size=4))
    try:
        got = notebooks.check_parameters(stem, given_)
    except ValueError as exc:
        assert_refused_by_name(spec, exc)
        return
    assert set(got) == set(given_)
    for name, value in got.items():
        assert_accepted(spec, name, value)


def python_values():
    """What a notebook's parameters cell (or papermill's ``-y``) may hold: any Python value, numpy's too."""
    # 10**4000, not 10**5000: hypothesis itself reprs what it draws (the larger is pinned in the explicit example)
    base = st.one_of(json_values(), st.just(10**4000), st.just(-(10**4000)), st.binary(max_size=8),
                     st.floats().map(np.float64), st.integers(-2**63, 2**63 - 1).map(np.int64),
                     st.booleans().map(np.bool_), st.frozensets(st.integers(0, 9), max_size=3),
                     st.tuples(st.integers(1, 9), st.integers(1, 9)), st.complex_numbers(max_magnitude=10))
    return st.recursive(base, lambda inner: st.lists(inner, max_size=4), max_leaves=8)


@pytest.mark.parametrize("stem", STEMS)
@FUZZ
@given(data=st.data())
@example(data=None)
def test_any_python_value_is_accepted_checked_or_refused_by_name(stem, data):
    spec = spec_of(stem)
    if data is None:  # the findings, pinned
        values = [10**5000, float("nan"), math.inf, {1: 2}, frozenset({1, 2}), "None", "[" * 100_000]
        cases = [(p.name, v) for p in spec for v in values]
    else:
        cases = [(data.draw(st.sampled_from(spec.names)), data.draw(python_values()))]
    module = importlib.import_module(f"exemplar.experiments.{CHAPTERS[stem]}")
    for name, value in cases:
        try:
            p = module.parameters({**spec.defaults(), name: value})
        except ValueError as exc:
            assert_refused_by_name(spec, exc)
            continue
        if name not in ("hidden", "epochs"):  # resolved by the model parameter when None
            assert_accepted(spec, name, getattr(p, name))


@FUZZ
@given(counts=st.lists(st.integers(1, 10**6), min_size=1, max_size=8), n_train=st.integers(1, 10**6),
       reference=st.booleans(), larger=st.booleans())
def test_the_engine_count_rule(counts, n_train, reference, larger):
    try:
        got = check_engine_counts(counts, n_train, reference=reference, larger=larger)
    except ValueError as exc:
        assert str(exc).startswith("parameter engine_counts must ")
        return
    assert got == sorted(counts) and got[-1] <= n_train
    assert not reference or (got[0] == 1 and (not larger or len(got) > 1))


# --------------------------------------------------------------------------- the findings, one by one


def test_nan_and_infinity_are_no_tolerance():
    """NaN passed every bound (``nan < 0`` is False): ``-p tolerance_pp NaN`` was accepted."""
    param = Param("tolerance_pp", "float", 0.5, "accuracy tolerance", minimum=0)
    for text in ("NaN", ".nan", ".inf", "1e999", "Infinity", 10**5000, float("nan")):
        with pytest.raises(ValueError, match=r"^parameter tolerance_pp must be a number of at least 0, finite \(not "
                                             r"NaN or infinity\); got "):
            param.check(text)
    assert param.check("1e300") == 1e300


def test_a_mapping_or_a_set_is_no_list():
    """``-p engine_counts '{1: 2}'`` was read as the list of the mapping's keys, [1]."""
    param = Param("engine_counts", "int_list", [1], "engines", minimum=1)
    for value in ("{1: 2}", {1: 2}, frozenset({1, 2}), "!!set {1, 2}"):
        with pytest.raises(ValueError, match=r"^parameter engine_counts must be a list of integers"):
            param.check(value)
    assert param.check((2, 1)) == [2, 1]


def test_deep_nesting_and_huge_integers_name_the_parameter():
    """``-p n_show '[[[[...'`` raised RecursionError; an integer of 5,000 digits could not be shown (ValueError)."""
    param = Param("n_show", "int", 30, "digits drawn", minimum=1, maximum=200)
    with pytest.raises(ValueError, match=r"^parameter n_show must be an integer from 1 to 200; got '\[\[\[\["):
        param.check("[" * 100_000)
    with pytest.raises(ValueError, match=r"^parameter n_show must be an integer from 1 to 200; got an integer of "
                                         r"16,610 bits$"):
        param.check(10**5000)
    spec = spec_of("01-data")
    with pytest.raises(ValueError, match=r"^unknown parameter\(s\) 1, None; this chapter takes n_train, n_show$"):
        spec.check({1: 2, None: 3})


def test_none_for_an_optional_string_parameter_is_none_as_papermill_reads_it():
    """``-p results_folder None`` was the folder named 'None'; papermill's own ``-p`` gives None."""
    assert notebooks.check_parameters("99-status", {"results_folder": "None", "run_dir": " None"}) == {
        "results_folder": None, "run_dir": " None"}
    assert notebooks.check_parameters("00-paper-vs-report", {"results_folder": "null"}) == {"results_folder": "null"}


def test_a_bench_dir_too_long_for_the_file_system_is_refused_by_name():
    """Path.is_dir() raised OSError (File name too long) for a name past NAME_MAX: now no such folder."""
    with pytest.raises(ValueError, match=r"^parameter bench_dir must be an existing folder"):
        notebooks.check_parameters("06-performance", {"bench_dir": "a" * 5000})


@pytest.mark.parametrize("stem, parameter, value, message", [
    ("03-exemplar-parallel", "engine_counts", "[" * 50_000,
     "error: parameter engine_counts must be a list of integers of at least 1 (at least one, no repeats); got '[[[["),
])
def test_cli_run_refuses_a_nasty_value_on_one_line(tmp_path, stem, parameter, value, message):
    proc = subprocess.run([sys.executable, "-m", "exemplar.cli", "run", stem, "-p", parameter, value, "--output-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=config.ROOT,
                          env={**os.environ, "EXEMPLAR_RESULTS": str(tmp_path / "r")})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(message) and len(proc.stderr.splitlines()) == 1
    assert not list(tmp_path.rglob("*.ipynb")) and not (tmp_path / "r").exists()
