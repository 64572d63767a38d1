"""Assignment of every token to a representative, and group sizes (SPEC §4)."""

from __future__ import annotations

from ._xp import Array, array_namespace, device, isin_sorted
from .gram import normalize, similarity_tile, tile_rows, tile_starts
from .options import backend_for, check_tile

__all__ = ["assign_normalized", "group_sizes"]


def assign_normalized(xh: Array, reps: Array, *, tile: int | None) -> Array:
    """``a(i) = argmax_{j in R} s_ij`` (ties: lowest index); ``a(j) = j`` for ``j`` in R.

    Computed in row tiles of ``rows x r``. `reps` must be increasing, so the
    array API's "first maximum" rule of ``argmax`` picks the lowest index.
    """
    xp = array_namespace(xh, reps)
    n = xh.shape[0]
    xr_t = xp.matrix_transpose(xp.take(xh, reps, axis=0))
    step = tile_rows(tile, reps.shape[0])
    parts = [xp.take(reps, xp.argmax(similarity_tile(xh, xr_t, i, step), axis=1)) for i in tile_starts(n, step)]
    nearest = xp.concat(parts)
    tokens = xp.arange(n, dtype=xp.int64, device=device(xh))
    return xp.where(isin_sorted(tokens, reps), tokens, nearest)


def group_sizes(assignment: Array, reps: Array, *, backend=None) -> Array:
    """``c_j = |{i : a(i) = j}|`` for each ``j`` of `reps` (in the order of `reps`).

    Uses the backend's kernel when it has one, else sorting and ``searchsorted``.
    """
    if backend is not None and hasattr(backend, "group_sizes"):
        return backend.group_sizes(assignment, reps)
    xp = array_namespace(assignment, reps)
    ordered = xp.sort(assignment)
    return xp.searchsorted(ordered, reps, side="right") - xp.searchsorted(ordered, reps, side="left")


def assign(
    x: Array, reps: Array, *, center: bool = False, backend: str = "auto", tile: int | None = None
) -> tuple[Array, Array]:
    """Assignment and group sizes of a representative set (SPEC §4).

    Parameters
    ----------
    x
        Activations ``(T, d)``.
    reps
        Representative token indices, increasing.
    center, backend, tile
        As in :func:`cascade_core.ada`.

    Returns
    -------
    assignment : Array
        ``(T,)``: the representative of every token.
    sizes : Array
        ``(r,)``: the group size of every representative, in the order of `reps`.

    Examples
    --------
    >>> import numpy as np
    >>> import cascade_core as cc
    >>> x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> a, c = cc.assign(x, np.array([0, 2]))
    >>> a.tolist(), c.tolist()
    ([0, 0, 2], [2, 1])
    """

    tile = check_tile(tile)
    engine = backend_for(backend, x)
    xh = normalize(engine.native(x), center=center)
    reps_native = engine.native(reps)
    xp = array_namespace(xh, reps_native)
    reps_native = xp.astype(reps_native, xp.int64)
    assignment = assign_normalized(xh, reps_native, tile=tile)
    sizes = group_sizes(assignment, reps_native, backend=engine)
    return engine.export(assignment, like=x), engine.export(sizes, like=x)
