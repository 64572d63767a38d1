"""``topk-reuse`` (SPEC §10): the keys of most attention mass at anchor layers, reused in between.

At an anchor layer (every ``every``-th layer of the run, the first
included) the ``r`` keys with the largest attention mass: post-softmax
probabilities ``softmax(q kᵀ / sqrt(d_h) + M)`` summed over the queries and
the heads that read the slice (causal mask ``M`` where asked). The layers up
to the next anchor reuse the anchor's set (of the anchor's size). The cost
is the anchor's attention scores, ``H · T²``; a reuse layer costs nothing.

A layer without ``q`` and ``k`` (the last hidden state feeds no attention
layer) is never an anchor: it reuses the last anchor's set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .._errors import CascadeInputError
from .._xp import Array, array_namespace, device
from .base import BUDGET, LayerInput, Pick, Selector, top_r

__all__ = ["TopkReuse", "attention_mass", "SELECTORS"]


def attention_mass(q: Array, k: Array, *, causal: bool, tile: int | None = None) -> Array:
    """``sum_h sum_i softmax(q_h k_hᵀ / sqrt(d_h) + M)[i, j]`` for every key ``j``.

    Parameters
    ----------
    q, k : arrays of shape (H, T, d_h)
        Queries and keys of the heads.
    causal : bool
        Mask keys after each query's position.
    tile : int, optional
        Queries scored at once (default 1024); peak extra memory is ``tile x T``.
    """
    xp = array_namespace(q, k)
    dev = device(q)
    n_heads, n = q.shape[0], q.shape[1]
    scale = 1.0 / math.sqrt(q.shape[2])
    step = tile if tile is not None else min(max(n, 1), 1024)
    positions = xp.arange(n, dtype=xp.int64, device=dev)
    mass = xp.zeros((n,), dtype=q.dtype, device=dev)
    for h in range(n_heads):
        k_t = xp.matrix_transpose(k[h, ...])
        for start in range(0, n, step):
            scores = (q[h, start : start + step, :] @ k_t) * scale
            if causal:
                future = positions[None, :] > positions[start : start + scores.shape[0], None]
                scores = xp.where(future, xp.full_like(scores, -math.inf), scores)
            weights = xp.exp(scores - xp.max(scores, axis=1, keepdims=True))
            mass = mass + xp.sum(weights / xp.sum(weights, axis=1, keepdims=True), axis=0)
    return mass


@dataclass
class TopkReuse(Selector):
    """Top-``r`` keys by attention mass at every ``every``-th layer, reused until the next anchor (SPEC §10).

    Parameters
    ----------
    every : int, default 2
        Layers from one anchor to the next (1: every layer is an anchor).
    """

    every: int = 2

    name = "topk-reuse"
    takes = BUDGET
    needs = ("q", "k")
    cost_unit = "attention scores"
    source = (
        "Deshmukh, Goyal, Kwatra, Ramjee, Kascade: A Practical Sparse Attention Method for Long-Context "
        "LLM Inference (arXiv 2512.16391, 2025); github.com/microsoft/kascade (anchors here: every m-th layer)"
    )

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise CascadeInputError(
                f"selectors: topk-reuse:every must be an integer >= 1, got {self.every!r}", param="selectors"
            )

    def select(self, layer: LayerInput, state: Any) -> Pick:
        anchor = layer.position % self.every == 0 and layer.q is not None
        if not anchor:
            if state is None:
                raise CascadeInputError(
                    "topk-reuse needs q and k at the first layer of the run (its first anchor)", layer=layer.layer
                )
            return Pick(state, cost=0, state=state)
        xp = array_namespace(layer.q)
        q, k = layer.q, layer.k
        if q.dtype != layer.xh.dtype:
            q, k = xp.astype(q, layer.xh.dtype), xp.astype(k, layer.xh.dtype)
        reps = top_r(attention_mass(q, k, causal=layer.causal, tile=layer.tile), layer.r)
        n_heads, n = q.shape[0], q.shape[1]
        return Pick(reps, cost=n_heads * n * n, state=reps)


SELECTORS = (TopkReuse,)
