"""Numba kernels for the sequential parts (the CPU default when Numba is installed).

The Gram products stay BLAS products (NumPy); what runs here is the greedy
scan with the threshold fused in (the chosen-rows scan of SPEC §3.1 and the
full-Gram tile scan), and the group-size count. Each
``_``-prefixed kernel has a plain-Python body (``kernel.py_func``), which the
benchmarks time as the pure-Python reference and ``NUMBA_DISABLE_JIT=1`` runs.

Compiled kernels are cached (``cache=True``) in a user cache directory,
``platformdirs.user_cache_dir("cascade-core")/numba/<version>``, never inside
the installed package: a cache folder left in ``site-packages`` by ``pip install .``
survives a later ``pip install -e .`` and shadows the editable package
(docs/decisions.md, "Numba's cache outside the package"). A ``NUMBA_CACHE_DIR``
set by the user wins.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from .._version import __version__
from .base import BaseBackend
from .numpy import from_numpy, to_numpy


def cache_dir() -> Path:
    """Where Numba caches this package's compiled kernels: ``NUMBA_CACHE_DIR``, or the user cache directory.

    Returns
    -------
    pathlib.Path
        The user's ``NUMBA_CACHE_DIR`` when set, else
        ``user_cache_dir("cascade-core") / "numba" / <cascade-core version>``.
    """
    user = os.environ.get("NUMBA_CACHE_DIR")
    if user:
        return Path(user)
    return Path(platformdirs.user_cache_dir("cascade-core")) / "numba" / __version__


# Numba reads NUMBA_CACHE_DIR again each time it compiles (numba.core.config.reload_config), so the
# variable itself is set, not only numba.config.CACHE_DIR; a value the user set is left alone.
os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir()))

import numba  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["NumbaBackend", "backend", "cache_dir"]


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
def _linked_rows(cross, tau, linked):
    """``linked[i] = any(|cross[i, j]| >= tau)``, stopping at a row's first link.

    `cross` holds signed products; ``|v| >= tau`` is read as ``v >= tau or
    v <= -tau``, the same decision without an ``abs`` pass over the matrix.
    """
    m, r = cross.shape
    for i in range(m):
        row = cross[i]
        hit = False
        for j in range(r):
            v = row[j]
            if v >= tau or v <= -tau:
                hit = True
                break
        linked[i] = hit


@numba.njit(cache=True, nogil=True)
def _scan_block(gram, tau, out):
    """Scan the signed Gram block of a tile's remaining rows in order; write the kept rows, return their count."""
    k = gram.shape[0]
    blocked = np.zeros(k, dtype=np.bool_)
    count = 0
    for a in range(k):
        if blocked[a]:
            continue
        out[count] = a
        count += 1
        row = gram[a]
        for b in range(a + 1, k):
            v = row[b]
            if v >= tau or v <= -tau:
                blocked[b] = True
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
    #: B of SPEC §3.1, measured (docs/decisions.md, "Block sizes").
    block = 1024

    def native(self, x) -> np.ndarray:
        return to_numpy(x)

    def export(self, a: np.ndarray, like):
        return from_numpy(a, like)

    def warm_up(self) -> None:
        """Compile (or load from the cache) the kernels, so the first timed layer does not pay for it."""
        for dtype in (np.float32, np.float64):
            self.scan_tile(np.zeros((1, 1), dtype=dtype), 0.5, 0, np.zeros(1, dtype=bool))
            self.greedy(np.eye(2, dtype=dtype), 0.5, 1)
        self.group_sizes(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))

    def scan_tile(self, sims, tau, start, excluded):
        sims = np.ascontiguousarray(sims)
        out = np.empty(sims.shape[0], dtype=np.int64)
        count = _scan_tile(sims, sims.dtype.type(tau), start, excluded, out)
        return out[:count], excluded

    def greedy(self, xh, tau, block):
        """SPEC §3.1 with BLAS products and compiled scans; the kept rows are copied into one buffer."""
        xh = np.ascontiguousarray(xh)
        n, d = xh.shape
        t = xh.dtype.type(tau)
        kept_rows = np.empty((n, d), dtype=xh.dtype)  # pages are touched only as rows are kept
        kept = np.empty(n, dtype=np.int64)
        linked = np.empty(block, dtype=np.bool_)
        local = np.empty(block, dtype=np.int64)
        r = 0
        for start in range(0, n, block):
            tile = xh[start : start + block]
            m = tile.shape[0]
            if r:
                _linked_rows(tile @ kept_rows[:r].T, t, linked[:m])  # (a) against the rows kept so far
                left = np.flatnonzero(~linked[:m])
                if left.size == 0:
                    continue
                if left.size < m:
                    tile = tile[left]
            else:
                left = np.arange(m)
            count = _scan_block(tile @ tile.T, t, local)  # (b) the block of the remaining rows
            picked = local[:count]
            kept_rows[r : r + count] = tile[picked]
            kept[r : r + count] = left[picked] + start
            r += count
        return kept[:r].copy()

    def group_sizes(self, assignment, reps):
        return _group_sizes(
            np.ascontiguousarray(assignment, dtype=np.int64), np.ascontiguousarray(reps, dtype=np.int64)
        )


backend = NumbaBackend()
