"""The checks every layer uses, in one place (in the style of scikit-learn's ``utils/validation.py``).

Each check returns the value it accepts (converted where that is safe) or raises ``ValueError``
naming the parameter, what is accepted, and what it got.
"""

from __future__ import annotations

import numpy as np


#: Floating-point types the engines may train in.
DTYPES = ("float64", "float32")

#: Who trains a network: scikit-learn's ``MLPClassifier`` or the fast numpy trainer (the same training).
TRAINERS = ("sklearn", "numpy")


def check_positive_int(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming the parameter and the accepted range."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ValueError(f"{name} must be an integer of at least {minimum}{upper}; got {value!r}")
    return int(value)


def check_dtype(dtype) -> str:
    """``dtype`` as one of :data:`DTYPES` (a name or a numpy type), or ``ValueError`` naming what is accepted."""
    try:  # np.dtype(None) is float64: None is refused rather than guessed
        name = np.dtype(dtype).name if dtype is not None else None
    except (TypeError, ValueError):
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(map(repr, DTYPES))}; got {dtype!r}")
    return name


def check_interval(name: str, value, *, low: float | None = None, high: float | None = None,
                   closed: str = "both", allow_none: bool = False, what: str = "a number") -> float | None:
    """``value`` as a float inside an interval, in the style of scikit-learn's ``check_scalar``.

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value
        Any real number (``bool`` is refused: ``True`` is no number of seconds).
    low, high : float, optional
        The bounds; ``None`` leaves that side open.
    closed : {"both", "left", "right", "neither"}
        Which bounds belong to the interval.
    allow_none : bool
        Accept ``None`` too (returned as it is).
    what : str
        What the number is, for the message ("a number of seconds").

    Raises
    ------
    ValueError
        ``"NAME must be WHAT in [LOW, HIGH]; got VALUE"`` (brackets as ``closed`` says; with one bound,
        "at least LOW", "greater than LOW", "at most HIGH" or "less than HIGH").
    """
    if closed not in ("both", "left", "right", "neither"):
        raise ValueError(f"closed must be 'both', 'left', 'right' or 'neither'; got {closed!r}")
    if value is None and allow_none:
        return None
    left = "[" if closed in ("both", "left") else "("
    right = "]" if closed in ("both", "right") else ")"
    if low is not None and high is not None:
        interval = f" in {left}{low:g}, {high:g}{right}"
    elif low is not None:
        interval = f" {'at least' if left == '[' else 'greater than'} {low:g}"
    elif high is not None:
        interval = f" {'at most' if right == ']' else 'less than'} {high:g}"
    else:
        interval = ""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if ok:
        v = float(value)
        ok = v == v  # NaN is in no interval
        if ok and low is not None:
            ok = v >= low if left == "[" else v > low
        if ok and high is not None:
            ok = v <= high if right == "]" else v < high
    if not ok:
        raise ValueError(f"{name} must be {what}{interval}{' or None' if allow_none else ''}; got {value!r}")
    return float(value)


def check_timeout(timeout, name: str = "timeout", allow_none: bool = True) -> float | None:
    """``timeout`` as a positive number of seconds, or ``None`` (wait for ever) where ``allow_none``."""
    return check_interval(name, timeout, low=0, closed="neither", allow_none=allow_none, what="a number of seconds")


def check_trainer(trainer) -> str:
    """``trainer`` if it is one of :data:`TRAINERS`, else ``ValueError`` listing them."""
    return check_choice("trainer", trainer, TRAINERS)


def check_mpi_cluster(cl, what: str) -> int:
    """The number of engines of ``cl``, which must have been started with ``launcher="mpi"`` (or ``"slurm"``: MPI too).

    ``what`` names the caller in the message (``"run_exemplar"``, ``"fit_parallel"``, ...).
    """
    if getattr(cl, "launcher", None) not in ("mpi", "slurm"):
        raise ValueError(
            f"{what} scatters the data with MPI and needs a cluster started with "
            f"start_cluster(..., launcher='mpi'); got launcher={getattr(cl, 'launcher', None)!r}"
        )
    return check_positive_int("cl.n (number of engines)", cl.n)


def check_bool(name: str, value) -> bool:
    """``value`` as a bool; only ``True`` and ``False`` (numpy's too) are accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def check_choice(name: str, value, choices) -> str:
    """``value`` if it is one of ``choices``, else ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value
