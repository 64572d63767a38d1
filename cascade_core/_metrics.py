"""Metrics (SPEC §7): per-layer records, Jaccard overlaps, run totals on both ledgers of SPEC §6."""

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
        Paper ledger (SPEC §6): inner products spent, and what ADA spends
        (``T**2``). A ``"recompute"`` layer spends the abandoned cascade
        step plus ``T**2``.
    needed : int
        Needed ledger (SPEC §6): what an exact algorithm must compute for
        this layer's method (a ``"recompute"`` layer: the cascade step plus
        ADA).
    seconds : float
        Wall time of the selection step.
    jaccard_prev : float or None
        ``J(R_{l-1}, R_l)``; None on the first layer of the run.
    needed_ada : int or None
        Needed ledger of ADA on this layer, ``sum_i |{j in R^ADA : j < i}|``;
        it needs ADA's set, so it is None on a cascade layer without the
        reference run.
    r_ada, agreement, jaccard_prev_ada : int, float, float or None
        From the per-layer ADA reference run (None without it): its set
        size, ``J(R_l, R_l^ADA)``, its own consecutive Jaccard.
    seconds_ada_full_gram, seconds_ada_chosen_rows : float or None
        Wall time of ADA on this layer computed both ways (SPEC §3.1), from
        the reference run (None without it).
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
    needed: int
    seconds: float
    jaccard_prev: float | None = None
    needed_ada: int | None = None
    r_ada: int | None = None
    agreement: float | None = None
    jaccard_prev_ada: float | None = None
    seconds_ada_full_gram: float | None = None
    seconds_ada_chosen_rows: float | None = None

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
        Paper ledger (SPEC §6): summed inner products of the run and of ADA
        on every layer.
    savings : float
        Gram savings on the paper ledger, ``1 - ops / ops_ada``.
    needed, needed_ada : int, int or None
        Needed ledger (SPEC §6): summed over every layer, for the run and for
        ADA (None when some layer's ADA set is unknown: no reference run).
    needed_savings : float or None
        ``1 - needed / needed_ada``; negative when the cascade costs more
        than an exact ADA.
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
    seconds : float
        Summed selection wall time of the run.
    seconds_ada_full_gram, seconds_ada_chosen_rows : float or None
        Summed wall time of ADA on every layer, both ways (reference run).
    wall_savings_full_gram, wall_savings_chosen_rows : float or None
        Wall-clock savings of the run against ADA computed each way,
        ``1 - seconds / seconds_ada_*``.
    """

    layers: int
    slices: int
    ops: int
    ops_ada: int
    savings: float
    needed: int
    needed_ada: int | None
    needed_savings: float | None
    mean_jaccard: float | None
    mean_r_over_T: float
    mean_agreement: float | None
    mean_jaccard_ada: float | None
    seconds: float
    seconds_ada_full_gram: float | None
    seconds_ada_chosen_rows: float | None
    wall_savings_full_gram: float | None
    wall_savings_chosen_rows: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def summarize(records: list[LayerRecord]) -> RunTotals:
    """Totals of a run from its per-layer records."""
    ops = sum(rec.ops for rec in records)
    ops_ada = sum(rec.ops_ada for rec in records)
    needed = sum(rec.needed for rec in records)
    needed_ada = sum(rec.needed_ada for rec in records) if all(rec.needed_ada is not None for rec in records) else None
    later = [rec for rec in records if rec.jaccard_prev is not None]  # every layer after the run's first
    has_ref = bool(records) and all(rec.r_ada is not None for rec in records)
    seconds = math.fsum(rec.seconds for rec in records)
    ada_seconds = {
        way: math.fsum(getattr(rec, f"seconds_ada_{way}") for rec in records) if has_ref else None
        for way in ("full_gram", "chosen_rows")
    }
    return RunTotals(
        layers=len({rec.layer for rec in records}),
        slices=len({rec.slice for rec in records}),
        ops=ops,
        ops_ada=ops_ada,
        savings=gram_savings(ops, ops_ada),
        needed=needed,
        needed_ada=needed_ada,
        needed_savings=None if needed_ada is None else gram_savings(needed, needed_ada),
        mean_jaccard=_mean([rec.jaccard_prev for rec in later]),
        mean_r_over_T=_mean([rec.r / rec.T for rec in records]) or 0.0,
        mean_agreement=_mean([rec.agreement for rec in later]) if has_ref else None,
        mean_jaccard_ada=_mean([rec.jaccard_prev_ada for rec in later]) if has_ref else None,
        seconds=seconds,
        seconds_ada_full_gram=ada_seconds["full_gram"],
        seconds_ada_chosen_rows=ada_seconds["chosen_rows"],
        wall_savings_full_gram=_wall_savings(seconds, ada_seconds["full_gram"]),
        wall_savings_chosen_rows=_wall_savings(seconds, ada_seconds["chosen_rows"]),
    )


def _wall_savings(seconds: float, seconds_ada: float | None) -> float | None:
    """Wall-clock savings against ADA (SPEC §6): the savings formula on times."""
    return None if not seconds_ada else gram_savings(seconds, seconds_ada)
