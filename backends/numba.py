"""Numba kernels for the sequential parts (the CPU default when Numba is installed).

The Gram tiles stay BLAS products (NumPy); what runs here is the greedy scan
of a tile with the threshold fused in, and the group-size count. Each
``_``-prefixed kernel has a plain-Python body (``kernel.py_func``), which the
benchmarks time as the pure-Python reference and ``NUMBA_DISABLE_JIT=1`` runs.
"""

from __future__ import annotations

import numba
import numpy as np

from .numpy import export, native  # noqa: F401  (the same arrays as the NumPy backend)

name = "numba"


def synchronize() -> None:
    return None


def warm_up() -> None:
    """Compile (or load from the cache) the kernels, so the first timed layer does not pay for it."""
    for dtype in (np.float32, np.float64):
        scan_tile(np.zeros((1, 1), dtype=dtype), 0.5, 0, np.zeros(1, dtype=bool))
    group_sizes(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))


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


def scan_tile(sims, tau, start, excluded):
    sims = np.ascontiguousarray(sims)
    out = np.empty(sims.shape[0], dtype=np.int64)
    count = _scan_tile(sims, sims.dtype.type(tau), start, excluded, out)
    return out[:count], excluded


@numba.njit(cache=True, nogil=True)
def _group_sizes(assignment, reps):
    slot = np.full(assignment.shape[0], -1, dtype=np.int64)
    for s in range(reps.shape[0]):
        slot[reps[s]] = s
    sizes = np.zeros(reps.shape[0], dtype=np.int64)
    for i in range(assignment.shape[0]):
        sizes[slot[assignment[i]]] += 1
    return sizes


def group_sizes(assignment, reps):
    return _group_sizes(np.ascontiguousarray(assignment, dtype=np.int64), np.ascontiguousarray(reps, dtype=np.int64))
