"""ADA selection (SPEC §3): the lexicographically-first maximal independent set."""

from __future__ import annotations

from dataclasses import dataclass

from ._accounting import ada_ops
from ._gram import normalize, similarity_tile, tile_rows, tile_starts
from ._params import backend_for, check_tau, check_tile
from ._xp import Array, array_namespace, device

__all__ = ["Selection", "ada", "ada_normalized", "greedy_independent_set"]


@dataclass(frozen=True)
class Selection:
    """A representative set and what it cost.

    Attributes
    ----------
    reps : array of int64
        Token indices of the representatives, increasing, in the namespace
        and on the device of the input.
    ops : int
        Inner products counted by SPEC §6.
    """

    reps: Array
    ops: int


def greedy_independent_set(xh: Array, tau: float, *, backend, tile: int | None) -> Array:
    """Scan the rows of `xh` in order; keep a row iff it is linked to no row kept before.

    The one scan of the library: ADA runs it over all tokens, the cascade
    over the inherited set (removal) and the uncovered tokens (addition).
    The Gram matrix of `xh` is computed in row tiles and handed to the
    backend tile by tile.

    Parameters
    ----------
    xh : array of shape (n, d)
        Normalised rows.
    tau : float
        Threshold: rows ``i != j`` are linked when ``|xh_i . xh_j| >= tau``.
    backend : Backend
        Computes the tiles and scans them (:mod:`cascade_core.backends`).
    tile : int or None
        Rows of the Gram matrix computed at once, or None for the default.

    Returns
    -------
    array of int64
        Indices (into the rows of `xh`) of the kept rows, increasing.
    """
    xp = array_namespace(xh)
    excluded = xp.zeros((xh.shape[0],), dtype=xp.bool, device=device(xh))
    chosen = [xp.zeros((0,), dtype=xp.int64, device=device(xh))]
    xh_t = xp.matrix_transpose(xh)
    step = tile_rows(tile, xh.shape[0])
    for start in tile_starts(xh.shape[0], step):
        sims = similarity_tile(xh, xh_t, start, step, backend=backend)
        picked, excluded = backend.scan_tile(sims, tau, start, excluded)
        chosen.append(picked)
        del sims
    return xp.concat(chosen)


def ada_normalized(xh: Array, tau: float, *, backend, tile: int | None) -> Selection:
    """ADA on normalised rows: the scan over all ``T`` tokens, counted as ``T**2``."""
    reps = greedy_independent_set(xh, tau, backend=backend, tile=tile)
    return Selection(reps=reps, ops=ada_ops(xh.shape[0]))


def ada(x: Array, tau: float, *, center: bool = False, backend: str = "auto", tile: int | None = None) -> Selection:
    """ADA representatives of one layer (SPEC §3).

    Parameters
    ----------
    x : array of shape (T, d)
        Activations of any array-API namespace (NumPy, CuPy, PyTorch, JAX,
        ...), floating point.
    tau : float
        Threshold in ``(0, 1]``: tokens are linked when ``|cos| >= tau``.
    center : bool, default False
        Subtract the mean token before normalising (SPEC §2).
    backend : str, default "auto"
        ``"auto"``, or a name from :func:`cascade_core.backends.names`.
    tile : int, optional
        Rows of the Gram matrix computed at once (default: about 4 Mi
        similarities a tile).

    Returns
    -------
    Selection
        ``reps`` (increasing token indices, in the namespace of `x`) and
        ``ops = T**2``.

    Examples
    --------
    >>> import numpy as np
    >>> import cascade_core as cc
    >>> x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> sel = cc.ada(x, 0.9)
    >>> sel.reps.tolist(), sel.ops
    ([0, 2], 9)
    """

    tau = check_tau(tau)
    tile = check_tile(tile)
    engine = backend_for(backend, x)
    xh = normalize(engine.native(x), center=center)
    selection = ada_normalized(xh, tau, backend=engine, tile=tile)
    return Selection(reps=engine.export(selection.reps, like=x), ops=selection.ops)
