"""The cascade (SPEC §5): inherit the set of layer l, repair it for layer l+1."""

from __future__ import annotations

from dataclasses import dataclass

from ._xp import Array, array_namespace, device, isin_sorted
from .accounting import cascade_ops
from .ada import greedy_independent_set
from .errors import CascadeInputError
from .gram import max_similarity, normalize
from .options import backend_for, check_tau, check_tile

__all__ = ["CascadeStep", "cascade_normalized", "needs_recompute"]


@dataclass(frozen=True)
class CascadeStep:
    """One cascade layer.

    Attributes
    ----------
    reps
        ``R_{l+1} = R' ∪ A``, increasing.
    kept
        ``R'``: the inherited tokens that survive removal.
    removed
        ``|D| = r - r'``.
    uncovered
        ``U``: tokens covered by no kept token, increasing.
    added
        ``A``: the tokens added from ``U``, increasing.
    ops
        ``r**2 + (T - r') * r' + u**2`` (SPEC §6).
    """

    reps: Array
    kept: Array
    removed: int
    uncovered: Array
    added: Array
    ops: int


def cascade_normalized(prev: Array, xh: Array, tau: float, *, backend, tile: int | None) -> CascadeStep:
    """Repair the set `prev` of layer l on the normalised tokens `xh` of layer l+1.

    Parameters
    ----------
    prev
        ``R_l``, increasing token indices.
    xh
        Normalised tokens of layer l+1, ``(T, d)``.
    tau, backend, tile
        As in :func:`cascade_core.ada.greedy_independent_set`.
    """
    xp = array_namespace(prev, xh)
    n = xh.shape[0]
    r = prev.shape[0]

    # 1. Removal: scan R_l in index order on its r x r Gram at layer l+1.
    keep = greedy_independent_set(xp.take(xh, prev, axis=0), tau, backend=backend, tile=tile)
    kept = xp.take(prev, keep)
    r_kept = kept.shape[0]

    # 2. Validation: the T - r' other tokens against R'. Removed tokens are
    #    covered by construction (linked to a kept token in step 1), whatever
    #    the last bit of their cross-Gram entry says.
    tokens = xp.arange(n, dtype=xp.int64, device=device(xh))
    others = xp.nonzero(~isin_sorted(tokens, kept))[0]
    best = max_similarity(xh, others, kept, tile)
    covered = (best >= tau) | isin_sorted(others, prev)
    uncovered = xp.take(others, xp.nonzero(~covered)[0])

    # 3. Addition: scan U in index order on its u x u Gram.
    if uncovered.shape[0]:
        pick = greedy_independent_set(xp.take(xh, uncovered, axis=0), tau, backend=backend, tile=tile)
        added = xp.take(uncovered, pick)
    else:
        added = uncovered
    reps = xp.sort(xp.concat([kept, added]))
    ops = cascade_ops(n, r, r_kept, uncovered.shape[0])
    return CascadeStep(reps, kept, r - r_kept, uncovered, added, ops)


def needs_recompute(step: CascadeStep, r_prev: int, ratio: float | None) -> bool:
    """Recompute policy (SPEC §5): back to ADA when ``|D| + |A| > ratio * |R_l|``."""
    if ratio is None:
        return False
    return step.removed + step.added.shape[0] > ratio * r_prev


def cascade(
    prev: Array,
    x: Array,
    tau: float,
    *,
    center: bool = False,
    backend: str = "auto",
    tile: int | None = None,
) -> CascadeStep:
    """One cascade step (SPEC §5): repair the set `prev` for the layer `x`.

    Parameters
    ----------
    prev
        ``R_l``: representative token indices of the previous layer
        (any order, no duplicates), in the namespace of `x`.
    x
        Activations ``(T, d)`` of layer l+1.
    tau, center, backend, tile
        As in :func:`cascade_core.ada`.

    Returns
    -------
    CascadeStep
        The new set, its parts (kept, uncovered, added), ``|D|`` and the ops.

    Examples
    --------
    >>> import numpy as np
    >>> import cascade_core as cc
    >>> x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 1.0]])
    >>> step = cc.cascade(np.array([0, 1]), x, 0.9)
    >>> step.reps.tolist(), step.removed, step.added.tolist(), step.ops
    ([0, 2], 1, [2], 11)
    """

    tau = check_tau(tau)
    tile = check_tile(tile)
    engine = backend_for(backend, x)
    xh = normalize(engine.native(x), center=center)
    prev = engine.native(prev)
    xp = array_namespace(prev, xh)
    if prev.ndim != 1 or not xp.isdtype(prev.dtype, "integral"):
        raise CascadeInputError(
            f"prev must be a 1-d integer index array, got {prev.dtype} of shape {tuple(prev.shape)}"
        )
    prev = xp.sort(xp.astype(prev, xp.int64))
    n = xh.shape[0]
    if prev.shape[0] and (int(prev[0]) < 0 or int(prev[-1]) >= n):
        raise CascadeInputError(f"prev holds token indices outside 0 .. {n - 1}")
    if prev.shape[0] > 1 and not bool(xp.all(prev[1:] != prev[:-1])):
        raise CascadeInputError("prev holds a token index twice")
    step = cascade_normalized(prev, xh, tau, backend=engine, tile=tile)
    out = {name: engine.export(getattr(step, name), like=x) for name in ("reps", "kept", "uncovered", "added")}
    return CascadeStep(removed=step.removed, ops=step.ops, **out)
