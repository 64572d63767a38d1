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
    "percent",
    "needed_note",
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


def percent(value, *, tight: bool = False) -> str:
    """A share as a percentage (``26.9 %``, or ``26.9%`` when `tight`), or ``-`` for None."""
    return "-" if value is None else f"{100 * value:.1f}{'' if tight else ' '}%"


def needed_note(needed: int, needed_ada: int | None, *, where: str = "on this input") -> str | None:
    """The sentence a report prints when the needed savings (SPEC §6) are negative, else None."""
    if needed_ada is None or needed <= needed_ada:
        return None
    extra = needed / needed_ada - 1 if needed_ada else float("inf")
    return (
        f"The cascade costs more than an exact ADA {where}: it needs {needed:,} inner products where ADA "
        f"computed from the chosen rows needs {needed_ada:,} ({100 * extra:.1f} % more; needed ledger, SPEC §6)."
    )


def layer_legend(slices: int, *, code: str = "") -> str:
    """What the columns of :func:`layer_table` mean, for the line under the table.

    Parameters
    ----------
    slices : int
        Slices (sequences, heads) of the run: with more than one, ``T`` and
        ``r`` are sums over them, not one sequence's length.
    code : str
        Put around column names (``"`"`` in Markdown).

    Returns
    -------
    str
    """
    c = code
    counts = (
        f"{c}T{c}, {c}r{c}, {c}removed{c}, {c}added{c}: sums over the {slices} slices (valid tokens only), "
        f"so {c}T{c} is not one sequence's length"
        if slices > 1
        else f"{c}T{c}: tokens, {c}r{c}: representatives"
    )
    means = "means over slices" if slices > 1 else "of the one slice"
    return (
        f"{counts}; {c}J(prev){c}: Jaccard with the layer before; {c}agree{c}: Jaccard of the cascade's set with "
        f"per-layer ADA's set of the same layer (1.000: the same set), both {means}; {c}paper …{c}, "
        f"{c}needed …{c}: ops, inner products of length d, on the paper ledger (ADA: T² per slice) and the "
        "needed ledger (what an exact algorithm computes), SPEC §6."
    )


#: Below this much selection time per layer and slice, fixed per-call costs outweigh the Gram work saved.
OVERHEAD_MS = 10.0


def wall_note(totals: dict) -> str | None:
    """Why the wall-clock savings are negative (or mean little): a small input is overhead-bound; else None.

    Parameters
    ----------
    totals : dict
        A run's totals (``seconds``, ``layers``, ``slices``, wall-clock savings).

    Returns
    -------
    str or None
        One sentence when a wall-clock saving is negative or the cascade took
        less than :data:`OVERHEAD_MS` per layer and slice.
    """
    shares = [totals.get("wall_savings_full_gram"), totals.get("wall_savings_chosen_rows")]
    shares = [v for v in shares if v is not None]
    if not shares or not totals.get("seconds"):
        return None
    per_step = 1000 * totals["seconds"] / max(1, totals["layers"] * totals["slices"])
    if min(shares) >= 0 and per_step >= OVERHEAD_MS:
        return None
    if min(shares) < 0:
        return (
            f"Wall-clock savings are negative here: the cascade took {per_step:.2f} ms per layer and slice, and on "
            "an input this small fixed costs per call (Python, dispatch, allocation) outweigh the inner products "
            "it saves. The Gram savings count work, the same on any machine; wall-clock savings follow them on "
            "large inputs."
        )
    return (
        f"Wall-clock savings mean little here: the cascade took {per_step:.2f} ms per layer and slice; below "
        f"about {OVERHEAD_MS:g} ms fixed costs per call (Python, dispatch, allocation) dominate the time."
    )


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


def _count(value) -> str:
    return "-" if value is None else f"{value:,}"


def layer_table(rows: list[dict]) -> Table:
    """Per-layer rows of a run (sums over slices; Jaccard and agreement averaged), both ledgers of SPEC §6."""
    head = ["layer", "method", "T", "r", "removed", "added", "J(prev)", "agree",
            "paper ADA", "paper cascade", "needed ADA", "needed cascade"]  # fmt: skip
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
            _count(row["needed_ada"]),
            _count(row["needed"]),
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


def _pm_percent(stats: dict | None) -> str:
    return "-" if stats is None else f"{100 * stats['mean']:.1f} ± {100 * stats['std']:.1f} %"


def totals_table(doc: dict) -> Table:
    """Run totals per input (savings on both ledgers of SPEC §6), across inputs, and the paper's ranges."""
    head = ["file", "Gram savings (paper ledger)", "needed savings", "mean Jaccard", "agreement with ADA",
            "mean r/T", "layers", "slices"]  # fmt: skip
    body = []
    for e in doc["files"]:
        t = e["totals"]
        body.append(
            [
                _name(e),
                percent(t["savings"]),
                percent(t["needed_savings"]),
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
                _pm_percent(agg["savings"]),
                _pm_percent(agg["needed_savings"]),
                _pm(agg["mean_jaccard"]),
                _pm(agg["mean_agreement"]),
                _pm(agg["mean_r_over_T"]),
                "",
                "",
            ]
        )
    lo, hi = doc["paper"]["savings"]
    jlo, jhi = doc["paper"]["mean_jaccard"]
    body.append(
        ["paper (GPT-2, GPT-J, OPT)", f"{100 * lo:.0f}–{100 * hi:.0f} %", "not reported", f"{jlo:.2f}–{jhi:.2f}",
         *[""] * 4]
    )  # fmt: skip
    return Table(head, body, frozenset({0}))


def aggregate_table(agg: dict) -> Table:
    """Mean, std, min and max across inputs of the run totals."""
    head = [f"across {agg['files']} files", "mean", "std", "min", "max"]
    body = []
    for name, label, scale in (
        ("savings", "Gram savings, paper ledger (%)", 100),
        ("needed_savings", "needed savings (%)", 100),
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
    """One row per tau of a sweep: savings on both ledgers and in wall time, stability, attention error."""
    head = ["tau", "savings", "needed", "wall/full", "wall/chosen", "Jaccard", "agree", "r/T", "rr err", "tr err"]
    body = [
        [
            f"{row['tau']:.3g}",
            percent(row["savings"], tight=True),
            percent(row["needed_savings"], tight=True),
            percent(row["wall_savings_full_gram"], tight=True),
            percent(row["wall_savings_chosen_rows"], tight=True),
            num(row["mean_jaccard"]),
            num(row["mean_agreement"]),
            num(row["mean_r_over_T"]),
            num(row["rr_error"], 4),
            num(row["tr_error"], 4),
        ]
        for row in rows
    ]
    return Table(head, body)
