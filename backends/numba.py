"""Numba kernels for the sequential parts (the CPU default when Numba is installed).

The Gram tiles stay BLAS products (NumPy); what runs here is the greedy scan
of a tile with the threshold fused in, and the group-size count. Each
``_``-prefixed kernel has a plain-Python body (``kernel.py_func``), which the
benchmarks time as the pure-Python reference and ``NUMBA_DISABLE_JIT=1`` runs.
"""

from __future__ import annotations

import numba
import numpy as np

from .base import BaseBackend
from .numpy import from_numpy, to_numpy

__all__ = ["NumbaBackend", "backend"]


@numba.njit(cache=True, nogil=True)
def _scan_tile(sims, tau, start, excluded, out):
    """Visit the rows of `sims` in order; a row not yet excluded is chosen and excludes its links.

    `tau` has the dtype of `sims`, so the comparison is the one NumPy makes.
    Writes the chosen rows (global indices) to `out` and returns their number.
    """
    m, n = sims.shape
    count = 0
    for k in range(m):
        if excluded[start + k]:
            continue
        out[count] = start + k
        count += 1
        row = sims[k]
        for j in range(n):
            if row[j] >= tau:
                excluded[j] = True
    return count


@numba.njit(cache=True, nogil=True)
def _group_sizes(assignment, reps):
    slot = np.full(assignment.shape[0], -1, dtype=np.int64)
    for s in range(reps.shape[0]):
        slot[reps[s]] = s
    sizes = np.zeros(reps.shape[0], dtype=np.int64)
    for i in range(assignment.shape[0]):
        sizes[slot[assignment[i]]] += 1
    return sizes


class NumbaBackend(BaseBackend):
    """NumPy arrays, BLAS Gram tiles, compiled scans and counts."""

    name = "numba"

    def native(self, x) -> np.ndarray:
        return to_numpy(x)

    def export(self, a: np.ndarray, like):
        return from_numpy(a, like)

    def warm_up(self) -> None:
        """Compile (or load from the cache) the kernels, so the first timed layer does not pay for it."""
        for dtype in (np.float32, np.float64):
            self.scan_tile(np.zeros((1, 1), dtype=dtype), 0.5, 0, np.zeros(1, dtype=bool))
        self.group_sizes(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))

    def scan_tile(self, sims, tau, start, excluded):
        sims = np.ascontiguousarray(sims)
        out = np.empty(sims.shape[0], dtype=np.int64)
        count = _scan_tile(sims, sims.dtype.type(tau), start, excluded, out)
        return out[:count], excluded

    def group_sizes(self, assignment, reps):
        return _group_sizes(
            np.ascontiguousarray(assignment, dtype=np.int64), np.ascontiguousarray(reps, dtype=np.int64)
        )


backend = NumbaBackend()
