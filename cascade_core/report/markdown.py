"""``report.md``: inputs, parameters, totals beside the paper's, per-layer tables, plots."""

from __future__ import annotations

from pathlib import Path

from .tables import (
    attention_table,
    inputs_table,
    layer_legend,
    layer_table,
    markdown,
    needed_note,
    num,
    percent,
    totals_table,
)

__all__ = ["report_markdown"]


def _get(stats: dict | None, key: str):
    return None if stats is None else stats[key]


def _parameters(params: dict, version: str) -> str:
    return (
        f"cascade-core {version}, backend `{params['backend']}`, algorithm `{params['algorithm']}`, "
        f"tau = {params['tau']:g}, "
        f"centring {'on' if params['center'] else 'off'}"
        + (f", recompute ratio {params['recompute_ratio']:g}" if params.get("recompute_ratio") is not None else "")
        + (f", ADA every {params['recompute_every']} layers" if params.get("recompute_every") else "")
        + (f", layers {params['layers']}" if params.get("layers") is not None else "")
        + "."
    )


def report_markdown(doc: dict, plots: list[str] | None = None, *, views: list[dict] | None = None) -> str:
    """A readable summary of a report document (:func:`~cascade_core.report.document`).

    Wall times are left out (they are in ``report.json`` and ``layers.csv``), so
    the summary of the same input is the same text on every run. `views` lists
    the token views (``title``, ``page``, ``heatmap``; :func:`.view.view_files`):
    each sequence's heatmap and a link to its page.
    """
    lines = ["# cascade-core report", "", _parameters(doc["params"], doc["library"]["version"]), "", "## Inputs", ""]
    lines += markdown(inputs_table(doc["files"]))
    lines += ["", "## Totals", ""]
    lines += markdown(totals_table(doc))
    lines += [
        "",
        "Two ledgers (SPEC §6), in inner products: the paper's counts the full Gram matrix for ADA "
        "(`T²`); the needed ledger counts what an exact ADA must compute, each token against the "
        "representatives chosen before it (SPEC §3.1).",
    ]
    for e in doc["files"]:
        note = needed_note(
            e["totals"]["needed"], e["totals"]["needed_ada"], where=f"on `{Path(e['input']['path']).name}`"
        )
        if note:
            lines += ["", note]
    agg = doc["aggregate"]
    if agg["files"] > 1:
        lines += [
            "",
            f"Pooled over all files (sum of ops): Gram savings {100 * agg['pooled_savings']:.1f} %, needed savings "
            f"{percent(agg['pooled_needed_savings'])}. Min–max over files: savings "
            f"{100 * agg['savings']['min']:.1f}–{100 * agg['savings']['max']:.1f} %, Jaccard "
            f"{num(_get(agg['mean_jaccard'], 'min'))}–{num(_get(agg['mean_jaccard'], 'max'))}.",
        ]
    for e in doc["files"]:
        lines += ["", f"## Layers of `{Path(e['input']['path']).name}`", ""]
        lines += markdown(layer_table(e["layers"]))
        lines += ["", layer_legend(e["totals"]["slices"], code="`")]
        attention = e.get("attention")
        if attention:
            kind = "causal" if attention["causal"] else "non-causal"
            lines += ["", f"Attention against full (selection on {attention['select_on']}, {kind}):", ""]
            lines += markdown(attention_table(attention["records"]))
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{Path(p).stem}]({p})" for p in plots]
    if views:
        lines += ["", "## Tokens across layers", ""]
        lines += [
            "Which tokens are representatives at every layer: the cascade against per-layer ADA. Each sequence's "
            "page (open it in a browser; it needs no network) shades the text by the number of layers that chose "
            "each token, steps through the layers, and shows each token's group on hover."
        ]
        for view in views:
            lines += ["", f"### {view['title']}", "", f"[Open the page]({view['page']})", ""]
            lines += [f"![{Path(view['heatmap']).stem}]({view['heatmap']})"]
    return "\n".join(lines) + "\n"
