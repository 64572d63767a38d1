"""Sphinx helpers of the cascade-core docs.

* ``.. cascade-cli:: analyze`` renders ``cascade-core analyze --help`` from the
  parser itself, so the command-line reference cannot drift from the code.
* Every "SPEC §n" (or "SPEC §n.m") in running text, docstrings included,
  becomes a link to that section of :doc:`spec` (anchors ``spec-n``,
  ``spec-n-m``); a citation of a section the page lacks fails the build.
* At build start, the Overview's figure is drawn from the bundled sample
  (``_generated/sets_across_layers.png``), and so is the token view's heatmap
  (``_generated/tokens_sample.png``).
"""

from __future__ import annotations

import os
import re
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


def setup(app):
    app.add_directive("cascade-cli", CascadeCli)
    app.add_transform(LinkSpecCitations)
    app.connect("builder-inited", draw_sets)
    app.connect("builder-inited", draw_token_heatmap)
    return {"parallel_read_safe": True, "version": "1"}
