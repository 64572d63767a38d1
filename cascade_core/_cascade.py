"""The cascade (SPEC §5): inherit the set of layer l, repair it for layer l+1."""

from __future__ import annotations

from dataclasses import dataclass

from ._accounting import cascade_needed, cascade_ops
from ._ada import greedy_independent_set
from ._errors import CascadeInputError
from ._gram import normalize
from ._params import backend_for, check_algorithm, check_positive_int, check_ratio, check_tau, check_tile
from ._xp import Array, array_namespace, device, isin_sorted

__all__ = ["CascadeStep", "RecomputePolicy", "cascade", "cascade_normalized"]


@dataclass(frozen=True)
class CascadeStep:
    """One cascade layer.

    Attributes
    ----------
    reps : array of int64
        ``R_{l+1} = R' ∪ A``, increasing.
    kept : array of int64
        ``R'``: the inherited tokens that survive removal.
    removed : int
        ``|D| = r - r'``.
    uncovered : array of int64
        ``U``: tokens covered by no kept token, increasing.
    added : array of int64
        ``A``: the tokens added from ``U``, increasing.
    ops : int
        Paper ledger (SPEC §6): ``r**2 + (T - r') * r' + u**2``.
    needed : int
        Needed ledger (SPEC §6): removal, validation and addition
        (:func:`cascade_core.cascade_needed`).
    """

    reps: Array
    kept: Array
    removed: int
    uncovered: Array
    added: Array
    ops: int
    needed: int


def cascade_normalized(
    prev: Array, xh: Array, tau: float, *, backend, tile: int | None, algorithm: str = "chosen-rows"
) -> CascadeStep:
    """Repair the set `prev` of layer l on the normalised tokens `xh` of layer l+1.

    Parameters
    ----------
    prev : array of int64
        ``R_l``, increasing token indices.
    xh : array of shape (T, d)
        Normalised tokens of layer l+1.
    tau, backend, tile, algorithm
        As in :func:`greedy_independent_set`; the removal and addition scans
        are that scan.
    """
    xp = array_namespace(prev, xh)
    n = xh.shape[0]
    r = prev.shape[0]

    # 1. Removal: scan R_l in index order on its r x r Gram at layer l+1.
    scan = {"backend": backend, "tile": tile, "algorithm": algorithm}
    keep = greedy_independent_set(xp.take(xh, prev, axis=0), tau, **scan)
    kept = xp.take(prev, keep)
    r_kept = kept.shape[0]

    # 2. Validation: the T - r tokens outside R_l against R'. Removed tokens
    #    are covered by construction (linked to a kept token in step 1), so
    #    they are not compared again, whatever the last bit of a product says.
    tokens = xp.arange(n, dtype=xp.int64, device=device(xh))
    others = xp.nonzero(~isin_sorted(tokens, prev))[0]
    uncovered = xp.take(others, xp.nonzero(backend.uncovered(xh, others, kept, tau, tile))[0])

    # 3. Addition: scan U in index order.
    if uncovered.shape[0]:
        pick = greedy_independent_set(xp.take(xh, uncovered, axis=0), tau, **scan)
        added = xp.take(uncovered, pick)
    else:
        added = uncovered
    reps = xp.sort(xp.concat([kept, added]))
    ops = cascade_ops(n, r, r_kept, uncovered.shape[0])
    needed = cascade_needed(n, prev, kept, uncovered, added)
    return CascadeStep(reps, kept, r - r_kept, uncovered, added, ops, needed)


@dataclass(frozen=True)
class RecomputePolicy:
    """When a layer goes back to ADA instead of the cascade (SPEC §5; default: never).

    Attributes
    ----------
    ratio : float or None
        Send a layer back to ADA when ``|D| + |A| > ratio * |R_l|`` (after the
        cascade step has run; the layer pays for both).
    every : int or None
        Run ADA on every `every`-th layer of the run (its position
        ``0, every, 2 every, ...``; the first layer always is ADA).
    """

    ratio: float | None = None
    every: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ratio", check_ratio(self.ratio, "recompute_ratio"))
        object.__setattr__(self, "every", check_positive_int(self.every, "recompute_every"))

    def runs_ada(self, position: int, has_prev: bool) -> bool:
        """Whether the layer at this position of the run is selected by ADA outright."""
        return not has_prev or (self.every is not None and position % self.every == 0)

    def sends_back(self, step: CascadeStep, r_prev: int) -> bool:
        """Whether a cascade step changed so much that the layer goes back to ADA."""
        return self.ratio is not None and step.removed + step.added.shape[0] > self.ratio * r_prev


def cascade(
    prev: Array,
    x: Array,
    tau: float,
    *,
    center: bool = False,
    backend: str = "auto",
    tile: int | None = None,
    algorithm: str = "chosen-rows",
) -> CascadeStep:
    """One cascade step (SPEC §5): repair the set `prev` for the layer `x`.

    Parameters
    ----------
    prev : array of int
        ``R_l``: representative token indices of the previous layer
        (any order, no duplicates), in the namespace of `x`.
    x : array of shape (T, d)
        Activations of layer l+1.
    tau, center, backend, tile, algorithm
        As in :func:`cascade_core.ada`: the removal and addition scans are
        ADA's scan.

    Returns
    -------
    CascadeStep
        The new set, its parts (kept, uncovered, added), ``|D|`` and both
        ledgers of SPEC §6.

    Examples
    --------
    >>> import numpy as np
    >>> import cascade_core as cc
    >>> x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 1.0]])
    >>> step = cc.cascade(np.array([0, 1]), x, 0.9)
    >>> step.reps.tolist(), step.removed, step.added.tolist(), step.ops, step.needed
    ([0, 2], 1, [2], 11, 4)
    """

    tau = check_tau(tau)
    tile = check_tile(tile)
    algorithm = check_algorithm(algorithm)
    engine = backend_for(backend, x)
    xh = normalize(engine.native(x), center=center)
    prev = engine.native(prev)
    xp = array_namespace(prev, xh)
    if prev.ndim != 1 or not xp.isdtype(prev.dtype, "integral"):
        raise CascadeInputError(
            f"prev must be a 1-d integer index array, got {prev.dtype} of shape {tuple(prev.shape)}",
            param="prev",
        )
    prev = xp.sort(xp.astype(prev, xp.int64))
    n = xh.shape[0]
    if prev.shape[0] and (int(prev[0]) < 0 or int(prev[-1]) >= n):
        raise CascadeInputError(f"prev holds token indices outside 0 .. {n - 1}", param="prev")
    if prev.shape[0] > 1 and not bool(xp.all(prev[1:] != prev[:-1])):
        raise CascadeInputError("prev holds a token index twice", param="prev")
    step = cascade_normalized(prev, xh, tau, backend=engine, tile=tile, algorithm=algorithm)
    out = {name: engine.export(getattr(step, name), like=x) for name in ("reps", "kept", "uncovered", "added")}
    return CascadeStep(removed=step.removed, ops=step.ops, needed=step.needed, **out)
