"""Metrics (SPEC §7): per-layer records, Jaccard overlaps, run totals."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ._accounting import gram_savings
from ._xp import Array, array_namespace, isin_sorted

__all__ = ["jaccard", "LayerRecord", "RunTotals", "summarize"]


def jaccard(a: Array, b: Array) -> float:
    """``|a ∩ b| / |a ∪ b|`` of two increasing index arrays (1.0 when both are empty)."""
    xp = array_namespace(a, b)
    inter = int(xp.sum(xp.astype(isin_sorted(a, b), xp.int64)))
    union = a.shape[0] + b.shape[0] - inter
    return inter / union if union else 1.0


@dataclass(frozen=True)
class LayerRecord:
    """What happened at one layer of one slice.

    Attributes
    ----------
    layer : int
        Layer index in the input.
    slice : tuple of int
        Slice (batch, head) indices; ``()`` for one sequence.
    method : str
        ``"ada" (first layer, or ``recompute_every``), ``"cascade"``, or
        ``"recompute"`` (cascade tried, then sent back to ADA by
        ``recompute_ratio``).
    T, r : int
        Valid tokens and representatives.
    removed, added, uncovered : int
        ``|D|``, ``|A|`` and ``u`` of the cascade step (0 on ADA layers).
    ops, ops_ada : int
        Inner products spent (SPEC §6) and what ADA would spend (``T**2``).
        A ``"recompute"`` layer spends the abandoned cascade step plus ``T**2``.
    seconds : float
        Wall time of the selection step.
    jaccard_prev : float or None
        ``J(R_{l-1}, R_l)``; None on the first layer of the run.
    r_ada, agreement, jaccard_prev_ada, seconds_ada : int, float, float, float or None
        From the per-layer ADA reference run (None without it): its set
        size, ``J(R_l, R_l^ADA)``, its own consecutive Jaccard, its time.
    """

    layer: int
    slice: tuple[int, ...]
    method: str
    T: int
    r: int
    removed: int
    added: int
    uncovered: int
    ops: int
    ops_ada: int
    seconds: float
    jaccard_prev: float | None = None
    r_ada: int | None = None
    agreement: float | None = None
    jaccard_prev_ada: float | None = None
    seconds_ada: float | None = None

    def as_dict(self) -> dict:
        out = asdict(self)
        out["slice"] = list(self.slice)
        return out


@dataclass(frozen=True)
class RunTotals:
    """Run totals (SPEC §6, §7), over every layer and slice.

    Attributes
    ----------
    layers, slices : int
        Counts.
    ops, ops_ada : int
        Summed inner products of the run and of ADA on every layer.
    savings : float
        Gram savings ``1 - ops / ops_ada``.
    mean_jaccard : float or None
        Mean consecutive Jaccard over every layer after the run's first
        (None with one layer).
    mean_r_over_T : float
        Mean ``r / T`` over every layer.
    mean_agreement : float or None
        Mean agreement with ADA over every layer after the run's first (which
        is ADA itself); None without the reference run or with one layer.
    mean_jaccard_ada : float or None
        Mean consecutive Jaccard of the ADA reference sets.
    seconds, seconds_ada : float, float or None
        Summed selection wall time of the run and of the reference run.
    """

    layers: int
    slices: int
    ops: int
    ops_ada: int
    savings: float
    mean_jaccard: float | None
    mean_r_over_T: float
    mean_agreement: float | None
    mean_jaccard_ada: float | None
    seconds: float
    seconds_ada: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def summarize(records: list[LayerRecord]) -> RunTotals:
    """Totals of a run from its per-layer records."""
    ops = sum(rec.ops for rec in records)
    ops_ada = sum(rec.ops_ada for rec in records)
    later = [rec for rec in records if rec.jaccard_prev is not None]  # every layer after the run's first
    has_ref = bool(records) and all(rec.r_ada is not None for rec in records)
    return RunTotals(
        layers=len({rec.layer for rec in records}),
        slices=len({rec.slice for rec in records}),
        ops=ops,
        ops_ada=ops_ada,
        savings=gram_savings(ops, ops_ada),
        mean_jaccard=_mean([rec.jaccard_prev for rec in later]),
        mean_r_over_T=_mean([rec.r / rec.T for rec in records]) or 0.0,
        mean_agreement=_mean([rec.agreement for rec in later]) if has_ref else None,
        mean_jaccard_ada=_mean([rec.jaccard_prev_ada for rec in later]) if has_ref else None,
        seconds=math.fsum(rec.seconds for rec in records),
        seconds_ada=math.fsum(rec.seconds_ada for rec in records) if has_ref else None,
    )
