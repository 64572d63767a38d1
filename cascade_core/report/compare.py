"""The comparison report (``cascade-core compare``): ``compare.json`` (``cascade-core/compare/1``), CSV, tables.

:func:`compare_document` turns :class:`~cascade_core.FileComparison`
results into a JSON-ready dict (schema ``cascade_core/data/compare.schema.json``);
the rest renders it: the summary and per-layer tables are built once as
cells (:class:`~cascade_core.report.tables.Table`) and printed as text or
Markdown, :func:`compare_csv` writes one row per (file, selector, layer), and
:mod:`.compare_plots` draws the figures.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from .._compare import AttentionRow, FileComparison, SelectorRecord, selector_totals
from .._version import __version__
from .tables import Table, inputs_table, markdown, num, text

__all__ = [
    "COMPARE_SCHEMA",
    "COMPARE_FILES",
    "compare_document",
    "compare_csv",
    "compare_files",
    "compare_layer_rows",
    "compare_markdown",
    "compare_text",
    "pareto_front",
    "summary_table",
    "layer_figure_table",
]

#: Version of the comparison document's layout (``cascade_core/data/compare.schema.json``).
COMPARE_SCHEMA = "cascade-core/compare/1"
#: What a comparison folder holds besides the plots (``compare --out DIR``).
COMPARE_FILES = ("compare.json", "compare.csv", "compare.md")

_UNITS = {"inner products": "inner prod.", "attention scores": "attn scores", "FLOPs": "FLOPs"}


def pareto_front(rows: list[dict], x: str, y: str) -> set[str]:
    """Selectors no other selector beats on both `x` and `y` (lower is better; ties dominate nobody).

    A row whose `y` is None is left out.
    """
    points = [(row[x], row[y], row["selector"]) for row in rows if row[y] is not None]
    front = set()
    for cost, error, label in points:
        beaten = any(c <= cost and e <= error and (c < cost or e < error) for c, e, other in points if other != label)
        if not beaten:
            front.add(label)
    return front


def front_metric(summary: list[dict]) -> str:
    """The error axis of the cost-against-error figure: rr attention error when scored, else the residual."""
    return "rr_error" if any(row.get("rr_error") is not None for row in summary) else "residual"


def _with_front(summary: list[dict]) -> list[dict]:
    front = pareto_front(summary, "flops", front_metric(summary))
    return [{**row, "pareto": row["selector"] in front} for row in summary]


def compare_layer_rows(records: list[SelectorRecord], attention: list[AttentionRow]) -> list[dict]:
    """One row per (selector, layer): sums over slices, Jaccard averaged, coverage and residual pooled."""
    by_key: dict = {}
    for rec in records:
        by_key.setdefault((rec.selector, rec.layer), []).append(rec)
    scored = {(row.selector, row.layer): row for row in attention}
    rows = []
    for (label, layer), group in by_key.items():
        jaccards = [rec.jaccard_prev for rec in group if rec.jaccard_prev is not None]
        inside = [rec.max_inside for rec in group if rec.max_inside is not None]
        norm_sq = math.fsum(rec.norm_sq for rec in group)
        row = {
            "selector": label,
            "layer": layer,
            "T": sum(rec.T for rec in group),
            "r": sum(rec.r for rec in group),
            "cost": sum(rec.cost for rec in group),
            "flops": sum(rec.flops for rec in group),
            "seconds": math.fsum(rec.seconds for rec in group),
            "jaccard_prev": math.fsum(jaccards) / len(jaccards) if jaccards else None,
            "coverage": sum(rec.covered for rec in group) / sum(rec.T for rec in group),
            "max_inside": max(inside) if inside else None,
            "residual": math.sqrt(math.fsum(rec.residual_sq for rec in group) / norm_sq) if norm_sq > 0 else 0.0,
            "rr_error": None,
            "tr_error": None,
            "rr_cosine": None,
            "tr_cosine": None,
        }
        if (label, layer) in scored:
            row.update({k: v for k, v in scored[(label, layer)].as_dict().items() if k in row})
        rows.append(row)
    return rows


def compare_document(files: list[FileComparison]) -> dict:
    """The comparison of some inputs as a JSON-ready dict (``cascade-core/compare/1``).

    Parameters
    ----------
    files : list of FileComparison
        Results of :func:`cascade_core.compare_file`, all with the same
        parameters (those of the first are recorded).
    """
    params = {k: v for k, v in files[0].result.params.items() if k != "skipped"}
    entries = []
    for f in files:
        result = f.result
        entries.append(
            {
                "input": f.input,
                "skipped": result.params.get("skipped", {}),
                "summary": _with_front([t.as_dict() for t in result.totals.values()]),
                "layers": compare_layer_rows(result.records, result.attention),
                "records": [rec.as_dict() for rec in result.records],
                "attention": [row.as_dict() for row in result.attention],
            }
        )
    selectors = {}
    for f in files:
        for selector in f.result.selectors:
            selectors.setdefault(selector.label(), selector)
    records = [rec for f in files for rec in f.result.records]
    rows = [row for f in files for row in f.result.attention]
    pooled = [selector_totals(selector, records, rows).as_dict() for selector in selectors.values()]
    return {
        "schema": COMPARE_SCHEMA,
        "library": {"name": "cascade-core", "version": __version__},
        "params": params,
        "files": entries,
        "aggregate": {"files": len(files), "summary": _with_front(pooled)},
    }


CSV_FIELDS = [
    "file", "selector", "layer", "T", "r", "cost", "flops", "seconds", "jaccard_prev", "coverage", "max_inside",
    "residual", "rr_error", "rr_cosine", "tr_error", "tr_cosine",
]  # fmt: skip


def compare_csv(doc: dict) -> str:
    """One CSV row per (file, selector, layer): the per-layer rows of every file."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for entry in doc["files"]:
        for row in entry["layers"]:
            values = {k: row.get(k) for k in CSV_FIELDS if k != "file"}
            values["file"] = entry["input"]["path"]
            writer.writerow({k: "" if v is None else v for k, v in values.items()})
    return buffer.getvalue()


def _down(value: float | None, digits: int = 4) -> str:
    """A similarity rounded down, so a largest similarity below tau never prints as tau."""
    return "-" if value is None else f"{math.floor(value * 10**digits) / 10**digits:.{digits}f}"


def summary_table(summary: list[dict], *, times: bool = True) -> Table:
    """One row per selector: size, cost, time, the figures of SPEC §10 and the attention errors; ``*`` on the front.

    The largest similarity inside the set is rounded down (a set below tau never shows tau).
    """
    head = ["selector", "takes", "r/T", "cost", "unit", "GFLOP"]
    head += ["time (s)"] if times else []
    head += ["J(prev)", "coverage", "max s in set", "residual", "rr err", "tr err", "front"]
    body = []
    for row in summary:
        cells = [
            row["selector"],
            row["takes"],
            num(row["mean_r_over_T"]),
            f"{row['cost']:,}",
            _UNITS.get(row["cost_unit"], row["cost_unit"]),
            f"{row['flops'] / 1e9:.4f}",
        ]
        cells += [f"{row['seconds']:.4f}"] if times else []
        cells += [
            num(row["mean_jaccard"]),
            num(row["coverage"]),
            _down(row["max_inside"]),
            num(row["residual"]),
            num(row["rr_error"], 4),
            num(row["tr_error"], 4),
            "*" if row.get("pareto") else "",
        ]
        body.append(cells)
    return Table(head, body, frozenset({0, 1, 4}))


def layer_figure_table(rows: list[dict], key: str, digits: int = 3) -> Table:
    """One figure per layer (columns) and selector (rows), e.g. coverage or residual."""
    layers = sorted({row["layer"] for row in rows})
    labels = list(dict.fromkeys(row["selector"] for row in rows))
    values = {(row["selector"], row["layer"]): row[key] for row in rows}
    head = ["selector", *[f"layer {layer}" for layer in layers]]
    body = [[label, *[num(values.get((label, layer)), digits) for layer in layers]] for label in labels]
    return Table(head, body, frozenset({0}))


def _budget(params: dict) -> str:
    budget = params["budget"]
    if isinstance(budget, str):
        return f"budget: {'ADA' if budget == 'ada' else 'the cascade'}'s r at each layer and slice"
    return f"budget: ceil({budget:g} T)"


def _skipped(entry: dict) -> list[str]:
    return [f"skipped: {name} ({why})" for name, why in entry["skipped"].items()]


def _front_note(summary: list[dict]) -> str:
    metric = "rr attention error" if front_metric(summary) == "rr_error" else "residual"
    return f"front: on the Pareto front of selection FLOPs against {metric} (lower is better on both)"


def compare_text(doc: dict, *, label: str | None = None) -> str:
    """What ``cascade-core compare`` prints: per input, a header and the summary table."""
    params = doc["params"]
    out = []
    for i, entry in enumerate(doc["files"]):
        shape = tuple(entry["input"]["shape"])
        lines = [
            f"cascade-core compare: {label or entry['input']['path']}",
            f"layout {entry['input']['layout']} {shape}, tau {params['tau']:g}, {_budget(params)}, "
            f"select on {params['select_on']}, backend {params['backend']}",
            "",
            text(summary_table(entry["summary"])),
            "",
            _front_note(entry["summary"]),
            *_skipped(entry),
        ]
        if not params["attention"]:
            lines.append("attention: not scored (the input has no q, k and v)")
        out.append(("\n" if i else "") + "\n".join(lines))
    if doc["aggregate"]["files"] > 1:
        out.append(
            f"\nall {doc['aggregate']['files']} files, pooled\n" + text(summary_table(doc["aggregate"]["summary"]))
        )
    return "\n".join(out)


def compare_markdown(doc: dict, plots: list[str] | None = None) -> str:
    """``compare.md``: inputs, parameters, the summary and per-layer tables, plots.

    Wall times are left out (they are in ``compare.json`` and ``compare.csv``),
    so the summary of the same input is the same text on every run.
    """
    params = doc["params"]
    names = ", ".join(f"`{s['label']}`" for s in params["selectors"])
    lines = [
        "# cascade-core selector comparison",
        "",
        f"cascade-core {doc['library']['version']}, backend `{params['backend']}`, tau = {params['tau']:g}, "
        f"{_budget(params)}, selection on {params['select_on']}, centring {'on' if params['center'] else 'off'}"
        + (f", attention {'causal' if params['causal'] else 'non-causal'}" if params["attention"] else "")
        + f". Selectors: {names} (SPEC §10).",
        "",
        "## Inputs",
        "",
    ]
    lines += markdown(inputs_table(doc["files"]))
    for entry in doc["files"]:
        name = Path(entry["input"]["path"]).name
        lines += ["", f"## Selectors on `{name}`", ""]
        lines += markdown(summary_table(entry["summary"], times=False))
        lines += ["", _front_note(entry["summary"]) + "."]
        lines += [f"{line}." for line in _skipped(entry)]
        for key, title in (
            ("coverage", "Coverage at tau"),
            ("residual", "Residual"),
            ("jaccard_prev", "Consecutive Jaccard"),
            ("rr_error", "rr attention error"),
        ):
            if any(row[key] is not None for row in entry["layers"]):
                lines += ["", f"{title} per layer (pooled over slices):", ""]
                lines += markdown(layer_figure_table(entry["layers"], key, 4 if key == "rr_error" else 3))
    if doc["aggregate"]["files"] > 1:
        lines += ["", f"## All {doc['aggregate']['files']} files, pooled", ""]
        lines += markdown(summary_table(doc["aggregate"]["summary"], times=False))
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def compare_files(doc: dict) -> dict[str, str | bytes]:
    """Every file of a comparison folder, by name: JSON, CSV, Markdown and the PNG plots."""
    from .compare_plots import compare_plots
    from .document import to_json

    images = compare_plots(doc)
    texts = {
        "compare.json": to_json(doc),
        "compare.csv": compare_csv(doc),
        "compare.md": compare_markdown(doc, list(images)),
    }
    return {**texts, **images}
