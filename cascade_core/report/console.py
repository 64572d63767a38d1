"""What the command line prints: a run's tables and totals beside the paper's, corpora, sweeps."""

from __future__ import annotations

import textwrap
from pathlib import Path

from .tables import (
    aggregate_table,
    attention_table,
    layer_legend,
    layer_table,
    needed_note,
    num,
    percent,
    sweep_table,
    text,
    wall_note,
)

__all__ = ["file_text", "totals_text", "attention_text", "aggregate_text", "sweep_text"]


def totals_text(entry: dict, paper: dict) -> str:
    """The run totals of one input on both ledgers of SPEC §6, with the paper's ranges beside ours."""
    t = entry["totals"]
    lo, hi = paper["savings"]
    jlo, jhi = paper["mean_jaccard"]
    lines = [
        f"{'run totals':<34}{'ours':>10}   paper",
        f"{'Gram savings (paper ledger)':<34}{percent(t['savings']):>10}   {100 * lo:.0f}-{100 * hi:.0f} %",
        f"{'needed savings (exact ADA)':<34}{percent(t['needed_savings']):>10}   not reported",
        f"{'mean consecutive Jaccard':<34}{num(t['mean_jaccard']):>10}   {jlo:.2f}-{jhi:.2f}",
        f"{'mean agreement with ADA':<34}{num(t['mean_agreement']):>10}",
        f"{'mean consecutive Jaccard of ADA':<34}{num(t['mean_jaccard_ada']):>10}",
        f"{'mean r/T':<34}{num(t['mean_r_over_T']):>10}",
        f"{'paper ledger: cascade / ADA':<34}{t['ops']:>,} / {t['ops_ada']:,} inner products",
        f"{'needed ledger: cascade / ADA':<34}{t['needed']:>,} / "
        + ("-" if t["needed_ada"] is None else f"{t['needed_ada']:,}")
        + " inner products",
    ]
    note = needed_note(t["needed"], t["needed_ada"])
    if note:
        lines.append(note)
    if t["seconds_ada_full_gram"]:
        lines.append(
            f"{'selection time':<34}cascade {t['seconds']:.4f} s, ADA full Gram {t['seconds_ada_full_gram']:.4f} s "
            f"(wall-clock savings {percent(t['wall_savings_full_gram'])}), ADA chosen rows "
            f"{t['seconds_ada_chosen_rows']:.4f} s (wall-clock savings {percent(t['wall_savings_chosen_rows'])})"
        )
        note = wall_note(t)
        if note:
            lines.append(note)
    else:
        lines.append(f"{'selection time':<34}{t['seconds']:.4f} s")
    return "\n".join(lines)


def attention_text(attention: dict) -> str:
    """The per-layer attention table (SPEC §8) and the overall errors."""
    lines = ["attention against full (relative Frobenius error, mean per-token cosine; summed over heads)"]
    lines.append(text(attention_table(attention["records"])))
    overall = attention["overall"]
    for name in ("cascade", "ada"):
        if name in overall:
            (rr_err, rr_cos), (tr_err, tr_cos) = overall[name]["rr"], overall[name]["tr"]
            lines.append(
                f"overall, {name} sets: rr error {rr_err:.4f} (cosine {rr_cos:.4f}), "
                f"tr error {tr_err:.4f} (cosine {tr_cos:.4f})"
            )
    return "\n".join(lines)


def file_text(entry: dict, params: dict, paper: dict, *, label: str | None = None) -> str:
    """One input's header, per-layer table, totals and (if scored) attention."""
    t = entry["totals"]
    shape = tuple(entry["input"]["shape"])
    lines = [
        f"cascade-core analyze: {label or entry['input']['path']}",
        f"layout {entry['input']['layout']} {shape}, {t['layers']} layers x {t['slices']} slices, "
        f"tau {params['tau']:g}, center {'on' if params['center'] else 'off'}, backend {params['backend']}, "
        f"algorithm {params['algorithm']}",
        "",
        text(layer_table(entry["layers"])),
        "",
        textwrap.fill(layer_legend(t["slices"]), width=110),
        "",
        totals_text(entry, paper),
    ]
    if entry.get("attention"):
        lines += ["", attention_text(entry["attention"])]
    return "\n".join(lines)


def aggregate_text(doc: dict) -> str:
    """Across several inputs: mean, std, min and max of the totals, and the pooled savings."""
    agg = doc["aggregate"]
    lo, hi = doc["paper"]["savings"]
    lines = [
        text(aggregate_table(agg)),
        f"pooled Gram savings: {100 * agg['pooled_savings']:.1f} %  (paper {100 * lo:.0f}-{100 * hi:.0f} %); "
        f"pooled needed savings: {percent(agg['pooled_needed_savings'])}",
    ]
    if agg["pooled_needed_savings"] is not None and agg["pooled_needed_savings"] < 0:
        lines.append("Pooled over all files, the cascade costs more than an exact ADA (needed ledger, SPEC §6).")
    return "\n".join(lines)


def sweep_text(sweep: dict) -> str:
    """The sweep's rows, one per tau, and the paper's ranges."""
    names = ", ".join(Path(f["path"]).name for f in sweep["files"])
    lo, hi = sweep["paper"]["savings"]
    jlo, jhi = sweep["paper"]["mean_jaccard"]
    return "\n".join(
        [
            f"cascade-core sweep: {names}",
            text(sweep_table(sweep["rows"])),
            "savings: paper ledger; needed: needed ledger (negative: the cascade costs more than an exact ADA); "
            "wall: wall-clock savings against ADA on the full Gram and from the chosen rows (small inputs are "
            "overhead-bound: negative there); Jaccard: mean consecutive Jaccard; agree: mean Jaccard of the "
            "cascade's sets with per-layer ADA's (1: the same sets); r/T: mean share of tokens chosen",
            f"paper: savings {100 * lo:.0f}-{100 * hi:.0f} %, mean Jaccard {jlo:.2f}-{jhi:.2f}",
        ]
    )
