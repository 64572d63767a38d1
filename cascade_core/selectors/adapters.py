"""ADA (SPEC §3) and the cascade (SPEC §5) as selectors, through their public functions.

Both take the threshold; their groups are SPEC §4's. They call
:func:`cascade_core.ada` and :func:`cascade_core.cascade` on the normalised
tokens (normalising a normalised row again changes it by rounding only, within
the margin of SPEC §9), so whatever those functions compute, the comparison
compares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._ada import ada
from .._cascade import cascade
from .base import THRESHOLD, LayerInput, Pick, Selector

__all__ = ["Ada", "Cascade", "SELECTORS"]

_PAPER = "Thomas, Cascade Token Selection for Transformer Attention Acceleration, arXiv 2605.03110 (2026)"


@dataclass
class Ada(Selector):
    """ADA at every layer: the lexicographically first maximal independent set (SPEC §3); cost ``T**2``."""

    name = "ada"
    takes = THRESHOLD
    cost_unit = "inner products"
    source = _PAPER

    def select(self, layer: LayerInput, state: Any) -> Pick:
        selection = ada(layer.xh, layer.tau, backend=layer.backend.name, tile=layer.tile)
        return Pick(selection.reps, cost=selection.ops)


@dataclass
class Cascade(Selector):
    """ADA at the run's first layer, then the cascade step from the previous layer's set (SPEC §5)."""

    name = "cascade"
    takes = THRESHOLD
    cost_unit = "inner products"
    source = _PAPER

    def select(self, layer: LayerInput, state: Any) -> Pick:
        if state is None:
            selection = ada(layer.xh, layer.tau, backend=layer.backend.name, tile=layer.tile)
            return Pick(selection.reps, cost=selection.ops, state=selection.reps)
        repaired = cascade(state, layer.xh, layer.tau, backend=layer.backend.name, tile=layer.tile)
        return Pick(repaired.reps, cost=repaired.ops, state=repaired.reps)


SELECTORS = (Ada, Cascade)
