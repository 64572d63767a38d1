"""The report documents: ``report.json`` (schema ``cascade-core/report/2``), ``sweep.json``, and their CSV.

Everything here turns results (:class:`~cascade_core.FileReport`) into
JSON-ready dicts and CSV text; :mod:`.tables`, :mod:`.console`,
:mod:`.markdown` and :mod:`.plots` render those dicts.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from itertools import groupby
from pathlib import Path

from .._accounting import gram_savings
from .._metrics import LayerRecord
from .._version import __version__

__all__ = [
    "PAPER",
    "REPORT_SCHEMA",
    "SWEEP_SCHEMA",
    "REPORT_PARAMS",
    "aggregate",
    "document",
    "input_description",
    "layer_rows",
    "layers_csv",
    "sha256_of",
    "sweep_csv",
    "sweep_document",
    "sweep_row",
    "to_json",
]

#: Ranges reported by the paper (Thomas, arXiv 2605.03110): GPT-2, GPT-J, OPT.
PAPER = {"savings": (0.22, 0.63), "mean_jaccard": (0.83, 0.94)}

#: Version of the JSON report's layout (``cascade_core/data/report.schema.json``).
REPORT_SCHEMA = "cascade-core/report/2"
#: Version of the sweep document's layout (``cascade_core/data/sweep.schema.json``).
SWEEP_SCHEMA = "cascade-core/sweep/2"
#: The run parameters a report records (the run's own, but for its layout); ``layers`` when a selection was made.
REPORT_PARAMS = ("tau", "center", "reference", "recompute_ratio", "recompute_every", "backend", "tile", "algorithm")


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _sum_known(values):
    """The sum, or None when some value is unknown."""
    values = list(values)
    return None if any(v is None for v in values) else sum(values)


def layer_rows(records: list[LayerRecord]) -> list[dict]:
    """One row per layer, summed (counts, both ledgers) or averaged (Jaccard) over slices."""
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
                "needed_ada": _sum_known(rec.needed_ada for rec in group),
                "needed": sum(rec.needed for rec in group),
            }
        )
    return rows


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


def _pooled(totals: list, spent: str, ada: str) -> float | None:
    """Savings pooled over files, ``1 - sum spent / sum ada`` (None when some file lacks the ADA side)."""
    ada_sum = _sum_known(getattr(t, ada) for t in totals)
    return None if ada_sum is None else gram_savings(sum(getattr(t, spent) for t in totals), ada_sum)


def aggregate(files: list) -> dict:
    """Mean, std, min and max over the files of savings, Jaccard, agreement and r/T; pooled savings.

    Savings are pooled on both ledgers of SPEC §6 and on wall time against
    ADA computed both ways.
    """
    totals = [f.result.totals for f in files]
    return {
        "files": len(files),
        "pooled_savings": _pooled(totals, "ops", "ops_ada"),
        "pooled_needed_savings": _pooled(totals, "needed", "needed_ada"),
        "pooled_wall_savings_full_gram": _pooled(totals, "seconds", "seconds_ada_full_gram"),
        "pooled_wall_savings_chosen_rows": _pooled(totals, "seconds", "seconds_ada_chosen_rows"),
        "savings": _stats([t.savings for t in totals]),
        "needed_savings": _stats([t.needed_savings for t in totals]),
        "mean_jaccard": _stats([t.mean_jaccard for t in totals]),
        "mean_agreement": _stats([t.mean_agreement for t in totals]),
        "mean_r_over_T": _stats([t.mean_r_over_T for t in totals]),
    }


def run_params(result) -> dict:
    """The parameters a report records, from a run's own."""
    params = {name: result.params[name] for name in REPORT_PARAMS}
    if "layers" in result.params:
        params["layers"] = result.params["layers"]
    return params


def input_description(data) -> dict:
    """What was read (an :class:`~cascade_core.Activations`): path, SHA-256, format, tensor, shape, metadata.

    The metadata's token strings (``tokens``) are left out: the token views hold them.
    """
    return {
        "path": data.path,
        "sha256": data.digest() if data.digest is not None else sha256_of(data.path),
        "format": data.format,
        "key": data.key,
        "layout": data.layers.layout,
        "shape": list(data.layers.shape),
        "dtype": str(data.layers.dtype),
        "metadata": {k: v for k, v in data.metadata.items() if k != "tokens"},
    }


def document(files: list) -> dict:
    """The report of some inputs as a JSON-ready dict (``cascade-core/report/2``, ``report.schema.json``).

    Parameters
    ----------
    files : list of FileReport
        Results of :func:`cascade_core.analyze_file`, all made with the same
        parameters (those of the first are recorded).
    """
    return {
        "schema": REPORT_SCHEMA,
        "library": {"name": "cascade-core", "version": __version__},
        "params": run_params(files[0].result),
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
    "needed", "needed_ada", "jaccard_prev", "r_ada", "agreement", "jaccard_prev_ada", "seconds",
    "seconds_ada_full_gram", "seconds_ada_chosen_rows",
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


def sweep_row(tau: float, doc: dict) -> dict:
    """One row of a sweep: the pooled savings (both ledgers, wall time) and mean figures of the report `doc`."""
    agg = doc["aggregate"]
    row = {
        "tau": tau,
        "savings": agg["pooled_savings"],
        "needed_savings": agg["pooled_needed_savings"],
        "wall_savings_full_gram": agg["pooled_wall_savings_full_gram"],
        "wall_savings_chosen_rows": agg["pooled_wall_savings_chosen_rows"],
        "mean_jaccard": _mean_of(agg["mean_jaccard"]),
        "mean_agreement": _mean_of(agg["mean_agreement"]),
        "mean_r_over_T": _mean_of(agg["mean_r_over_T"]),
        "rr_error": None,
        "tr_error": None,
    }
    overall = [entry["attention"]["overall"]["cascade"] for entry in doc["files"] if entry.get("attention")]
    if overall:
        row["rr_error"] = sum(o["rr"][0] for o in overall) / len(overall)
        row["tr_error"] = sum(o["tr"][0] for o in overall) / len(overall)
    return row


def _mean_of(stats: dict | None):
    return None if stats is None else stats["mean"]


def sweep_document(taus: list[float], docs: list[dict]) -> dict:
    """The sweep as a JSON-ready dict (``cascade-core/sweep/2``): one report per tau, reduced to rows."""
    first = docs[0]
    params = {**first["params"], "tau": list(taus)}
    return {
        "schema": SWEEP_SCHEMA,
        "library": {"name": "cascade-core", "version": __version__},
        "params": params,
        "paper": {k: list(v) for k, v in PAPER.items()},
        "files": [entry["input"] for entry in first["files"]],
        "rows": [sweep_row(tau, doc) for tau, doc in zip(taus, docs, strict=True)],
    }


def sweep_csv(sweep: dict) -> str:
    """The rows of a sweep, one CSV row per tau."""
    rows = sweep["rows"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()
