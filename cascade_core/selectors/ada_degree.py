"""``ada-degree`` (SPEC §10): greedy maximum coverage on the threshold graph of SPEC §2.

While a token is uncovered, choose the uncovered token with the most
uncovered linked tokens (ties: the lowest index); it and its linked tokens
become covered. A chosen token was uncovered, so it is linked to no earlier
choice (independent), and the loop ends when every token is covered
(covering): a maximal independent set like ADA's, chosen by degree instead
of by index. It needs every link, so it forms the full Gram matrix (cost
``T**2``) and keeps the ``T x T`` link matrix as booleans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._gram import similarity_tile, tile_rows, tile_starts
from .._xp import Array, array_namespace, device
from .base import THRESHOLD, LayerInput, Pick, Selector

__all__ = ["AdaDegree", "links", "SELECTORS"]


def links(xh: Array, tau: float, *, backend, tile: int | None) -> Array:
    """The ``T x T`` boolean link matrix of SPEC §2 (``s_ij >= tau``, ``i != j``), symmetric.

    The Gram matrix is made in row tiles; each pair is decided from the
    earlier token's row (as every scan of the library decides it) and
    mirrored, so rounding can never make ``i`` linked to ``j`` but not ``j``
    to ``i``.
    """
    xp = array_namespace(xh)
    n = xh.shape[0]
    xh_t = xp.matrix_transpose(xh)
    step = tile_rows(tile, n)
    upper = xp.concat(
        [similarity_tile(xh, xh_t, start, step, backend=backend) >= tau for start in tile_starts(n, step)], axis=0
    )
    index = xp.arange(n, dtype=xp.int64, device=device(xh))
    earlier = index[:, None] < index[None, :]
    later = index[:, None] > index[None, :]
    return (upper & earlier) | (xp.matrix_transpose(upper) & later)


@dataclass
class AdaDegree(Selector):
    """Greedy maximum coverage: the uncovered token with the most uncovered linked tokens first (SPEC §10)."""

    name = "ada-degree"
    takes = THRESHOLD
    cost_unit = "inner products"
    source = (
        "greedy set cover / dominating set by degree (Johnson 1974; Chvátal 1979), "
        "on the threshold graph of Thomas, arXiv 2605.03110"
    )

    def select(self, layer: LayerInput, state: Any) -> Pick:
        xh = layer.xh
        xp = array_namespace(xh)
        n = xh.shape[0]
        linked = links(xh, layer.tau, backend=layer.backend, tile=layer.tile)
        index = xp.arange(n, dtype=xp.int64, device=device(xh))
        uncovered = xp.ones((n,), dtype=xp.bool, device=device(xh))
        degree = xp.sum(xp.astype(linked, xp.int64), axis=1)  # uncovered linked tokens of each token
        chosen = []
        while bool(xp.any(uncovered)):
            score = xp.where(uncovered, degree, xp.full_like(degree, -1))
            i = int(xp.argmax(score))  # the first maximum: ties to the lowest index
            newly = (linked[i, :] & uncovered) | (index == i)
            covered_now = xp.nonzero(newly)[0]
            degree = degree - xp.sum(xp.astype(xp.take(linked, covered_now, axis=1), xp.int64), axis=1)
            uncovered = uncovered & ~newly
            chosen.append(i)
        reps = xp.sort(xp.asarray(chosen, dtype=xp.int64, device=device(xh)))
        return Pick(reps, cost=n * n)


SELECTORS = (AdaDegree,)
