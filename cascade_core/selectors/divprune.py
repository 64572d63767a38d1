"""``divprune`` (SPEC §10): greedy max-min diversity with the distance ``1 - s_ij``.

First the token farthest from its nearest neighbour (the smallest largest
similarity to any other token), then, ``r - 1`` times, the token whose
nearest chosen token is farthest (the smallest largest similarity to the
chosen ones). Ties go to the lowest index. The first pick needs every pair
(``T**2`` inner products, in row tiles); each later pick one row of ``T``
(counted ``T · r`` in all, as SPEC §10 counts it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._gram import similarity_tile, tile_rows, tile_starts
from .._xp import Array, array_namespace, device
from .base import BUDGET, LayerInput, Pick, Selector

__all__ = ["DivPrune", "nearest_other", "SELECTORS"]


def nearest_other(xh: Array, *, backend, tile: int | None) -> Array:
    """Every token's largest similarity to another token (``-1`` when ``T = 1``), in row tiles."""
    xp = array_namespace(xh)
    n = xh.shape[0]
    xh_t = xp.matrix_transpose(xh)
    index = xp.arange(n, dtype=xp.int64, device=device(xh))
    step = tile_rows(tile, n)
    parts = []
    for start in tile_starts(n, step):
        sims = similarity_tile(xh, xh_t, start, step, backend=backend)
        own = index[start : start + sims.shape[0], None] == index[None, :]
        parts.append(xp.max(xp.where(own, xp.full_like(sims, -1), sims), axis=1))
    return xp.concat(parts)


@dataclass
class DivPrune(Selector):
    """Greedy max-min diversity (distance ``1 - |cos|``): DivPrune's MMDP solution (SPEC §10)."""

    name = "divprune"
    takes = BUDGET
    cost_unit = "inner products"
    source = (
        "Alvar, Singh, Akbari, Zhang, DivPrune: Diversity-based Visual Token Pruning for Large Multimodal "
        "Models, CVPR 2025 (arXiv 2503.02175); github.com/vbdi/divprune"
    )

    def select(self, layer: LayerInput, state: Any) -> Pick:
        xh = layer.xh
        xp = array_namespace(xh)
        n, r = xh.shape[0], layer.r
        xh_t = xp.matrix_transpose(xh)
        index = xp.arange(n, dtype=xp.int64, device=device(xh))
        similarity = layer.backend.similarity
        first = int(xp.argmin(nearest_other(xh, backend=layer.backend, tile=layer.tile)))
        chosen = [first]
        taken = index == first
        nearest = similarity(xh[first : first + 1, :], xh_t)[0, :]  # largest similarity to a chosen token
        for _ in range(r - 1):
            i = int(xp.argmin(xp.where(taken, xp.full_like(nearest, 2), nearest)))  # farthest: least similar
            chosen.append(i)
            taken = taken | (index == i)
            nearest = xp.maximum(nearest, similarity(xh[i : i + 1, :], xh_t)[0, :])
        reps = xp.sort(xp.asarray(chosen, dtype=xp.int64, device=device(xh)))
        return Pick(reps, cost=n * n + n * r)


SELECTORS = (DivPrune,)
