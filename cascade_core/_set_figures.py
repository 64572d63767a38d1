"""The figures of SPEC §10 for any set of tokens: coverage at tau, largest similarity inside, residual.

Each takes one layer's normalised tokens ``X̂`` (SPEC §2) and a set ``S``
(increasing token indices) and works in row tiles, so no ``T x T`` matrix
is formed.
"""

from __future__ import annotations

from ._gram import max_similarity, similarity_tile, tile_rows, tile_starts
from ._xp import Array, array_namespace, device, isin_sorted

__all__ = ["coverage", "largest_inside", "residual"]


def coverage(xh: Array, reps: Array, tau: float, *, backend=None, tile: int | None = None) -> int:
    """Tokens whose largest similarity to the set is ``>= tau``, members included (SPEC §10).

    A member covers itself (even a zero token, whose similarities are all 0),
    so ADA's and the cascade's sets, which are covering, cover all ``T``.
    """
    xp = array_namespace(xh, reps)
    n = xh.shape[0]
    tokens = xp.arange(n, dtype=xp.int64, device=device(xh))
    others = xp.nonzero(~isin_sorted(tokens, reps))[0]
    best = max_similarity(xh, others, reps, tile, backend=backend)
    return reps.shape[0] + int(xp.sum(xp.astype(best >= tau, xp.int64)))


def largest_inside(xh: Array, reps: Array, *, backend=None, tile: int | None = None) -> float | None:
    """The largest similarity between two distinct members of the set (None for fewer than two) (SPEC §10).

    Below tau for a decorrelated set (ADA's, the cascade's).
    """
    xp = array_namespace(xh, reps)
    r = reps.shape[0]
    if r < 2:
        return None
    members = xp.take(xh, reps, axis=0)
    members_t = xp.matrix_transpose(members)
    index = xp.arange(r, dtype=xp.int64, device=device(xh))
    step = tile_rows(tile, r)
    largest = []
    for start in tile_starts(r, step):
        sims = similarity_tile(members, members_t, start, step, backend=backend)
        own = index[start : start + sims.shape[0], None] == index[None, :]
        largest.append(xp.max(xp.where(own, xp.zeros_like(sims), sims)))
    return float(xp.max(xp.stack(largest)))


def residual(xh: Array, reps: Array) -> tuple[float, float]:
    """``‖X̂ - X̂ P_S‖_F²`` and ``‖X̂‖_F²``, with ``P_S`` the orthogonal projector onto the span of the set's rows.

    The residual of SPEC §10 is the square root of their ratio (pooled over
    layers and slices, the sums' ratio). The span's orthonormal basis comes
    from the eigenvectors of the members' ``r x r`` Gram matrix, in float64
    (where the namespace has it): ``G = U Λ Uᵀ``, basis ``Λ^{-1/2} Uᵀ X̂_S``
    over the directions whose singular value ``sqrt(λ)`` exceeds
    ``σ_max · max(r, d) · eps`` (the rank rule of ``matrix_rank``, ``eps`` of
    the tokens' dtype, at least 1e-7 of ``σ_max``, what float64 resolves
    through ``λ``), so repeated or zero members add no direction. An ``r x r``
    eigenproblem instead of an ``r x d`` SVD: the same span, several times
    cheaper.
    """
    xp = array_namespace(xh, reps)
    eps = xp.finfo(xh.dtype).eps
    wide = xp.float64 if _has_float64(xp, xh) else xh.dtype
    x = xp.astype(xh, wide)
    norm_sq = float(xp.sum(x * x))
    if reps.shape[0] == 0:
        return norm_sq, norm_sq
    members = xp.take(x, reps, axis=0)
    values, vectors = xp.linalg.eigh(members @ xp.matrix_transpose(members))
    largest = float(xp.max(values))
    ratio = max(max(members.shape) * eps, 1e-7)
    keep = values > largest * ratio * ratio
    if largest <= 0 or not bool(xp.any(keep)):
        return norm_sq, norm_sq
    chosen = xp.nonzero(keep)[0]
    scale = 1.0 / xp.sqrt(xp.take(values, chosen))
    basis = (xp.matrix_transpose(xp.take(vectors, chosen, axis=1)) @ members) * scale[:, None]
    diff = x - (x @ xp.matrix_transpose(basis)) @ basis
    return float(xp.sum(diff * diff)), norm_sq


def _has_float64(xp, x) -> bool:
    """Whether the namespace computes in float64 on the device of `x` (not every GPU framework does)."""
    try:
        xp.zeros((1,), dtype=xp.float64, device=device(x))
    except (TypeError, ValueError, RuntimeError):
        return False
    return True
