"""Reports: the per-layer table and totals beside the paper's, the JSON document, CSV and Markdown."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from . import __version__
from .accounting import gram_savings
from .metrics import LayerRecord
from .runner import RunResult

__all__ = [
    "PAPER",
    "FileReport",
    "aggregate",
    "document",
    "format_attention",
    "format_table",
    "format_totals",
    "layers_csv",
    "markdown",
    "sha256_of",
    "to_json",
]

#: Ranges reported by the paper (Thomas, arXiv 2605.03110): GPT-2, GPT-J, OPT.
PAPER = {"savings": (0.22, 0.63), "mean_jaccard": (0.83, 0.94)}

#: Version of the JSON report's layout (``cascade_core/data/report.schema.json``).
REPORT_SCHEMA = "cascade-core/report/1"


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
                "r_ada": None if any(rec.r_ada is None for rec in group) else sum(rec.r_ada for rec in group),
                "jaccard_prev_ada": _mean([rec.jaccard_prev_ada for rec in group]),
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


@dataclass
class FileReport:
    """One input's results, as they go into a report.

    Attributes
    ----------
    input
        What was read: path, SHA-256, format, tensor, layout, shape, dtype, metadata.
    result
        The selection run.
    attention
        ``analyze --attention``'s records and overall errors, if it ran.
    """

    input: dict
    result: RunResult
    attention: dict | None = None


def sha256_of(path: str | Path) -> str:
    """SHA-256 of a file, or of a directory's files (sorted names and their hashes)."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(child.relative_to(path)).encode() + b"\0" + sha256_of(child).encode())
        return digest.hexdigest()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stats(values: list[float]) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / len(values)
    return {"mean": mean, "std": math.sqrt(var), "min": min(values), "max": max(values), "n": len(values)}


def aggregate(files: list[FileReport]) -> dict:
    """Mean, std, min and max over the files of savings, Jaccard, agreement and r/T; pooled savings."""
    totals = [f.result.totals for f in files]
    ops = sum(t.ops for t in totals)
    ops_ada = sum(t.ops_ada for t in totals)
    return {
        "files": len(files),
        "pooled_savings": gram_savings(ops, ops_ada),
        "savings": _stats([t.savings for t in totals]),
        "mean_jaccard": _stats([t.mean_jaccard for t in totals]),
        "mean_agreement": _stats([t.mean_agreement for t in totals]),
        "mean_r_over_T": _stats([t.mean_r_over_T for t in totals]),
    }


def document(files: list[FileReport], params: dict) -> dict:
    """The report as a JSON-ready dict (schema ``cascade-core/report/1``, ``report.schema.json``)."""
    return {
        "schema": REPORT_SCHEMA,
        "library": {"name": "cascade-core", "version": __version__},
        "params": params,
        "paper": {k: list(v) for k, v in PAPER.items()},
        "files": [
            {
                "input": f.input,
                "totals": f.result.totals.as_dict(),
                "layers": layer_rows(f.result.records),
                "records": [rec.as_dict() for rec in f.result.records],
                "attention": f.attention,
            }
            for f in files
        ],
        "aggregate": aggregate(files),
    }


def to_json(doc: dict) -> str:
    return json.dumps(doc, indent=2) + "\n"


CSV_FIELDS = [
    "file", "layer", "slice", "method", "T", "r", "removed", "added", "uncovered", "ops", "ops_ada",
    "jaccard_prev", "r_ada", "agreement", "jaccard_prev_ada", "seconds", "seconds_ada",
]  # fmt: skip


def layers_csv(doc: dict) -> str:
    """Every per-layer, per-slice record of every file, one CSV row each."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for entry in doc["files"]:
        for rec in entry["records"]:
            row = {k: rec.get(k) for k in CSV_FIELDS if k not in ("file", "slice")}
            row["file"] = entry["input"]["path"]
            row["slice"] = "/".join(str(i) for i in rec["slice"])
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    align = [" --- "] + [" ---: "] * (len(head) - 1)  # names left, figures right
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown(doc: dict, plots: list[str] | None = None) -> str:
    """A readable summary: inputs, parameters, totals beside the paper, per-layer tables, plots.

    Wall times are left out (they are in ``report.json`` and ``layers.csv``), so
    the summary of the same input is the same text on every run.
    """
    params = doc["params"]
    lo, hi = doc["paper"]["savings"]
    jlo, jhi = doc["paper"]["mean_jaccard"]
    lines = [
        "# cascade-core report",
        "",
        f"cascade-core {doc['library']['version']}, backend `{params['backend']}`, tau = {params['tau']:g}, "
        f"centring {'on' if params['center'] else 'off'}"
        + (f", recompute ratio {params['recompute_ratio']:g}" if params.get("recompute_ratio") is not None else "")
        + (f", ADA every {params['recompute_every']} layers" if params.get("recompute_every") else "")
        + ".",
        "",
        "## Inputs",
        "",
    ]
    lines += _md_table(
        ["file", "sha256", "format", "tensor", "layout", "shape", "dtype"],
        [
            [
                f"`{Path(e['input']['path']).name}`",
                f"`{e['input']['sha256'][:12]}`",
                e["input"]["format"],
                f"`{e['input']['key']}`",
                e["input"]["layout"],
                "×".join(str(n) for n in e["input"]["shape"]),
                e["input"]["dtype"],
            ]
            for e in doc["files"]
        ],
    )
    agg = doc["aggregate"]
    lines += ["", "## Totals", ""]
    rows = []
    for e in doc["files"]:
        t = e["totals"]
        rows.append(
            [
                f"`{Path(e['input']['path']).name}`",
                f"{100 * t['savings']:.1f} %",
                _num(t["mean_jaccard"]),
                _num(t["mean_agreement"]),
                _num(t["mean_r_over_T"]),
                str(t["layers"]),
                str(t["slices"]),
            ]
        )
    if agg["files"] > 1:
        rows.append(
            [
                "**all files** (mean ± std)",
                f"{100 * agg['savings']['mean']:.1f} ± {100 * agg['savings']['std']:.1f} %",
                _pm(agg["mean_jaccard"]),
                _pm(agg["mean_agreement"]),
                _pm(agg["mean_r_over_T"]),
                "",
                "",
            ]
        )
    rows.append(
        ["paper (GPT-2, GPT-J, OPT)", f"{100 * lo:.0f}–{100 * hi:.0f} %", f"{jlo:.2f}–{jhi:.2f}", "", "", "", ""]
    )
    lines += _md_table(
        ["file", "Gram savings", "mean Jaccard", "agreement with ADA", "mean r/T", "layers", "slices"], rows
    )
    if agg["files"] > 1:
        lines += [
            "",
            f"Pooled over all files (sum of ops): Gram savings {100 * agg['pooled_savings']:.1f} %. "
            "Min–max over files: savings "
            f"{100 * agg['savings']['min']:.1f}–{100 * agg['savings']['max']:.1f} %, Jaccard "
            f"{_num(_get(agg['mean_jaccard'], 'min'))}–{_num(_get(agg['mean_jaccard'], 'max'))}.",
        ]
    for e in doc["files"]:
        lines += ["", f"## Layers of `{Path(e['input']['path']).name}`", ""]
        lines.append("Sums over slices; Jaccard and agreement are means over slices.")
        lines.append("")
        lines += _md_table(
            ["layer", "method", "T", "r", "removed", "added", "J(prev)", "agree", "ops ADA", "ops cascade"],
            [
                [
                    str(r["layer"]),
                    r["method"],
                    str(r["T"]),
                    str(r["r"]),
                    str(r["removed"]),
                    str(r["added"]),
                    _num(r["jaccard_prev"]),
                    _num(r["agreement"]),
                    f"{r['ops_ada']:,}",
                    f"{r['ops']:,}",
                ]  # fmt: skip
                for r in e["layers"]
            ],
        )
        attention = e.get("attention")
        if attention:
            lines += ["", f"Attention against full (selection on {attention['select_on']}, "
                      f"{'causal' if attention['causal'] else 'non-causal'}):", ""]  # fmt: skip
            lines += _md_table(
                ["layer", "full T²", "rr r²", "tr Tr", "rr err", "rr err ADA", "tr err", "tr err ADA", "rr cos"],
                [
                    [
                        str(a["layer"]),
                        f"{a['entries_full']:,}",
                        f"{a['entries_rr']:,}",
                        f"{a['entries_tr']:,}",
                        _num(a["rr_error"], 4),
                        _num(a["rr_error_ada"], 4),
                        _num(a["tr_error"], 4),
                        _num(a["tr_error_ada"], 4),
                        _num(a["rr_cosine"], 4),
                    ]  # fmt: skip
                    for a in attention["records"]
                ],
            )
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _get(stats: dict | None, key: str):
    return None if stats is None else stats[key]


def _pm(stats: dict | None) -> str:
    return "-" if stats is None else f"{stats['mean']:.3f} ± {stats['std']:.3f}"
