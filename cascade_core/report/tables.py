"""Tables of a report: each built once as cells, then rendered as text or Markdown.

A :class:`Table` holds strings only; :func:`text` pads its columns for a
terminal and :func:`markdown` writes a pipe table. Every table of the
printed output and of ``report.md`` comes from one of the builders below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Table",
    "text",
    "markdown",
    "num",
    "layer_table",
    "attention_table",
    "inputs_table",
    "totals_table",
    "sweep_table",
    "aggregate_table",
]


@dataclass(frozen=True)
class Table:
    """Cells of a table.

    Attributes
    ----------
    head : list of str
        Column titles.
    rows : list of list of str
        The cells, one list per row.
    left : frozenset of int
        Columns of words rather than figures (left-aligned in text).
    """

    head: list[str]
    rows: list[list[str]]
    left: frozenset[int] = field(default_factory=frozenset)


def num(value, digits: int = 3) -> str:
    """A figure with `digits` decimals, or ``-`` for None."""
    return "-" if value is None else f"{value:.{digits}f}"


def text(table: Table) -> str:
    """Columns padded with two spaces between them; words left, figures right."""
    widths = [max(len(cells[i]) for cells in [table.head, *table.rows]) for i in range(len(table.head))]
    lines = []
    for cells in [table.head, *table.rows]:
        pairs = enumerate(zip(cells, widths, strict=True))
        padded = [c.ljust(w) if i in table.left else c.rjust(w) for i, (c, w) in pairs]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def markdown(table: Table) -> list[str]:
    """A pipe table: the first column (the row's name) left, every other right."""
    align = [" --- "] + [" ---: "] * (len(table.head) - 1)
    lines = ["| " + " | ".join(table.head) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return lines


def layer_table(rows: list[dict]) -> Table:
    """Per-layer rows of a run (sums over slices; Jaccard and agreement averaged)."""
    head = ["layer", "method", "T", "r", "removed", "added", "J(prev)", "agree", "ops ADA", "ops cascade"]
    body = [
        [
            str(row["layer"]),
            row["method"],
            str(row["T"]),
            str(row["r"]),
            str(row["removed"]),
            str(row["added"]),
            num(row["jaccard_prev"]),
            num(row["agreement"]),
            f"{row['ops_ada']:,}",
            f"{row['ops']:,}",
        ]
        for row in rows
    ]
    return Table(head, body, frozenset({1}))


def attention_table(records: list[dict]) -> Table:
    """Per-layer attention errors (SPEC §8) of the cascade's and ADA's sets."""
    head = ["layer", "full T²", "rr r²", "tr Tr", "rr err", "rr err ADA", "rr cos", "tr err", "tr err ADA", "tr cos"]
    body = [
        [
            str(rec["layer"]),
            f"{rec['entries_full']:,}",
            f"{rec['entries_rr']:,}",
            f"{rec['entries_tr']:,}",
            num(rec["rr_error"], 4),
            num(rec["rr_error_ada"], 4),
            num(rec["rr_cosine"], 4),
            num(rec["tr_error"], 4),
            num(rec["tr_error_ada"], 4),
            num(rec["tr_cosine"], 4),
        ]
        for rec in records
    ]
    return Table(head, body)


def _name(entry: dict) -> str:
    return f"`{Path(entry['input']['path']).name}`"


def inputs_table(files: list[dict]) -> Table:
    """What was read, one row per input."""
    head = ["file", "sha256", "format", "tensor", "layout", "shape", "dtype"]
    body = [
        [
            _name(e),
            f"`{e['input']['sha256'][:12]}`",
            e["input"]["format"],
            f"`{e['input']['key']}`",
            e["input"]["layout"],
            "×".join(str(n) for n in e["input"]["shape"]),
            e["input"]["dtype"],
        ]
        for e in files
    ]
    return Table(head, body, frozenset({0}))


def _pm(stats: dict | None) -> str:
    return "-" if stats is None else f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def totals_table(doc: dict) -> Table:
    """Run totals per input, across inputs when there are several, and the paper's ranges."""
    head = ["file", "Gram savings", "mean Jaccard", "agreement with ADA", "mean r/T", "layers", "slices"]
    body = []
    for e in doc["files"]:
        t = e["totals"]
        body.append(
            [
                _name(e),
                f"{100 * t['savings']:.1f} %",
                num(t["mean_jaccard"]),
                num(t["mean_agreement"]),
                num(t["mean_r_over_T"]),
                str(t["layers"]),
                str(t["slices"]),
            ]
        )
    agg = doc["aggregate"]
    if agg["files"] > 1:
        body.append(
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
    lo, hi = doc["paper"]["savings"]
    jlo, jhi = doc["paper"]["mean_jaccard"]
    body.append(["paper (GPT-2, GPT-J, OPT)", f"{100 * lo:.0f}–{100 * hi:.0f} %", f"{jlo:.2f}–{jhi:.2f}", *[""] * 4])
    return Table(head, body, frozenset({0}))


def aggregate_table(agg: dict) -> Table:
    """Mean, std, min and max across inputs of the run totals."""
    head = [f"across {agg['files']} files", "mean", "std", "min", "max"]
    body = []
    for name, label, scale in (
        ("savings", "Gram savings (%)", 100),
        ("mean_jaccard", "mean Jaccard", 1),
        ("mean_agreement", "agreement with ADA", 1),
        ("mean_r_over_T", "mean r/T", 1),
    ):
        stats = agg[name]
        if stats is None:
            body.append([label, "-", "", "", ""])
        else:
            body.append([label, *(f"{scale * stats[k]:.3f}" for k in ("mean", "std", "min", "max"))])
    return Table(head, body, frozenset({0}))


def sweep_table(rows: list[dict]) -> Table:
    """One row per tau of a sweep."""
    head = ["tau", "savings", "Jaccard", "agree", "r/T", "rr err", "tr err"]
    body = [
        [
            f"{row['tau']:.3g}",
            f"{100 * row['savings']:.1f}%",
            num(row["mean_jaccard"]),
            num(row["mean_agreement"]),
            num(row["mean_r_over_T"]),
            num(row["rr_error"], 4),
            num(row["tr_error"], 4),
        ]
        for row in rows
    ]
    return Table(head, body)
