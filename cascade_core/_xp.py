"""Small array-API helpers shared by the core (no NumPy, no CuPy)."""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace, device

Array = Any

__all__ = ["Array", "array_namespace", "device", "isin_sorted", "index_array"]


def index_array(values: list[int], *, like: Array) -> Array:
    """Integer index array (int64) holding `values`, on the device of `like`."""
    xp = array_namespace(like)
    return xp.asarray(values, dtype=xp.int64, device=device(like))


def isin_sorted(values: Array, sorted_set: Array) -> Array:
    """Boolean mask: which entries of `values` occur in the sorted array `sorted_set`.

    Pure array API (``searchsorted`` and ``take``), so no mask is scattered
    into place and no element leaves the device.
    """
    xp = array_namespace(values, sorted_set)
    n = sorted_set.shape[0]
    if n == 0:
        return xp.zeros(values.shape, dtype=xp.bool, device=device(values))
    pos = xp.searchsorted(sorted_set, values)
    inside = pos < n
    pos = xp.where(inside, pos, xp.zeros_like(pos))
    return inside & (xp.take(sorted_set, pos) == values)
