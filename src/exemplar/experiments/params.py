"""A chapter's parameters, declared once: name, type, accepted range, default and meaning.

Each chapter module (``exemplar.experiments.<chapter>``) declares its parameters as one
:class:`ParamSpec`; the notebook's ``parameters`` cell holds the same names and defaults (a test
holds them equal), ``exemplar run -p NAME VALUE`` and papermill's ``-p``/``-y``/``-f`` set them, and
:meth:`ParamSpec.check` validates them all before any cluster starts::

    SPEC = ParamSpec(
        Param("engine_counts", "int_list", [1, 2, 4, 6], "processes (MPI engines) to train on", minimum=1),
        Param("repeats", "int", 5, "runs per engine count", minimum=1),
    )
    p = SPEC.check(engine_counts="[1, 2]", repeats=1)   # p.engine_counts == [1, 2]

Values may arrive as strings: papermill's ``-p engine_counts '[1, 2]'`` passes the text
``"[1, 2]"``. A string given for a parameter that is not a string is read as JSON, then as YAML
(so ``[1, 2]``, ``3``, ``true``, ``null`` and ``float32`` all work), then checked like any value.
Every rejection is a ``ValueError`` that names the parameter, what it accepts and what it got.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import AbstractSet, Any, Iterable, Mapping

from exemplar import config
from exemplar.analysis.sweep import MODELS
from exemplar.validation import DTYPES, TRAINERS

#: The longest text, and the most brackets in it, read as YAML (JSON reads any text at once).
MAX_YAML_CHARS, MAX_YAML_NESTING = 10_000, 64

#: The kinds of parameter :class:`Param` knows.
KINDS = ("int", "float", "bool", "str", "int_list", "str_list", "bool_list")


def _bound(x) -> str:
    """A range's bound as a message shows it: whole numbers in full (2147483647, not 2.14748e+09)."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def shown(value, limit: int = 80) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters; a value with no repr still shows its type.

    (``repr`` refuses an int of more than 4,300 digits and a list nested deeper than the recursion limit.)
    """
    try:
        got = repr(value)
    except Exception:  # any failing __repr__: say what the value is instead
        if isinstance(value, numbers.Integral):
            return f"an integer of {int(value).bit_length():,} bits"
        return f"a value of type {type(value).__name__} that cannot be shown"
    return got if len(got) <= limit else got[:limit - 3] + "..."


class Parameters(SimpleNamespace):
    """Checked parameter values, as attributes (``p.repeats``) and as a dict (:meth:`as_dict`)."""

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class Param:
    """One parameter of a chapter.

    Parameters
    ----------
    name : str
        As in the notebook's ``parameters`` cell.
    kind : {"int", "float", "bool", "str", "int_list", "str_list", "bool_list"}
        The type of the value (of each item, for the lists).
    default
        The notebook's default.
    help : str
        What it means, for messages and the docs.
    minimum, maximum : number, optional
        Bounds of a number (of each item, for ``int_list``).
    choices : tuple, optional
        Accepted values of a string (of each item, for ``str_list``).
    optional : bool
        ``None`` is accepted too (meaning "chosen by the chapter", e.g. the classifier the ``model`` parameter names).
    """

    name: str
    kind: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None
    optional: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r}")

    # ---------------------------------------------------------------------------- messages
    def accepted(self) -> str:
        """What this parameter accepts, in words."""
        item = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
                "int_list": "a list of integers", "str_list": "a list of strings",
                "bool_list": "a list of true and/or false"}[self.kind]
        if self.minimum is not None and self.maximum is not None:
            item += f" from {_bound(self.minimum)} to {_bound(self.maximum)}"
        elif self.minimum is not None:
            item += f" of at least {_bound(self.minimum)}"
        elif self.maximum is not None:
            item += f" of at most {_bound(self.maximum)}"
        if self.choices:
            item += " (" + (", ".join(map(repr, self.choices))) + ")"
            if self.kind == "str":
                item = "one of " + ", ".join(map(repr, self.choices))
        if self.kind.endswith("_list"):
            item += " (at least one, no repeats)"
        if self.optional:
            item += ", or None"
        return item

    def _fail(self, value, why: str = "") -> None:
        raise ValueError(f"parameter {self.name} must be {self.accepted()}{why}; got {shown(value)}")

    # ---------------------------------------------------------------------------- checking
    def check(self, value):
        """``value`` converted and checked, or ``ValueError`` naming this parameter."""
        raw, value = value, self.parse(value)
        if value is None:
            if self.optional:
                return None
            self._fail(raw)
        if self.kind.endswith("_list"):  # a list or tuple; not a string, a mapping's keys or a set's order
            if isinstance(value, (str, bytes, Mapping, AbstractSet)) or not isinstance(value, Iterable):
                self._fail(raw)
            items = list(value)
            if not items:
                self._fail(raw)
            one = self.kind[: -len("_list")]
            out = [self._scalar(one, v, whole=raw) for v in items]
            if len(set(out)) != len(out):
                self._fail(raw, " (an item is repeated)")
            return out
        return self._scalar(self.kind, value, whole=raw)

    def parse(self, value):
        """``value`` as this parameter reads it, unchecked: a string given for a parameter that is not a string is
        read as Python's ``None``, else as JSON, else as YAML, else kept as the string it is (then refused by
        :meth:`check`); any other value as it is. A string parameter takes a string as it is, except ``"None"``
        where the parameter is optional (as papermill's own ``-p NAME None`` reads it)."""
        if not isinstance(value, str):
            return value
        if self.kind == "str":
            return None if self.optional and value == "None" else value
        text = value.strip()
        if text == "None":  # Python's spelling, as a notebook's parameters cell writes it
            return None
        try:
            return json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python's recursion limit
            pass
        if len(text) > MAX_YAML_CHARS or text.count("[") + text.count("{") > MAX_YAML_NESTING:
            return value  # PyYAML takes seconds on deep nesting (quadratic): no parameter needs it
        try:
            import yaml

            return yaml.safe_load(text)
        except Exception:  # not YAML either: checked (and refused) as the string it is
            return value

    def _scalar(self, kind: str, v, whole):
        if kind == "int":
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                if isinstance(v, float) and v.is_integer():
                    v = int(v)
                else:
                    self._fail(whole)
            v = int(v)
        elif kind == "float":
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                self._fail(whole)
            try:
                v = float(v)
            except OverflowError:  # an integer beyond any float
                v = math.inf
            if not math.isfinite(v):  # NaN passes every bound; infinity is no tolerance
                self._fail(whole, ", finite (not NaN or infinity)")
        elif kind == "bool":
            if not isinstance(v, bool):
                self._fail(whole)
            return v
        elif kind == "str":
            if not isinstance(v, str):
                self._fail(whole)
        if kind in ("int", "float"):
            if (self.minimum is not None and v < self.minimum) or (self.maximum is not None and v > self.maximum):
                self._fail(whole)
        if self.choices and v not in self.choices:
            self._fail(whole)
        return v


@dataclass(frozen=True)
class ParamSpec:
    """A chapter's parameters, in the notebook's order."""

    params: tuple[Param, ...] = field(default_factory=tuple)

    def __init__(self, *params: Param):
        object.__setattr__(self, "params", tuple(params))
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise ValueError(f"parameter names must be unique; got {names}")

    def __iter__(self):
        return iter(self.params)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def defaults(self) -> dict[str, Any]:
        """Every parameter's default (a fresh copy of the lists)."""
        return {p.name: list(p.default) if isinstance(p.default, list) else p.default for p in self.params}

    def check(self, values: Mapping[str, Any] | None = None, **more) -> Parameters:
        """All parameters, checked: defaults for those not given; unknown names are refused.

        Returns
        -------
        Parameters
            The converted values, as attributes.
        """
        given = {**(values or {}), **more}
        unknown = sorted(map(str, set(given) - set(self.names)))
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; this chapter takes {', '.join(self.names)}")
        merged = {**self.defaults(), **given}
        return Parameters(**{p.name: p.check(merged[p.name]) for p in self.params})

    def from_namespace(self, namespace: Mapping[str, Any]) -> Parameters:
        """:meth:`check` of this spec's names as they stand in ``namespace`` (a notebook's ``globals()``)."""
        return self.check({name: namespace[name] for name in self.names if name in namespace})



#: The parameters several chapters take, declared once; a chapter's :data:`SPEC` lists them with
#: :func:`shared` (which may change a default or the help text, never the kind or the range).
SHARED: dict[str, Param] = {p.name: p for p in (
    Param("engine_counts", "int_list", [1, 2, 4, 6], "MPI engines (processes) to train on", minimum=1),
    Param("hidden", "int", None, "hidden units; None: the `model` parameter decides", minimum=1, optional=True),
    Param("epochs", "int", None, "epochs (max_iter); None: the `model` parameter decides", minimum=1, optional=True),
    Param("model", "str", "paper", "the classifier when hidden/epochs are None: the paper's for Tables II–III "
          "(75 hidden units, 75 epochs) or the sweep's optimum by impact factor (results/sequential_sweep.csv; "
          "it moves with the machine)", choices=MODELS),
    Param("repeats", "int", 5, "runs per setting: run r uses random_state seed+r on every engine", minimum=1),
    Param("n_train", "int", config.PAPER_N_TRAIN, "the first n_train training images, split over the engines",
          minimum=1, maximum=config.N_TRAIN_TOTAL),
    Param("seed", "int", 0, "random_state of repeat 0 (repeat r uses seed+r)", minimum=0, maximum=2**31 - 1),
    Param("launcher", "str", "mpi", "engines started by mpiexec, sharing one MPI world; \"slurm\": one Slurm job "
          "(sbatch + srun; options from $EXEMPLAR_SLURM_PARTITION/TIME/ACCOUNT)", choices=("mpi", "slurm")),
    Param("resume", "bool", False, "keep finished runs of an earlier, interrupted run with the same parameters"),
    Param("retries", "int", 0, "restart the cluster and rerun a configuration this many times if it fails",
          minimum=0),
    Param("dtype", "str", "float64", "float32: train in single precision (features, weights, MPI buffers)",
          choices=DTYPES),
    Param("trainer", "str", "numpy", "who trains each network: \"numpy\", the fast trainer (the same network and "
          "training as scikit-learn's, equal to it in float64), or \"sklearn\" (MLPClassifier)", choices=TRAINERS),
)}


def shared(name: str, **changes) -> Param:
    """The shared parameter ``name`` (:data:`SHARED`), with another ``default`` or ``help`` if given.

    Raises
    ------
    KeyError
        For a name that is not shared.
    ValueError
        For a change other than ``default`` and ``help`` (the kind and range are the shared ones).
    """
    other = sorted(set(changes) - {"default", "help"})
    if other:
        raise ValueError(f"a shared parameter may change its default and help only; got {other}")
    return dataclasses.replace(SHARED[name], **changes)


def check_engine_counts(engine_counts: list[int], n_train: int, *, reference: bool = False,
                        larger: bool = False, n_train_name: str = "n_train") -> list[int]:
    """The chapters' one rule for engine counts (each already a positive integer), sorted.

    Every engine trains on at least one image, so no count may exceed ``n_train``; with ``reference``,
    1 (the sequential run every speedup and accuracy is measured against) must be among them, and with
    ``larger`` also a count above 1.

    Raises
    ------
    ValueError
        Naming ``engine_counts``, the rule it breaks and what it got.
    """
    counts = sorted(engine_counts)
    too_many = [n for n in counts if n > n_train]
    if too_many:
        raise ValueError(f"parameter engine_counts must be a list of integers from 1 to {n_train_name} ({n_train}): "
                         f"each engine trains on at least one image; got {counts} "
                         f"({', '.join(map(str, too_many))} > {n_train_name})")
    if reference and (counts[0] != 1 or (larger and len(counts) < 2)):
        raise ValueError("parameter engine_counts must include 1 (the sequential reference)"
                         + (" and at least one larger count" if larger else "") + f"; got {counts}")
    return counts
