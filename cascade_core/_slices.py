"""ADA on every slice of a batched or per-head layer at once (SPEC §1, §3): one scan for all slices.

A per-head layer ``(B, H, T, d)`` has ``B * H`` independent slices; with a
small ``T`` each is too small to keep a GPU busy, so the slices are handed to
the backend together (:meth:`~cascade_core.backends.Backend.greedy_slices`),
and the results are split on the host once.
"""

from __future__ import annotations

from dataclasses import replace

from ._accounting import ada_ops
from ._ada import Selection
from ._errors import CascadeInputError
from ._gram import check_extent, check_floating, normalize
from ._params import backend_for, check_tau
from ._xp import Array, array_namespace, device

__all__ = ["ada_slices", "ada_stacked"]


def ada_slices(x: Array, tau: float, *, center: bool = False, backend: str = "auto") -> list[Selection]:
    """ADA representatives of every slice of a layer ``(..., T, d)``, in batched launches.

    Parameters
    ----------
    x : array of shape (..., T, d)
        One layer with any slice axes in front (``(B, T, d)``,
        ``(B, H, T, d)``), floating point, any array-API namespace.
    tau : float
        Threshold in ``(0, 1]``.
    center : bool, default False
        Subtract each slice's mean token before normalising (SPEC §2).
    backend : str, default "auto"
        ``"auto"`` or a backend name (:func:`cascade_core.backends.names`).

    Returns
    -------
    list of Selection
        One per slice, in the C order of the slice axes: the set of
        :func:`cascade_core.ada` on that slice, ``ops = T**2`` and the needed
        ledger.

    Examples
    --------
    >>> import numpy as np
    >>> import cascade_core as cc
    >>> x = np.array([[[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0], [0.1, 1.0]]])
    >>> [(s.reps.tolist(), s.needed) for s in cc.ada_slices(x, 0.9)]
    [([0, 2], 2), ([0, 1], 3)]
    """
    tau = check_tau(tau)
    xp = array_namespace(x)
    check_floating(xp, x.dtype)
    if x.ndim < 2:
        raise CascadeInputError(f"expected a (..., T, d) layer, got shape {tuple(x.shape)}")
    *slice_shape, n, d = x.shape
    check_extent(n, d)
    engine = backend_for(backend, x)
    native = engine.native(x)
    xp = array_namespace(native)
    count = 1
    for extent in slice_shape:
        count *= extent
    flat = xp.reshape(native, (count * n, d))
    try:
        if center:
            xh = xp.concat([normalize(flat[s * n : (s + 1) * n, :], center=True) for s in range(count)])
        else:
            xh = normalize(flat)  # row by row: the same as slice by slice
    except CascadeInputError as err:
        if err.token is None:
            raise
        raise CascadeInputError(err.reason, slice=_unravel(err.token // n, slice_shape), token=err.token % n) from None
    selections = ada_stacked(xp.reshape(xh, (count, n, d)), tau, backend=engine)
    return [replace(sel, reps=engine.export(sel.reps, like=x)) for sel in selections]


def ada_stacked(xh: Array, tau: float, *, backend, block: int | None = None) -> list[Selection]:
    """ADA of every slice of normalised rows `xh` ``(S, n, d)``, through the backend's batched scan.

    Parameters
    ----------
    xh : array of shape (S, n, d)
        ``S`` slices of ``n`` normalised tokens each, in the backend's namespace.
    tau : float
        Threshold in ``(0, 1]``.
    backend : Backend
        Its :meth:`~cascade_core.backends.Backend.greedy_slices` scans all slices.
    block : int, optional
        Tokens per tile of a backend that scans slice by slice (``B`` of
        SPEC §3.1; None: the backend's block).

    Returns
    -------
    list of Selection
        One per slice, in order; ``reps`` in the backend's namespace, the
        ledgers of SPEC §6 (``ops = n**2``, needed). Sizes and needed
        ledgers come to the host in one transfer.
    """
    xp = array_namespace(xh)
    count, n = xh.shape[0], xh.shape[1]
    kept = backend.greedy_slices(xh, tau, block)  # (S, n) booleans
    positions = xp.arange(n, dtype=xp.int64, device=device(xh))
    sizes = xp.sum(xp.astype(kept, xp.int64), axis=1)
    position_sums = xp.sum(xp.where(kept, positions, xp.zeros_like(positions)), axis=1)
    local = xp.nonzero(xp.reshape(kept, (count * n,)))[0] % n
    sizes, sums = _host_ints(xp.stack([sizes, position_sums]))  # the one read of the sizes
    out, first = [], 0
    for size, total in zip(sizes, sums, strict=True):
        reps = local[first : first + size]
        out.append(Selection(reps=reps, ops=ada_ops(n), needed=size * (n - 1) - total))
        first += size
    return out


def _host_ints(a: Array) -> list:
    """A small integer array as nested Python lists, in one transfer (``tolist`` where the namespace has it)."""
    if hasattr(a, "tolist"):
        return a.tolist()
    return [[int(a[i, j]) for j in range(a.shape[1])] for i in range(a.shape[0])]  # no iteration (array-api-strict)


def _unravel(index: int, shape) -> tuple[int, ...]:
    """The slice position (C order) of flat slice `index`."""
    where = []
    for extent in reversed(shape):
        index, rest = divmod(index, extent)
        where.append(rest)
    return tuple(reversed(where))
