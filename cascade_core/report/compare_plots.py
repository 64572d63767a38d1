"""PNG plots of a selector comparison (matplotlib, ``cascade-core[plot]``).

:func:`compare_plots` takes the comparison document
(:func:`~cascade_core.report.compare.compare_document`) and returns
``{file name: PNG bytes}``: selection cost against error with the Pareto
front marked, and coverage, residual and consecutive Jaccard per layer (the
mean over files when there are several).
"""

from __future__ import annotations

from .compare import front_metric, pareto_front
from .plots import ADA_STYLE, CASCADE_STYLE, SIZE, _png, _pyplot

__all__ = ["compare_plots"]

_COLOURS = ["#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#ff7f0e", "#7f7f7f"]


def _styles(labels: list[str]) -> dict[str, dict]:
    """A line style per selector: the report's styles for ADA and the cascade, a colour each for the rest.

    A built-in selector keeps its colour from plot to plot (by its place in the registry); others take
    the colours left, in order.
    """
    from ..selectors import names

    registered = [name for name in names() if name not in ("ada", "cascade")]
    fixed = {name: _COLOURS[i % len(_COLOURS)] for i, name in enumerate(registered[: len(_COLOURS)])}
    spare = iter([c for c in _COLOURS if c not in fixed.values()] + _COLOURS * 4)
    styles = {}
    for label in labels:
        name = label.split(":")[0]
        if label == "ada":
            styles[label] = ADA_STYLE
        elif label == "cascade":
            styles[label] = CASCADE_STYLE
        else:
            colour = fixed[name] if name in fixed and name == label else next(spare)
            styles[label] = {"color": colour, "linewidth": 1.6, "marker": "o", "markersize": 4, "zorder": 2}
    return styles


def _per_layer(doc: dict, key: str) -> dict[str, tuple[list[int], list[float]]]:
    """Per selector: layers and the mean over files of ``row[key]`` (rows where it is None are skipped)."""
    values: dict[str, dict[int, list[float]]] = {}
    for entry in doc["files"]:
        for row in entry["layers"]:
            if row[key] is not None:
                values.setdefault(row["selector"], {}).setdefault(row["layer"], []).append(row[key])
    out = {}
    for label, by_layer in values.items():
        layers = sorted(by_layer)
        out[label] = (layers, [sum(by_layer[x]) / len(by_layer[x]) for x in layers])
    return out


def _layer_plot(plt, doc, key, title, ylabel, styles, *, top=None):
    """One line per selector of ``row[key]`` across layers; the y axis from just below the lowest value."""
    fig, ax = plt.subplots(figsize=SIZE)
    n = len(doc["files"])
    ax.set_title(title + (f" (mean of {n} files)" if n > 1 else ""))
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    series = _per_layer(doc, key)
    for label, (layers, values) in series.items():
        ax.plot(layers, values, label=label, **styles[label])
    lowest = min((min(values) for _, values in series.values()), default=0.0)
    ax.set_ylim(max(0.0, lowest - 0.05), top)
    ax.legend(fontsize=8, ncol=2, loc="best")
    return _png(fig)


def _cost_plot(plt, doc, styles):
    summary = doc["aggregate"]["summary"]
    metric = front_metric(summary)
    points = [row for row in summary if row[metric] is not None]
    front = pareto_front(points, "flops", metric)
    positive = [row["flops"] for row in points if row["flops"] > 0]
    floor = min(positive) / 10 if positive else 1.0  # a selector that costs nothing sits at the left edge
    fig, ax = plt.subplots(figsize=SIZE)
    for row in points:
        x = row["flops"] if row["flops"] > 0 else floor
        on_front = row["selector"] in front
        name = row["selector"] + (" (0 FLOPs)" if row["flops"] == 0 else "") + (" *" if on_front else "")
        ax.scatter([x], [row[metric]], s=70 if on_front else 40, color=styles[row["selector"]]["color"],
                   edgecolors="black" if on_front else "none", zorder=3, label=name)  # fmt: skip
    ordered = sorted((row for row in points if row["selector"] in front), key=lambda row: row["flops"])
    if ordered:
        xs = [row["flops"] if row["flops"] > 0 else floor for row in ordered]
        ys = [row[metric] for row in ordered]
        ax.step(xs, ys, where="post", color="black", linewidth=1, linestyle=":", label="Pareto front (*)", zorder=1)
    ax.legend(fontsize=8, ncol=2, loc="best")
    ax.set_xscale("log")
    ax.set_xlabel("selection cost (FLOPs, log scale, summed over layers and slices)")
    if metric == "rr_error":
        ax.set_ylabel("rr attention error (relative Frobenius)")
        what = "compressed-attention error"
    else:
        ax.set_ylabel("residual ‖X̂ − X̂P_S‖ / ‖X̂‖")
        what = "residual (no q, k, v to score attention)"
    ax.set_title(f"Selection cost against {what}, tau = {doc['params']['tau']:g}")
    ax.grid(True, which="both", alpha=0.3)
    return _png(fig)


def compare_plots(doc: dict) -> dict[str, bytes]:
    """``cost_vs_error.png``, ``coverage.png``, ``residual.png`` and ``jaccard.png``."""
    plt = _pyplot()
    labels = list(
        dict.fromkeys(
            [s["label"] for s in doc["params"]["selectors"]] + [row["selector"] for row in doc["aggregate"]["summary"]]
        )
    )
    styles = _styles(labels)
    tau = doc["params"]["tau"]
    residual = "Residual ‖X̂ − X̂P_S‖_F / ‖X̂‖_F per layer"
    return {
        "cost_vs_error.png": _cost_plot(plt, doc, styles),
        "coverage.png": _layer_plot(
            plt, doc, "coverage", f"Coverage at tau = {tau:g} per layer", "share", styles, top=1.02
        ),
        "residual.png": _layer_plot(plt, doc, "residual", residual, "residual", styles),
        "jaccard.png": _layer_plot(
            plt, doc, "jaccard_prev", "Consecutive-layer Jaccard J(S_l-1, S_l)", "Jaccard", styles, top=1.02
        ),
    }
