"""The greedy scan on NumPy arrays: the CPU reference, vectorised per tile."""

from __future__ import annotations

import numpy as np

name = "numpy"


def supports(xp) -> bool:
    return getattr(xp, "__name__", "").endswith("numpy")


def synchronize() -> None:
    return None


def scan_tile(sims, tau, start, excluded):
    sims = np.asarray(sims)
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
