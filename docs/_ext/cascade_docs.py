"""Sphinx helpers of the cascade-core docs.

* ``.. cascade-cli:: analyze`` renders ``cascade-core analyze --help`` from the
  parser itself, so the command-line reference cannot drift from the code.
* Every "SPEC §n" (or "SPEC §n.m") in running text, docstrings included,
  becomes a link to that section of :doc:`spec` (anchors ``spec-n``,
  ``spec-n-m``); a citation of a section the page lacks fails the build.
* At build start, the Overview's figure is drawn from the bundled sample
  (``_generated/sets_across_layers.png``).
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
    return {"parallel_read_safe": True, "version": "1"}
