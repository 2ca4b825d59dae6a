"""A chapter's parameters declared once: checking, conversion of papermill's strings, messages."""

from __future__ import annotations

import pytest

from exemplar.experiments.params import Param, ParamSpec

SPEC = ParamSpec(
    Param("engine_counts", "int_list", [1, 2, 4, 6], "processes to train on", minimum=1, maximum=64),
    Param("repeats", "int", 5, "runs per engine count", minimum=1),
    Param("hidden", "int", None, "hidden units; None: the sweep's optimum", minimum=1, optional=True),
    Param("dtype", "str", "float64", "training precision", choices=("float64", "float32")),
    Param("resume", "bool", False, "keep finished runs"),
    Param("tolerance_pp", "float", 0.5, "accuracy tolerance", minimum=0),
    Param("datasets", "str_list", ["mnist"], "data sets", choices=("mnist", "fashion-mnist")),
)


def test_defaults_come_back_checked_and_fresh():
    p = SPEC.check()
    assert p.as_dict() == {"engine_counts": [1, 2, 4, 6], "repeats": 5, "hidden": None, "dtype": "float64",
                           "resume": False, "tolerance_pp": 0.5, "datasets": ["mnist"]}
    p.engine_counts.append(8)
    assert SPEC.check().engine_counts == [1, 2, 4, 6]


@pytest.mark.parametrize("text, expected", [("[1, 2]", [1, 2]), ("[1,2]", [1, 2]), ("- 1\n- 2", [1, 2])])
def test_papermill_strings_are_read_as_json_or_yaml(text, expected):
    assert SPEC.check(engine_counts=text).engine_counts == expected


def test_scalars_booleans_and_none_arrive_as_strings_too():
    p = SPEC.check(repeats="3", resume="true", hidden="null", tolerance_pp="1", datasets='["fashion-mnist"]')
    assert (p.repeats, p.resume, p.hidden, p.tolerance_pp, p.datasets) == (3, True, None, 1.0, ["fashion-mnist"])
    assert SPEC.check(dtype="float32").dtype == "float32"  # a string parameter stays the string


@pytest.mark.parametrize("name, value, message", [
    ("engine_counts", "[", "parameter engine_counts must be a list of integers from 1 to 64 (at least one, "
                           "no repeats); got '['"),
    ("engine_counts", [1, 128], "from 1 to 64"),
    ("engine_counts", [], "at least one"),
    ("engine_counts", [2, 2], "an item is repeated"),
    ("engine_counts", 2, "a list of integers"),
    ("repeats", 0, "parameter repeats must be an integer of at least 1; got 0"),
    ("repeats", "abc", "parameter repeats must be an integer of at least 1; got 'abc'"),
    ("repeats", True, "an integer"),
    ("repeats", 2.5, "an integer"),
    ("hidden", 0, "or None"),
    ("dtype", "float16", "parameter dtype must be one of 'float64', 'float32'; got 'float16'"),
    ("resume", 1, "parameter resume must be true or false; got 1"),
    ("tolerance_pp", -1, "a number of at least 0"),
    ("datasets", ["emnist"], "'mnist', 'fashion-mnist'"),
])
def test_bad_values_name_the_parameter_and_what_it_accepts(name, value, message):
    with pytest.raises(ValueError) as info:
        SPEC.check({name: value})
    assert message in str(info.value)


def test_unknown_names_are_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) n_engine; this chapter takes engine_counts, "):
        SPEC.check(n_engine=2)


def test_from_namespace_reads_a_notebooks_globals():
    namespace = {"engine_counts": "[1, 2]", "repeats": 1, "other": object(), "__name__": "__main__"}
    p = SPEC.from_namespace(namespace)
    assert p.engine_counts == [1, 2] and p.repeats == 1 and p.dtype == "float64"


def test_whole_floats_count_as_integers_and_names_must_be_unique():
    assert SPEC.check(repeats=3.0).repeats == 3
    with pytest.raises(ValueError, match="unique"):
        ParamSpec(Param("a", "int", 1, "x"), Param("a", "int", 2, "y"))
    with pytest.raises(ValueError, match="kind"):
        Param("a", "integer", 1, "x")


def test_a_list_of_flags():
    spec = ParamSpec(Param("scale_inputs", "bool_list", [False, True], "raw or scaled pixels"))
    assert spec.check(scale_inputs="[true]").scale_inputs == [True]
    with pytest.raises(ValueError, match=r"parameter scale_inputs must be a list of true and/or false .*; got 'yes'"):
        spec.check(scale_inputs="yes")
    with pytest.raises(ValueError, match="repeated"):
        spec.check(scale_inputs=[True, True])


def test_the_one_rule_for_engine_counts():
    from exemplar.experiments.params import check_engine_counts

    assert check_engine_counts([4, 1, 2], 100, reference=True, larger=True) == [1, 2, 4]
    with pytest.raises(ValueError, match=r"^parameter engine_counts must be a list of integers from 1 to n_train "
                                         r"\(3\): each engine trains on at least one image; got \[1, 4\] \(4 > n_train\)$"):
        check_engine_counts([1, 4], 3)
    with pytest.raises(ValueError, match=r"^parameter engine_counts must include 1 \(the sequential reference\); "
                                         r"got \[2, 4\]$"):
        check_engine_counts([2, 4], 100, reference=True)
    with pytest.raises(ValueError, match=r"and at least one larger count; got \[1\]$"):
        check_engine_counts([1], 100, reference=True, larger=True)
    assert check_engine_counts([1], 100, reference=True) == [1]
