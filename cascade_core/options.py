"""Checks of the parameters every entry point shares (SPEC §2, §9)."""

from __future__ import annotations

import math

import cascade_core_backends as backends

from .errors import CascadeInputError

__all__ = ["check_tau", "check_tile", "backend_for"]


def check_tau(tau: float) -> float:
    """The threshold as a float in ``(0, 1]``, or a :class:`CascadeInputError`."""
    try:
        value = float(tau)
    except (TypeError, ValueError):
        raise CascadeInputError(f"threshold tau must be a number in (0, 1], got {tau!r}") from None
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise CascadeInputError(f"threshold tau must be in (0, 1], got {tau!r}")
    return value


def check_tile(tile: int | None) -> int | None:
    """The tile size: None (the default) or a positive int; else a :class:`CascadeInputError`."""
    if tile is None:
        return None
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
        raise CascadeInputError(f"tile must be a positive integer, got {tile!r}")
    return tile


def backend_for(name: str, x):
    """The backend module `name` (or the best for ``"auto"``) for the array `x`."""
    if not isinstance(name, str):
        raise CascadeInputError(f"backend must be a name, got {name!r}")
    return backends.resolve(name, x)
