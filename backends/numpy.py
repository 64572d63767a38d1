"""The greedy scan on NumPy arrays: the CPU reference, vectorised per tile.

Arrays of other CPU frameworks (PyTorch, JAX) come in through DLPack without
a copy, and results go back the same way.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from .._dtypes import widen_bfloat16
from .base import BaseBackend

__all__ = ["NumpyBackend", "backend", "to_numpy", "from_numpy"]


def to_numpy(x) -> np.ndarray:
    """`x` (a CPU array of any framework) as a NumPy array, zero-copy where DLPack allows."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):  # a PyTorch tensor that may carry autograd state
        x = x.detach()
    x = widen_bfloat16(x)  # NumPy has no bfloat16
    try:
        return np.from_dlpack(x)
    except (TypeError, RuntimeError, BufferError, AttributeError, ValueError):
        return np.asarray(x)


def from_numpy(a: np.ndarray, like):
    """A NumPy result `a` in the namespace of `like`, zero-copy where DLPack allows."""
    if isinstance(like, np.ndarray):
        return a
    xp = array_namespace(like)
    try:
        return xp.from_dlpack(a)
    except (TypeError, RuntimeError, BufferError, AttributeError, ValueError):
        return xp.asarray(a)


class NumpyBackend(BaseBackend):
    """The scan of a tile as NumPy operations: candidates first, then a Python loop over them."""

    name = "numpy"
    #: B of SPEC §3.1, measured (docs/decisions.md, "Block sizes").
    block = 1024

    def native(self, x) -> np.ndarray:
        return to_numpy(x)

    def export(self, a: np.ndarray, like):
        return from_numpy(a, like)

    def scan_tile(self, sims, tau, start, excluded):
        m = sims.shape[0]
        candidates = np.flatnonzero(~excluded[start : start + m])
        if candidates.size == 0:
            return candidates.astype(np.int64) + start, excluded
        among = sims[np.ix_(candidates, candidates + start)] >= tau
        blocked = np.zeros(candidates.size, dtype=bool)
        taken = []
        for k in range(candidates.size):
            if not blocked[k]:
                taken.append(k)
                blocked |= among[k]
        chosen = candidates[taken]
        for row in chosen:  # row by row: no (chosen x n) copy of the tile
            excluded |= sims[row] >= tau
        return chosen.astype(np.int64) + start, excluded


backend = NumpyBackend()
