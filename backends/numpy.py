"""The greedy scan on NumPy arrays: the CPU reference, vectorised per tile.

Arrays of other CPU frameworks (PyTorch, JAX) come in through DLPack without
a copy, and results go back the same way.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

name = "numpy"


def native(x) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):  # a PyTorch tensor that may carry autograd state
        x = x.detach()
    if str(getattr(x, "dtype", "")).endswith("bfloat16"):  # NumPy has no bfloat16: widen first
        xp = array_namespace(x)
        x = xp.astype(x, xp.float32)
    try:
        return np.from_dlpack(x)
    except (TypeError, RuntimeError, BufferError, AttributeError, ValueError):
        return np.asarray(x)


def export(a: np.ndarray, like):
    if isinstance(like, np.ndarray):
        return a
    xp = array_namespace(like)
    try:
        return xp.from_dlpack(a)
    except (TypeError, RuntimeError, BufferError, AttributeError, ValueError):
        return xp.asarray(a)


def synchronize() -> None:
    return None


def scan_tile(sims, tau, start, excluded):
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
