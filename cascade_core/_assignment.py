"""Assignment of every token to a representative, and group sizes (SPEC §4)."""

from __future__ import annotations

from . import backends
from ._errors import CascadeInputError
from ._gram import normalize, similarity_tile, tile_rows, tile_starts
from ._params import backend_for, check_tile
from ._xp import Array, array_namespace, device, isin_sorted

__all__ = ["assign", "assign_normalized", "group_sizes"]

_DEFAULT = backends.BaseBackend()


def assign_normalized(xh: Array, reps: Array, *, tile: int | None, backend=None) -> Array:
    """``a(i) = argmax_{j in R} s_ij`` (ties: lowest index); ``a(j) = j`` for ``j`` in R.

    Computed in row tiles of ``rows x r``. `reps` must be increasing, so the
    array API's "first maximum" rule of ``argmax`` picks the lowest index.
    """
    xp = array_namespace(xh, reps)
    n = xh.shape[0]
    xr_t = xp.matrix_transpose(xp.take(xh, reps, axis=0))
    step = tile_rows(tile, reps.shape[0])
    parts = [
        xp.take(reps, xp.argmax(similarity_tile(xh, xr_t, i, step, backend=backend), axis=1))
        for i in tile_starts(n, step)
    ]
    nearest = xp.concat(parts)
    tokens = xp.arange(n, dtype=xp.int64, device=device(xh))
    return xp.where(isin_sorted(tokens, reps), tokens, nearest)


def group_sizes(assignment: Array, reps: Array, *, backend=None) -> Array:
    """``c_j = |{i : a(i) = j}|`` for each ``j`` of the increasing `reps` (in the order of `reps`)."""
    return (backend or _DEFAULT).group_sizes(assignment, reps)


def assign(
    x: Array, reps: Array, *, center: bool = False, backend: str = "auto", tile: int | None = None
) -> tuple[Array, Array]:
    """Assignment and group sizes of a representative set (SPEC §4).

    Parameters
    ----------
    x : array of shape (T, d)
        Activations.
    reps : array of int
        Representative token indices, increasing.
    center, backend, tile
        As in :func:`cascade_core.ada`.

    Returns
    -------
    assignment : array of int64, shape (T,)
        The representative of every token.
    sizes : array of int64, shape (r,)
        The group size of every representative, in the order of `reps`.

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
    if reps_native.ndim != 1 or not xp.isdtype(reps_native.dtype, "integral"):
        raise CascadeInputError(
            f"reps must be a 1-d integer index array, got {reps_native.dtype} of shape {tuple(reps_native.shape)}",
            param="reps",
        )
    reps_native = xp.astype(reps_native, xp.int64)
    assignment = assign_normalized(xh, reps_native, tile=tile, backend=engine)
    sizes = group_sizes(assignment, reps_native, backend=engine)
    return engine.export(assignment, like=x), engine.export(sizes, like=x)
