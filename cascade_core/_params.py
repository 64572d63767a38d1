"""Checks of the parameters every entry point shares (SPEC §2, §9), and the backend for an input."""

from __future__ import annotations

import math

from . import backends
from ._errors import CascadeInputError

__all__ = [
    "ALGORITHMS",
    "check_tau",
    "check_taus",
    "MAX_TAUS",
    "check_tile",
    "check_algorithm",
    "check_positive_int",
    "check_ratio",
    "backend_for",
]

#: The two ways of computing ADA's set (SPEC §3.1): from the chosen rows only (the default), or from
#: every row of the Gram matrix, as the paper costs and times it.
ALGORITHMS = ("chosen-rows", "full-gram")


def check_tau(tau: float) -> float:
    """The threshold as a float in ``(0, 1]``, or a :class:`CascadeInputError`.

    A real number is required: a string (``"0.3"``) or a boolean (``True``,
    which ``float`` would read as 1) is refused, not converted.
    """
    if isinstance(tau, (str, bytes, bool)) or str(getattr(tau, "dtype", "")).endswith("bool"):  # numpy, torch
        raise CascadeInputError(f"tau must be a number in (0, 1], got {tau!r}", param="tau")
    try:
        value = float(tau)
    except (TypeError, ValueError):
        raise CascadeInputError(f"tau must be a number in (0, 1], got {tau!r}", param="tau") from None
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise CascadeInputError(f"tau must be in (0, 1], got {tau!r}", param="tau")
    return value


#: At most this many thresholds in one sweep: (0, 1] in steps of 0.001 (docs/decisions.md, "Sweep thresholds").
MAX_TAUS = 1000


def check_taus(taus) -> list[float]:
    """The thresholds of a sweep: each a valid tau, increasing, distinct, at most :data:`MAX_TAUS`.

    Parameters
    ----------
    taus : sequence of float
        The thresholds, in increasing order.

    Returns
    -------
    list of float

    Raises
    ------
    CascadeInputError
        An invalid tau, none, more than :data:`MAX_TAUS`, a repeated value or
        a value below the one before it (a sweep's rows are in tau order; a
        repeated tau would run twice and be counted twice).
    """
    if isinstance(taus, (str, bytes)) or not hasattr(taus, "__len__"):
        raise CascadeInputError(f"tau must be a list of thresholds, got {taus!r}", param="tau")
    if len(taus) == 0:
        raise CascadeInputError("tau gives no threshold", param="tau")
    if len(taus) > MAX_TAUS:
        raise CascadeInputError(f"tau gives {len(taus)} thresholds; at most {MAX_TAUS} in one sweep", param="tau")
    values = [check_tau(t) for t in taus]
    for before, after in zip(values, values[1:], strict=False):
        if after == before:
            raise CascadeInputError(f"tau {after:g} is given twice; each threshold once", param="tau")
        if after < before:
            raise CascadeInputError(f"tau must be increasing: {after:g} comes after {before:g}", param="tau")
    return values


def check_positive_int(value, param: str) -> int | None:
    """None, or a positive int; else a :class:`CascadeInputError` naming `param`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CascadeInputError(f"{param} must be a positive integer, got {value!r}", param=param)
    return value


def check_tile(tile: int | None) -> int | None:
    """The tile size: None (the default) or a positive int."""
    return check_positive_int(tile, "tile")


def check_algorithm(algorithm: str) -> str:
    """``"chosen-rows"`` or ``"full-gram"``; else a :class:`CascadeInputError`."""
    if algorithm not in ALGORITHMS:
        raise CascadeInputError(
            f"algorithm must be {' or '.join(repr(a) for a in ALGORITHMS)}, got {algorithm!r}", param="algorithm"
        )
    return algorithm


def check_ratio(value, param: str) -> float | None:
    """None, or a finite number ``>= 0``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
        raise CascadeInputError(f"{param} must be a number >= 0, got {value!r}", param=param)
    return float(value)


def backend_for(name: str, x) -> backends.Backend:
    """The backend `name` (or the best for ``"auto"``) for the array `x`."""
    return backends.resolve(name, x)
