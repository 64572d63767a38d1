"""Two baselines of SPEC §10: ``norm-topk`` (the largest tokens) and ``random`` (seeded)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .._errors import CascadeInputError
from .._gram import compute_dtype, scale_by_power_of_two
from .._xp import array_namespace, device
from .base import BUDGET, LayerInput, Pick, Selector, top_r

__all__ = ["NormTopk", "Random", "SELECTORS"]


@dataclass
class NormTopk(Selector):
    """The ``r`` tokens of largest ``‖x_i‖₂`` in the raw activations, before centring and normalising (SPEC §10).

    Cost: ``T`` inner products (each token's squared norm).
    """

    name = "norm-topk"
    takes = BUDGET
    cost_unit = "inner products"
    source = (
        "a magnitude baseline (Devoto et al., A Simple and Effective L2 Norm-Based Strategy for KV Cache "
        "Compression, EMNLP 2024, keep the keys of smallest norm instead)"
    )

    def select(self, layer: LayerInput, state: Any) -> Pick:
        xp = array_namespace(layer.x)
        x = xp.astype(layer.x, compute_dtype(xp, layer.x.dtype), copy=True)
        x = scale_by_power_of_two(x, xp.max(xp.abs(x)))  # one exact factor for the layer: the order of the
        return Pick(top_r(xp.vecdot(x, x, axis=-1), layer.r), cost=layer.n_tokens)  # norms kept, no overflow


@dataclass
class Random(Selector):
    """``r`` tokens drawn uniformly without replacement (SPEC §10), from Python's :class:`random.Random`.

    Parameters
    ----------
    seed : int, default 0
        With the layer and slice, seeds the draw: the same sets on every run
        and backend.
    """

    seed: int = 0

    name = "random"
    takes = BUDGET
    cost_unit = "inner products"
    source = "a baseline: uniform sampling without replacement"

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise CascadeInputError(f"selectors: random:seed must be an integer, got {self.seed!r}", param="selectors")

    def select(self, layer: LayerInput, state: Any) -> Pick:
        xp = array_namespace(layer.xh)
        rng = random.Random(f"cascade-core/random/{self.seed}/{layer.layer}/{layer.where}")
        chosen = sorted(rng.sample(range(layer.n_tokens), layer.r))
        return Pick(xp.asarray(chosen, dtype=xp.int64, device=device(layer.xh)), cost=0)


SELECTORS = (NormTopk, Random)
