"""Reports of a run: the per-layer table, the totals beside the paper's, JSON."""

from __future__ import annotations

import json
from itertools import groupby

from . import __version__
from .metrics import LayerRecord
from .runner import RunResult

__all__ = ["PAPER", "format_table", "format_totals", "to_json"]

#: Ranges reported by the paper (Thomas, arXiv 2605.03110): GPT-2, GPT-J, OPT.
PAPER = {"savings": (0.22, 0.63), "mean_jaccard": (0.83, 0.94)}

#: Version of the JSON report's layout.
REPORT_SCHEMA = 1


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _num(value, digits=3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def layer_rows(records: list[LayerRecord]) -> list[dict]:
    """One row per layer, summed (counts, ops) or averaged (Jaccard) over slices."""
    rows = []
    for layer, group in groupby(sorted(records, key=lambda rec: rec.layer), key=lambda rec: rec.layer):
        group = list(group)
        methods = {rec.method for rec in group}
        rows.append(
            {
                "layer": layer,
                "method": methods.pop() if len(methods) == 1 else "mixed",
                "T": sum(rec.T for rec in group),
                "r": sum(rec.r for rec in group),
                "removed": sum(rec.removed for rec in group),
                "added": sum(rec.added for rec in group),
                "jaccard_prev": _mean([rec.jaccard_prev for rec in group]),
                "agreement": _mean([rec.agreement for rec in group]),
                "ops_ada": sum(rec.ops_ada for rec in group),
                "ops": sum(rec.ops for rec in group),
            }
        )
    return rows


def format_table(result: RunResult) -> str:
    """The per-layer table (sums over slices; Jaccard and agreement averaged)."""
    head = ("layer", "method", "T", "r", "removed", "added", "J(prev)", "agree", "ops ADA", "ops cascade")
    body = [
        (
            str(row["layer"]),
            row["method"],
            str(row["T"]),
            str(row["r"]),
            str(row["removed"]),
            str(row["added"]),
            _num(row["jaccard_prev"]),
            _num(row["agreement"]),
            f"{row['ops_ada']:,}",
            f"{row['ops']:,}",
        )
        for row in layer_rows(result.records)
    ]
    widths = [max(len(cells[i]) for cells in [head, *body]) for i in range(len(head))]
    lines = []
    for cells in [head, *body]:
        padded = [c.ljust(w) if i == 1 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def format_totals(result: RunResult) -> str:
    """The run totals, with the paper's ranges beside ours."""
    t = result.totals
    lo, hi = PAPER["savings"]
    jlo, jhi = PAPER["mean_jaccard"]
    lines = [
        f"{'run totals':<34}{'ours':>10}   paper",
        f"{'Gram savings':<34}{100 * t.savings:>9.1f}%   {100 * lo:.0f}-{100 * hi:.0f} %",
        f"{'mean consecutive Jaccard':<34}{_num(t.mean_jaccard):>10}   {jlo:.2f}-{jhi:.2f}",
        f"{'mean agreement with ADA':<34}{_num(t.mean_agreement):>10}",
        f"{'mean consecutive Jaccard of ADA':<34}{_num(t.mean_jaccard_ada):>10}",
        f"{'mean r/T':<34}{_num(t.mean_r_over_T):>10}",
        f"{'inner products: cascade / ADA':<34}{t.ops:>,} / {t.ops_ada:,}",
    ]
    if t.seconds_ada:
        lines.append(
            f"{'selection time: cascade / ADA':<34}{t.seconds:.4f} s / {t.seconds_ada:.4f} s"
            f" (wall-clock savings {100 * (1 - t.seconds / t.seconds_ada):.1f} %)"
        )
    else:
        lines.append(f"{'selection time':<34}{t.seconds:.4f} s")
    return "\n".join(lines)


def format_attention(records, overall: dict) -> str:
    """The per-layer attention table (SPEC §8) and the overall errors."""
    head = ("layer", "full T²", "rr r²", "tr Tr", "rr err", "rr err ADA", "rr cos", "tr err", "tr err ADA", "tr cos")
    body = [
        (
            str(rec.layer),
            f"{rec.entries_full:,}",
            f"{rec.entries_rr:,}",
            f"{rec.entries_tr:,}",
            _num(rec.rr_error, 4),
            _num(rec.rr_error_ada, 4),
            _num(rec.rr_cosine, 4),
            _num(rec.tr_error, 4),
            _num(rec.tr_error_ada, 4),
            _num(rec.tr_cosine, 4),
        )
        for rec in records
    ]
    widths = [max(len(cells[i]) for cells in [head, *body]) for i in range(len(head))]
    lines = ["attention against full (relative Frobenius error, mean per-token cosine; summed over heads)"]
    lines += ["  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) for cells in [head, *body]]
    for name in ("cascade", "ada"):
        if name in overall:
            (rr_err, rr_cos), (tr_err, tr_cos) = overall[name]["rr"], overall[name]["tr"]
            lines.append(
                f"overall, {name} sets: rr error {rr_err:.4f} (cosine {rr_cos:.4f}), "
                f"tr error {tr_err:.4f} (cosine {tr_cos:.4f})"
            )
    return "\n".join(lines)


def to_json(result: RunResult, *, inputs: dict | None = None, attention: dict | None = None) -> str:
    """The run as a JSON document: inputs, parameters, per-layer records, totals."""
    document = {
        "schema": REPORT_SCHEMA,
        "library": {"name": "cascade-core", "version": __version__},
        "inputs": inputs or {},
        "params": result.params,
        "totals": result.totals.as_dict(),
        "paper": {k: list(v) for k, v in PAPER.items()},
        "records": [rec.as_dict() for rec in result.records],
    }
    if attention is not None:
        document["attention"] = attention
    return json.dumps(document, indent=2) + "\n"
