"""PNG plots of a report and of a tau sweep (matplotlib, ``cascade-core[plot]``).

Every function takes the JSON-ready report (:func:`cascade_core.report.document`
or :func:`~cascade_core.report.sweep_document`) and returns ``{file name: PNG bytes}``; the caller writes
them atomically. With several input files a curve is the mean over files
and the band their range.
"""

from __future__ import annotations

import io

__all__ = ["report_plots", "sweep_plots", "SIZE"]

#: Figure size in inches at 100 dpi: every plot is 800 x 450 pixels.
SIZE = (8.0, 4.5)
DPI = 100

# The cascade is drawn thick and first, ADA thin, dashed and hollow on top, so both show where they agree.
ADA_STYLE = {"color": "#555555", "linestyle": "--", "linewidth": 1.2, "marker": "s", "markersize": 5,
             "markerfacecolor": "none", "zorder": 3}  # fmt: skip
CASCADE_STYLE = {"color": "#1f77b4", "linewidth": 3.0, "marker": "o", "markersize": 6, "alpha": 0.8, "zorder": 2}


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'cascade-core[plot]'") from None
    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    _pyplot().close(fig)
    return buffer.getvalue()


def _series(doc: dict, value) -> tuple[list[int], list[float], list[float], list[float]]:
    """Per layer: mean, min and max over files of `value(layer_row)` (rows where it is None are skipped)."""
    by_layer: dict[int, list[float]] = {}
    for entry in doc["files"]:
        for row in entry["layers"]:
            v = value(row)
            if v is not None:
                by_layer.setdefault(row["layer"], []).append(v)
    layers = sorted(by_layer)
    means = [sum(by_layer[x]) / len(by_layer[x]) for x in layers]
    return layers, means, [min(by_layer[x]) for x in layers], [max(by_layer[x]) for x in layers]


def _line(ax, doc, value, label, style):
    layers, mean, lo, hi = _series(doc, value)
    if not layers:
        return
    ax.plot(layers, mean, label=label, **style)
    if len(doc["files"]) > 1:
        ax.fill_between(layers, lo, hi, color=style["color"], alpha=0.15, linewidth=0)


def _layer_axes(plt, title: str, ylabel: str, doc: dict):
    fig, ax = plt.subplots(figsize=SIZE)
    n = len(doc["files"])
    ax.set_title(title + (f" (mean of {n} files, band: min–max)" if n > 1 else ""))
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


#: The Gram-ops plot uses a log axis only when its values span at least this ratio (largest / smallest).
LOG_AXIS_RATIO = 10.0


def ops_axis_scale(values: list[float]) -> str:
    """``"log"`` when the positive `values` span a ratio of :data:`LOG_AXIS_RATIO` or more, else ``"linear"``.

    A log axis over a narrow range (every layer between 10,000 and 25,000
    inner products, say) makes small differences look large and hides the
    zero; a linear axis from 0 shows them as they are.

    Parameters
    ----------
    values : list of float
        Every value the plot shows.

    Returns
    -------
    str
        ``"log"`` or ``"linear"``.
    """
    positive = [v for v in values if v > 0]
    if not positive or len(positive) < len(values):  # a zero cannot go on a log axis
        return "linear"
    return "log" if max(positive) / min(positive) >= LOG_AXIS_RATIO else "linear"


def report_plots(doc: dict) -> dict[str, bytes]:
    """r/T, consecutive Jaccard, Gram ops, removals and additions, and attention error, per layer."""
    plt = _pyplot()
    tau = doc["params"]["tau"]
    out = {}

    fig, ax = _layer_axes(plt, f"Representatives per token, tau = {tau:g}", "r / T (sum over slices)", doc)
    _line(ax, doc, lambda r: r["r"] / r["T"], "cascade", CASCADE_STYLE)
    _line(ax, doc, lambda r: None if r["r_ada"] is None else r["r_ada"] / r["T"], "ADA (per layer)", ADA_STYLE)
    ax.set_ylim(0, 1.05)
    ax.legend()
    out["r_over_T.png"] = _png(fig)

    fig, ax = _layer_axes(plt, "Consecutive-layer Jaccard J(R_l-1, R_l)", "Jaccard", doc)
    jlo, jhi = doc["paper"]["mean_jaccard"]
    ax.axhspan(jlo, jhi, color="#2ca02c", alpha=0.12, label=f"paper, mean {jlo:.2f}–{jhi:.2f}")
    _line(ax, doc, lambda r: r["jaccard_prev"], "cascade", CASCADE_STYLE)
    _line(ax, doc, lambda r: r["jaccard_prev_ada"], "ADA (per layer)", ADA_STYLE)
    _, _, lows, _ = _series(doc, lambda r: r["jaccard_prev"])
    lowest = min(lows, default=jlo)
    ax.set_ylim(max(0.0, min(lowest, jlo) - 0.1), 1.02)
    ax.legend(loc="best")
    out["jaccard.png"] = _png(fig)

    agg = doc["aggregate"]
    pooled, needed = agg["pooled_savings"], agg["pooled_needed_savings"]
    lo, hi = doc["paper"]["savings"]
    plotted = [
        v
        for e in doc["files"]
        for row in e["layers"]
        for v in (row["ops_ada"], row["ops"], row["needed_ada"], row["needed"])
        if v is not None
    ]
    scale = ops_axis_scale(plotted)
    fig, ax = _layer_axes(
        plt,
        f"Inner products per layer: savings {100 * pooled:.1f} % (paper {100 * lo:.0f}–{100 * hi:.0f} %), "
        + ("needed -" if needed is None else f"needed {100 * needed:.1f} %"),
        "inner products (log scale)" if scale == "log" else "inner products",
        doc,
    )
    _line(ax, doc, lambda r: r["ops_ada"], "ADA, paper ledger: T²", ADA_STYLE)
    _line(ax, doc, lambda r: r["ops"], "cascade, paper ledger: r² + (T−r′)r′ + u²", CASCADE_STYLE)
    _line(ax, doc, lambda r: r["needed_ada"], "ADA, needed ledger", {**ADA_STYLE, "color": "#8c4a00"})
    _line(ax, doc, lambda r: r["needed"], "cascade, needed ledger", {**CASCADE_STYLE, "color": "#ff7f0e"})
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda value, _: f"{value:,.0f}")
    if scale == "log":
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(plain)
        ax.tick_params(axis="y", which="minor", labelsize=8)
    else:
        ax.set_ylim(0, 1.05 * max(plotted, default=1))
    ax.yaxis.set_major_formatter(plain)
    ax.legend()
    out["gram_ops.png"] = _png(fig)

    fig, ax = _layer_axes(plt, "Cascade repairs per layer (layer 0 is ADA)", "tokens (sum over slices)", doc)
    layers, removed, _, _ = _series(doc, lambda r: r["removed"])
    _, added, _, _ = _series(doc, lambda r: r["added"])
    width = 0.4
    ax.bar([x - width / 2 for x in layers], removed, width, label="removed |D|", color="#d62728")
    ax.bar([x + width / 2 for x in layers], added, width, label="added |A|", color="#2ca02c")
    ax.set_xticks(layers)
    ax.legend()
    out["changes.png"] = _png(fig)

    if any(entry.get("attention") for entry in doc["files"]):
        fig, ax = _layer_axes(plt, "Attention error against full attention", "relative Frobenius error", doc)
        attention_doc = {
            "files": [{"layers": e["attention"]["records"]} for e in doc["files"] if e.get("attention")],
        }
        _line(ax, attention_doc, lambda a: a["rr_error"], "rr, cascade sets", CASCADE_STYLE)
        _line(ax, attention_doc, lambda a: a["rr_error_ada"], "rr, ADA sets", ADA_STYLE)
        _line(ax, attention_doc, lambda a: a["tr_error"], "tr, cascade sets", {**CASCADE_STYLE, "color": "#ff7f0e"})
        _line(ax, attention_doc, lambda a: a["tr_error_ada"], "tr, ADA sets", {**ADA_STYLE, "color": "#8c4a00"})
        ax.set_ylim(bottom=0)
        ax.legend()
        out["attention_error.png"] = _png(fig)
    return out


def sweep_plots(sweep: dict) -> dict[str, bytes]:
    """The trade-off: Gram savings (both ledgers of SPEC §6) against mean consecutive Jaccard, one point per tau."""
    plt = _pyplot()
    rows = sweep["rows"]
    fig, ax = plt.subplots(figsize=SIZE)
    lo, hi = sweep["paper"]["savings"]
    jlo, jhi = sweep["paper"]["mean_jaccard"]
    ax.add_patch(
        plt.Rectangle((100 * lo, jlo), 100 * (hi - lo), jhi - jlo, color="#2ca02c", alpha=0.12, label="paper's ranges")
    )
    xs = [100 * row["savings"] for row in rows]
    ys = [row["mean_jaccard"] if row["mean_jaccard"] is not None else float("nan") for row in rows]
    ax.plot(xs, ys, color=CASCADE_STYLE["color"], marker="o", label="paper ledger")
    for i, (row, x, y) in enumerate(zip(rows, xs, ys, strict=True)):
        offset = (6, 6) if i % 2 == 0 else (6, -12)  # alternate sides so neighbours do not overlap
        ax.annotate(f"τ={row['tau']:g}", (x, y), textcoords="offset points", xytext=offset, fontsize=8)
    needed = [
        (100 * row["needed_savings"], y) for row, y in zip(rows, ys, strict=True) if row["needed_savings"] is not None
    ]
    if needed:
        ax.plot(*zip(*needed, strict=True), color="#ff7f0e", marker="s", linestyle="--", label="needed ledger")
        ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_xlabel("Gram savings (%): paper ledger, and needed ledger (below 0: the cascade costs more than exact ADA)")
    ax.set_ylabel("mean consecutive Jaccard")
    n = len(sweep["files"])
    ax.set_title(f"Gram savings against layer-to-layer stability, by tau ({n} file{'s' if n != 1 else ''})")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left")
    return {"tradeoff.png": _png(fig)}
