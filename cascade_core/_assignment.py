"""Assignment of every token to a representative, and group sizes (SPEC §4)."""

from __future__ import annotations

from . import backends
from ._errors import CascadeInputError
from ._gram import max_similarity, normalize, similarity_tile, tile_rows, tile_starts
from ._params import backend_for, check_tau, check_tile
from ._xp import Array, array_namespace, device, isin_sorted

__all__ = ["assign", "assign_normalized", "check_reps", "group_sizes"]

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
    x: Array,
    reps: Array,
    *,
    tau: float | None = None,
    center: bool = False,
    backend: str = "auto",
    tile: int | None = None,
) -> tuple[Array, Array]:
    """Assignment and group sizes of a representative set (SPEC §4).

    Parameters
    ----------
    x : array of shape (T, d)
        Activations.
    reps : array of int
        Representative token indices, increasing, each in ``0 .. T-1``.
    tau : float, optional
        The threshold the set was chosen at: then every other token must be
        covered (largest similarity to the set ``>= tau``, SPEC §2). Without
        it, every other token must have a nonzero similarity to some
        representative (a token similar to none has no representative to take).
    center, backend, tile
        As in :func:`cascade_core.ada`.

    Returns
    -------
    assignment : array of int64, shape (T,)
        The representative of every token.
    sizes : array of int64, shape (r,)
        The group size of every representative, in the order of `reps`.

    Raises
    ------
    CascadeInputError
        `reps` empty, not 1-d integers, not increasing (a repeated token
        included), outside ``0 .. T-1``, or not covering the tokens (the
        message names the first token left out and its largest similarity).

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
    tau = None if tau is None else check_tau(tau)
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
    check_reps(xh, reps_native, tau=tau, tile=tile, backend=engine)
    assignment = assign_normalized(xh, reps_native, tile=tile, backend=engine)
    sizes = group_sizes(assignment, reps_native, backend=engine)
    return engine.export(assignment, like=x), engine.export(sizes, like=x)


def check_reps(xh: Array, reps: Array, *, tau: float | None, tile: int | None, backend=None) -> None:
    """Refuse a set that is empty, out of range, not increasing, or that does not cover the tokens.

    Parameters
    ----------
    xh : array of shape (T, d)
        Normalised tokens.
    reps : array of int64, shape (r,)
        The representatives.
    tau : float or None
        Covered means largest similarity ``>= tau``; with None, ``> 0``.
    tile : int or None
        Rows of a similarity tile.
    backend : Backend, optional
        Computes the similarities.

    Raises
    ------
    CascadeInputError
        Naming the offending representative or the first token left uncovered.
    """
    xp = array_namespace(xh, reps)
    n = xh.shape[0]
    if reps.shape[0] == 0:
        raise CascadeInputError(f"reps is empty; {n} tokens need at least one representative", param="reps")
    low, high = int(xp.min(reps)), int(xp.max(reps))
    if low < 0 or high >= n:
        raise CascadeInputError(
            f"reps must be token indices in 0..{n - 1}, got {low if low < 0 else high}", param="reps"
        )
    steps = reps[1:] - reps[:-1]
    if reps.shape[0] > 1 and not bool(xp.all(steps > 0)):
        at = int(xp.nonzero(steps <= 0)[0][0])
        word = "repeated" if int(reps[at + 1]) == int(reps[at]) else "not increasing"
        raise CascadeInputError(f"reps must be increasing, each token once: {int(reps[at + 1])} {word}", param="reps")
    tokens = xp.arange(n, dtype=xp.int64, device=device(xh))
    best = max_similarity(xh, tokens, reps, tile, backend=backend)
    uncovered = ~isin_sorted(tokens, reps) & (best < tau if tau is not None else best <= 0)
    if bool(xp.any(uncovered)):
        token = int(xp.nonzero(uncovered)[0][0])
        value = float(best[token])
        why = f"{value:.6g} < tau = {tau:g}" if tau is not None else f"{value:.6g}: it is similar to none of them"
        raise CascadeInputError(
            f"reps do not cover token {token}: its largest similarity to them is {why}", param="reps"
        )
