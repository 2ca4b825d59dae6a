"""The checks every layer uses, in one place (in the style of scikit-learn's ``utils/validation.py``).

Each check returns the value it accepts (converted where that is safe) or raises ``ValueError``
naming the parameter, what is accepted, and what it got.
"""

from __future__ import annotations

import numpy as np


#: Floating-point types the engines may train in.
DTYPES = ("float64", "float32")


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


def check_timeout(timeout) -> float | None:
    """``timeout`` as a positive number of seconds, or ``None`` (wait for ever)."""
    if timeout is not None and not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds or None; got {timeout!r}")
    return timeout


def check_mpi_cluster(cl, what: str) -> int:
    """The number of engines of ``cl``, which must have been started with ``launcher="mpi"``.

    ``what`` names the caller in the message (``"run_exemplar"``, ``"fit_parallel"``, ...).
    """
    if getattr(cl, "launcher", None) != "mpi":
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
