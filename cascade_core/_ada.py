"""ADA selection (SPEC §3): the lexicographically-first maximal independent set.

Two ways compute the same set (SPEC §3.1): ``"chosen-rows"`` (the default)
compares each tile of tokens with the representatives chosen so far only,
through the backend's :meth:`~cascade_core.backends.Backend.greedy`;
``"full-gram"`` computes every row of the Gram matrix, as the paper costs and
times ADA, and hands it to the backend tile by tile.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._accounting import ada_needed, ada_ops
from ._gram import normalize, similarity_tile, tile_rows, tile_starts
from ._params import backend_for, check_algorithm, check_tau, check_tile
from ._xp import Array, array_namespace, device

__all__ = ["Selection", "ada", "ada_normalized", "full_gram_scan", "greedy_independent_set"]


@dataclass(frozen=True)
class Selection:
    """A representative set and what it cost.

    Attributes
    ----------
    reps : array of int64
        Token indices of the representatives, increasing, in the namespace
        and on the device of the input.
    ops : int
        Inner products on the paper ledger of SPEC §6: ``T**2``.
    needed : int
        Inner products on the needed ledger of SPEC §6:
        ``sum_i |{j in R : j < i}|``.
    """

    reps: Array
    ops: int
    needed: int


def greedy_independent_set(
    xh: Array, tau: float, *, backend, tile: int | None, algorithm: str = "chosen-rows"
) -> Array:
    """Scan the rows of `xh` in order; keep a row iff it is linked to no row kept before.

    The one scan of the library: ADA runs it over all tokens, the cascade
    over the inherited set (removal) and the uncovered tokens (addition).

    Parameters
    ----------
    xh : array of shape (n, d)
        Normalised rows.
    tau : float
        Threshold: rows ``i != j`` are linked when ``|xh_i . xh_j| >= tau``.
    backend : Backend
        Computes the products and scans them (:mod:`cascade_core.backends`).
    tile : int or None
        ``"chosen-rows"``: tokens per tile, ``B`` of SPEC §3.1 (None: the
        backend's :attr:`~cascade_core.backends.Backend.block`).
        ``"full-gram"``: rows of the Gram matrix computed at once (None:
        about 4 Mi similarities a tile).
    algorithm : {"chosen-rows", "full-gram"}
        From the chosen rows only (SPEC §3.1), or from every row of the
        Gram matrix (SPEC §3 as the paper costs it). Same set.

    Returns
    -------
    array of int64
        Indices (into the rows of `xh`) of the kept rows, increasing.
    """
    if algorithm == "full-gram":
        return full_gram_scan(xh, tau, backend=backend, tile=tile)
    return backend.greedy(xh, tau, tile or backend.block)


def full_gram_scan(xh: Array, tau: float, *, backend, tile: int | None) -> Array:
    """The greedy scan on every row of the Gram matrix of `xh`, computed in row tiles.

    Each tile ``|xh[s : s + tile] @ xh.T|`` is handed to the backend's
    :meth:`~cascade_core.backends.Backend.scan_tile`, then released.
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


def ada_normalized(xh: Array, tau: float, *, backend, tile: int | None, algorithm: str = "chosen-rows") -> Selection:
    """ADA on normalised rows: the scan over all ``T`` tokens, with both ledgers of SPEC §6."""
    reps = greedy_independent_set(xh, tau, backend=backend, tile=tile, algorithm=algorithm)
    n = xh.shape[0]
    return Selection(reps=reps, ops=ada_ops(n), needed=ada_needed(reps, n))


def ada(
    x: Array,
    tau: float,
    *,
    center: bool = False,
    backend: str = "auto",
    tile: int | None = None,
    algorithm: str = "chosen-rows",
) -> Selection:
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
        Tokens per tile: ``B`` of SPEC §3.1 for ``"chosen-rows"`` (default:
        the backend's measured block), rows of a Gram tile for
        ``"full-gram"`` (default: about 4 Mi similarities a tile).
    algorithm : {"chosen-rows", "full-gram"}, default "chosen-rows"
        Compute the set from the similarities to the chosen representatives
        only (SPEC §3.1), or from the full Gram matrix, as the paper costs
        and times ADA. Both give the same set.

    Returns
    -------
    Selection
        ``reps`` (increasing token indices, in the namespace of `x`),
        ``ops = T**2`` (paper ledger) and ``needed`` (needed ledger).

    Examples
    --------
    >>> import numpy as np
    >>> import cascade_core as cc
    >>> x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> sel = cc.ada(x, 0.9)
    >>> sel.reps.tolist(), sel.ops, sel.needed
    ([0, 2], 9, 2)
    >>> cc.ada(x, 0.9, algorithm="full-gram").reps.tolist()
    [0, 2]
    """

    tau = check_tau(tau)
    tile = check_tile(tile)
    algorithm = check_algorithm(algorithm)
    engine = backend_for(backend, x)
    xh = normalize(engine.native(x), center=center)
    selection = ada_normalized(xh, tau, backend=engine, tile=tile, algorithm=algorithm)
    return Selection(reps=engine.export(selection.reps, like=x), ops=selection.ops, needed=selection.needed)
