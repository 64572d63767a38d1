"""The token view: a self-contained HTML page and a PNG heatmap per sequence (``analyze --out DIR``).

The page (:func:`view_page`) shows a sequence's text with every token shaded
by the number of layers in which the cascade chose it, a layer selector that
marks that layer's set, each token's group on hover (its representative),
and where the per-layer ADA set differs. It is one file: inline CSS and
vanilla JavaScript, no network, no external asset (a Content-Security-Policy
forbids any). Its data is embedded compactly: JSON for the text and layer
names, and one base64 string of zlib-compressed little-endian arrays (every
token's group at every layer, then per-layer membership bitsets), inflated
by the browser's ``DecompressionStream``.

The heatmap (:func:`heatmap_png`) draws the same sets as a layers × tokens
grid for ``report.md``, with the token text on the axis up to
:data:`LABEL_LIMIT` tokens.
"""

from __future__ import annotations

import base64
import html
import json
import re
import sys
import zlib
from array import array
from pathlib import Path

from .._tokens import TokenView
from .plots import DPI, _png, _pyplot

__all__ = ["view_page", "heatmap_png", "view_files", "view_name", "LABEL_LIMIT", "PAGE_FORMAT"]

#: Version of the data embedded in a page (``view-data``), read by its script.
PAGE_FORMAT = 1
#: Up to this many tokens the heatmap writes each token's text on its axis.
LABEL_LIMIT = 300
#: Tokens per row of a labelled heatmap (longer texts wrap onto more rows).
ROW_TOKENS = 100

#: Colours shared by the page and the heatmap: in both sets, the cascade's only, ADA's only, neither.
BOTH, CASCADE_ONLY, ADA_ONLY, NEITHER = "#1f4e79", "#ff7f0e", "#d62728", "#ffffff"


def _packed(view: TokenView) -> tuple[str, int]:
    """The page's binary data as base64 of zlib, and the bytes per index (2 or 4).

    Layout: for every layer, the group of each token as an index into the
    valid tokens (cascade, then ADA); then for every layer a bitset of the
    cascade's set, then ADA's (bit ``i % 8`` of byte ``i // 8`` is token ``i``).
    """
    n = len(view.positions)
    index = {p: i for i, p in enumerate(view.positions)}
    code = "H" if n <= 0xFFFF else "I"
    groups = array(code)
    for per_layer in [view.groups, *([view.ada_groups] if view.ada_groups is not None else [])]:
        for group in per_layer:
            groups.extend(index[p] for p in group)
    if sys.byteorder == "big":
        groups.byteswap()
    bits = bytearray()
    for sets in [view.cascade, *([view.ada] if view.ada is not None else [])]:
        for chosen in sets:
            layer_bits = bytearray((n + 7) // 8)
            for p in chosen:
                i = index[p]
                layer_bits[i >> 3] |= 1 << (i & 7)
            bits += layer_bits
    blob = zlib.compress(groups.tobytes() + bytes(bits), 9)
    return base64.b64encode(blob).decode("ascii"), groups.itemsize


def _page_data(view: TokenView, *, title: str, tau: float | None, details: dict[str, str]) -> dict:
    blob, width = _packed(view)
    n = len(view.positions)
    contiguous = view.positions == list(range(view.positions[0], view.positions[0] + n)) if n else True
    return {
        "format": PAGE_FORMAT,
        "title": title,
        "tau": tau,
        "details": details,
        "slice": list(view.slice),
        "layers": view.layers,
        "positions": {"start": view.positions[0] if n else 0, "count": n} if contiguous else view.positions,
        "tokens": view.tokens,
        "has_ada": view.ada is not None,
        "width": width,
        "blob": blob,
    }


def _script_json(data: dict) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>``, no ``<!--``)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def view_page(view: TokenView, *, title: str, tau: float | None = None, details: dict[str, str] | None = None) -> str:
    """The HTML page of one sequence's view.

    Parameters
    ----------
    view : TokenView
        The sequence (:func:`cascade_core.token_views`).
    title : str
        The page's heading.
    tau : float, optional
        The threshold of the run, shown in the heading.
    details : dict of str to str, optional
        More facts shown under the heading (model, tokenizer ...).

    Returns
    -------
    str
        A complete HTML document that loads nothing else.
    """
    data = _page_data(view, title=title, tau=tau, details=details or {})
    page = _TEMPLATE.replace("@TITLE@", html.escape(title)).replace("@DATA@", _script_json(data))
    return page.replace("@STYLE@", _STYLE).replace("@SCRIPT@", _SCRIPT)


def _categories(view: TokenView) -> list[list[str]]:
    """Per layer and token: the colour of its heatmap cell."""
    index = {p: i for i, p in enumerate(view.positions)}
    rows = []
    for k in range(len(view.layers)):
        cascade = [False] * len(index)
        ada = [False] * len(index)
        for p in view.cascade[k]:
            cascade[index[p]] = True
        for p in view.ada[k] if view.ada is not None else view.cascade[k]:
            ada[index[p]] = True
        rows.append(
            [
                BOTH if c and a else CASCADE_ONLY if c else ADA_ONLY if a else NEITHER
                for c, a in zip(cascade, ada, strict=True)
            ]
        )
    return rows


def _rgb(colour: str) -> tuple[float, float, float]:
    return tuple(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))


def _axis_text(label: str) -> str:
    """A token's text as a tick label: whitespace made visible, mathtext off."""
    shown = label.replace("\n", "↵").replace("\t", "→")
    shown = shown if shown.strip() else "␣" * max(1, len(shown))
    return shown.replace("$", r"\$")


def _binned(rows: list[list[str]], pixels: int) -> list[list[tuple[float, float, float]]]:
    """Colours as RGB, neighbouring tokens averaged so that no more columns than `pixels` remain."""
    n = len(rows[0]) if rows else 0
    size = max(1, -(-n // max(1, pixels)))
    out = []
    for row in rows:
        rgb = [_rgb(c) for c in row]
        bins = [rgb[s : s + size] for s in range(0, n, size)]
        out.append([tuple(sum(channel) / len(b) for channel in zip(*b, strict=True)) for b in bins])
    return out


def heatmap_png(view: TokenView, *, title: str) -> bytes:
    """Layers × tokens: which tokens each layer chose, the cascade against per-layer ADA.

    Up to :data:`LABEL_LIMIT` tokens, each column is labelled with its
    token's text and the grid wraps every :data:`ROW_TOKENS` tokens; longer
    sequences get one 800 × 450 panel with positions on the axis, where each
    column of pixels averages the colours of its neighbouring tokens.

    Parameters
    ----------
    view : TokenView
        The sequence.
    title : str
        The figure's title.

    Returns
    -------
    bytes
        A PNG image.
    """
    plt = _pyplot()
    from matplotlib.patches import Patch

    colours = _categories(view)
    n, n_layers = len(view.positions), len(view.layers)
    labelled = n <= LABEL_LIMIT
    chunks = [(s, min(n, s + ROW_TOKENS)) for s in range(0, n, ROW_TOKENS)] if labelled else [(0, n)]
    top_px, left_px, right_px = 62, 60, 20
    if labelled:
        longest = max((len(_axis_text(view.label(i))) for i in range(n)), default=1)
        cells_px = 12 * n_layers
        below_px = 16 + 6 * min(longest, 14)  # rotated labels, up to 14 characters shown in full
        width = max(800, left_px + right_px + 11 * min(n, ROW_TOKENS))
        height = top_px + len(chunks) * (cells_px + below_px) + 10
    else:
        cells_px, below_px = 450 - top_px - 60, 60
        width, height = 800, 450
    fig = plt.figure(figsize=(width / DPI, height / DPI))
    y = height - top_px
    for start, stop in chunks:
        span = ROW_TOKENS if labelled and len(chunks) > 1 else stop - start
        ax = fig.add_axes(
            (left_px / width, (y - cells_px) / height, (width - left_px - right_px) / width, cells_px / height)
        )
        y -= cells_px + below_px
        ax.imshow(
            _binned([row[start:stop] for row in colours], width - left_px - right_px),
            aspect="auto",
            interpolation="nearest",
            extent=(start - 0.5, stop - 0.5, n_layers - 0.5, -0.5),
        )
        ax.set_xlim(start - 0.5, start + span - 0.5)
        step = max(1, n_layers // 12)
        ax.set_yticks(range(0, n_layers, step))
        ax.set_yticklabels([str(view.layers[k]) for k in range(0, n_layers, step)], fontsize=7)
        ax.set_ylabel("layer", fontsize=8)
        if labelled:
            ax.set_xticks(range(start, stop))
            ax.set_xticklabels([_axis_text(view.label(i)) for i in range(start, stop)], rotation=90, fontsize=7)
        else:
            ax.set_xlabel(f"token (the {n} valid tokens in order)", fontsize=8)
        ax.tick_params(length=0)
    handles = [Patch(color=BOTH, label="cascade and ADA" if view.ada is not None else "cascade")]
    if view.ada is not None:
        handles += [Patch(color=CASCADE_ONLY, label="cascade only"), Patch(color=ADA_ONLY, label="per-layer ADA only")]
    handles.append(Patch(facecolor=NEITHER, edgecolor="#999999", label="not a representative"))
    fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(left_px / width, 1 - 26 / height),
        ncol=len(handles),
        fontsize=8,
        frameon=False,
        borderaxespad=0,
    )
    fig.suptitle(title, x=left_px / width, y=1 - 6 / height, ha="left", va="top", fontsize=10)
    return _png(fig)


def view_name(kind: str, where: tuple[int, ...], stem: str | None = None) -> str:
    """The file name of one sequence's page (``kind="view"``, ``.html``) or heatmap (``"tokens"``, ``.png``).

    ``view_s0.html`` for sequence 0 of a single input (``view_s0_h3.html``
    for head 3, ``view.html`` for an input of one sequence); with several
    inputs the file's `stem` comes first: ``view_prompt1_s0.html``.

    Examples
    --------
    >>> from cascade_core.report.view import view_name
    >>> view_name("view", (0, 3)), view_name("tokens", (), "prompt1")
    ('view_s0_h3.html', 'tokens_prompt1.png')
    """
    suffix = ".html" if kind == "view" else ".png"
    parts = [kind] + ([stem] if stem else []) + [f"{axis}{i}" for axis, i in zip("sh", where, strict=False)]
    return "_".join(parts) + suffix


def _stems(paths: list[str]) -> list[str | None]:
    """A short, unique, file-name-safe name for each input (None for a single input)."""
    if len(paths) == 1:
        return [None]
    stems = [re.sub(r"[^A-Za-z0-9._-]+", "-", Path(p).stem) or "input" for p in paths]
    return [stem if stems.count(stem) == 1 else f"{stem}-{i}" for i, stem in enumerate(stems)]


def _details(entry: dict) -> dict[str, str]:
    meta = entry["input"].get("metadata") or {}
    details = {"file": Path(entry["input"]["path"]).name}
    if isinstance(meta.get("model"), str):
        details["model"] = meta["model"]
    tokenizer = meta.get("tokenizer")
    if isinstance(tokenizer, dict) and tokenizer.get("name"):
        details["tokenizer"] = str(tokenizer["name"])
    return details


def _heading(entry: dict, view: TokenView) -> str:
    name = Path(entry["input"]["path"]).name
    where = ""
    if view.slice:
        where = f", sequence {view.slice[0]}" + (f", head {view.slice[1]}" if len(view.slice) > 1 else "")
    return f"{name}{where}"


def view_files(doc: dict, views: list[list[TokenView]]) -> tuple[dict[str, str | bytes], list[dict]]:
    """The pages and heatmaps of a report's sequences, and what ``report.md`` lists of them.

    Parameters
    ----------
    doc : dict
        The report (:func:`cascade_core.report.document`).
    views : list of list of TokenView
        For each file of the report, in order, its views.

    Returns
    -------
    files : dict
        ``{file name: HTML text or PNG bytes}``.
    entries : list of dict
        One per sequence: ``title``, ``page`` and ``heatmap`` (file names).
    """
    if len(views) != len(doc["files"]):
        raise ValueError(f"views of {len(views)} files for a report of {len(doc['files'])}")
    tau = doc["params"]["tau"]
    files: dict[str, str | bytes] = {}
    entries = []
    stems = _stems([entry["input"]["path"] for entry in doc["files"]])
    for entry, stem, file_views in zip(doc["files"], stems, views, strict=True):
        for view in file_views:
            heading = _heading(entry, view)
            page = view_name("view", view.slice, stem)
            image = view_name("tokens", view.slice, stem)
            files[page] = view_page(view, title=heading, tau=tau, details=_details(entry))
            files[image] = heatmap_png(view, title=f"Representatives of {heading} at every layer, tau = {tau:g}")
            entries.append({"title": heading, "page": page, "heatmap": image})
    return files, entries


_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'">
<meta name="generator" content="cascade-core">
<title>@TITLE@ · cascade-core token view</title>
<style>@STYLE@</style>
</head>
<body>
<header>
<h1 id="title">@TITLE@</h1>
<p id="about"></p>
</header>
<div id="controls">
<button id="prev" type="button" title="previous layer (left arrow)">&#9664;</button>
<input id="layer" type="range" min="0" max="0" value="0" step="1" aria-label="layer">
<button id="next" type="button" title="next layer (right arrow)">&#9654;</button>
<span id="layer-name"></span>
<label id="diff-label"><input id="diff" type="checkbox" checked> mark where per-layer ADA differs</label>
</div>
<p id="stats"></p>
<div id="legend"></div>
<div id="text"><noscript>This page draws the tokens with JavaScript.</noscript></div>
<div id="tip" hidden></div>
<script type="application/json" id="view-data">@DATA@</script>
<script>@SCRIPT@</script>
</body>
</html>
"""

_STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.2em 2em; color: #1b1b1b; }
h1 { font-size: 1.3em; margin: 0 0 .2em; }
#about { color: #555; margin: 0 0 .8em; font-size: .9em; }
#controls { display: flex; align-items: center; gap: .5em; flex-wrap: wrap; position: sticky; top: 0;
  background: #fff; padding: .4em 0; border-bottom: 1px solid #ddd; z-index: 2; }
#controls button { font-size: 1em; padding: .1em .6em; cursor: pointer; }
#layer { width: 16em; }
#layer-name { font-weight: 600; min-width: 6em; }
#diff-label { color: #444; font-size: .9em; margin-left: 1em; }
#stats { margin: .5em 0; font-size: .92em; }
#legend { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: center; font-size: .85em; color: #333;
  margin-bottom: .8em; }
#legend .key { display: inline-block; padding: 0 .35em; margin-right: .3em; }
#legend .ramp { display: inline-flex; vertical-align: middle; margin: 0 .3em; }
#legend .ramp span { width: 1.1em; height: 1em; display: inline-block; }
#text { line-height: 2.1; max-width: 70em; }
#text .blk { content-visibility: auto; contain-intrinsic-size: auto 40em; }
.t { white-space: pre; padding: .1em .12em; margin: 0 1px; border-radius: 3px; border-bottom: 3px solid transparent;
  cursor: default; }
.t.rep { border-bottom-color: #08306b; color: #000; }
.t.conly { outline: 2px solid #ff7f0e; }
.t.aonly { outline: 2px dashed #d62728; }
.t.grp { box-shadow: 0 0 0 2px #2ca02c; }
.t.head { box-shadow: 0 0 0 3px #2ca02c; }
.t.special { color: #666; font-size: .85em; }
#tip { position: fixed; z-index: 3; max-width: 30em; background: #fffff0; border: 1px solid #999;
  border-radius: 4px; padding: .4em .6em; font-size: .85em; box-shadow: 0 2px 6px rgba(0,0,0,.2);
  pointer-events: none; white-space: pre-line; }
"""

_SCRIPT = r"""
"use strict";
(async function () {
  const D = JSON.parse(document.getElementById("view-data").textContent);
  const textBox = document.getElementById("text");
  if (typeof DecompressionStream === "undefined") {
    textBox.textContent = "This page needs a browser with DecompressionStream " +
      "(Chrome 80, Firefox 113, Safari 16.4 or later).";
    return;
  }
  const L = D.layers.length;
  const n = Array.isArray(D.positions) ? D.positions.length : D.positions.count;
  const pos = Array.isArray(D.positions) ? (i) => D.positions[i] : (i) => D.positions.start + i;

  const raw = atob(D.blob);
  const packed = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) packed[i] = raw.charCodeAt(i);
  const inflated = new Response(new Blob([packed]).stream().pipeThrough(new DecompressionStream("deflate")));
  const buffer = await inflated.arrayBuffer();
  const Index = D.width === 2 ? Uint16Array : Uint32Array;
  const kinds = D.has_ada ? 2 : 1;
  const groups = [];  // groups[kind][layer]: index of each token's representative
  const bits = [];    // bits[kind][layer]: membership bitset
  let offset = 0;
  for (let k = 0; k < kinds; k++) {
    groups.push([]);
    for (let l = 0; l < L; l++) { groups[k].push(new Index(buffer, offset, n)); offset += n * D.width; }
  }
  const stride = (n + 7) >> 3;
  for (let k = 0; k < kinds; k++) {
    bits.push([]);
    for (let l = 0; l < L; l++) { bits[k].push(new Uint8Array(buffer, offset, stride)); offset += stride; }
  }
  const member = (k, l, i) => (bits[k][l][i >> 3] >> (i & 7)) & 1;
  const count = new Uint16Array(n);
  for (let l = 0; l < L; l++) for (let i = 0; i < n; i++) count[i] += member(0, l, i);

  const label = (i) => {
    const t = D.tokens ? D.tokens[i] : String(pos(i));
    if (!t.trim().length) return "\u2423".repeat(Math.max(1, t.length));  // whitespace made visible
    return t.replace(/\n/g, "\u21b5").replace(/\t/g, "\u2192");
  };
  const quoted = (i) => (D.tokens ? "#" + pos(i) + " \u201c" + label(i) + "\u201d" : "#" + pos(i));
  const shade = (c) => "hsl(210, 70%, " + (100 - (45 * c) / Math.max(1, L)).toFixed(1) + "%)";

  const details = Object.entries(D.details).map(([k, v]) => k + ": " + v);
  details.push(n + " tokens", L + " layers" + (D.tau !== null ? ", \u03c4 = " + D.tau : ""));
  if (!D.tokens) details.push("no token text in the input: tokens are shown by position");
  document.getElementById("about").textContent = details.join(" \u00b7 ");

  const legend = document.getElementById("legend");
  const ramp = document.createElement("span");
  ramp.innerHTML = "shading: chosen by the cascade in 0 <span class=ramp></span> " + L + " layers";
  for (let c = 0; c <= L; c++) {
    const sw = document.createElement("span");
    sw.style.background = shade(c);
    ramp.querySelector(".ramp").appendChild(sw);
  }
  legend.appendChild(ramp);
  const keys = [["rep", "representative at this layer (cascade)"]];
  if (D.has_ada) {
    keys.push(["rep conly", "cascade only (per-layer ADA did not choose it)"], ["aonly", "per-layer ADA only"]);
  }
  keys.push(["grp", "hover: the token's group"]);
  for (const [cls, text] of keys) {
    const item = document.createElement("span");
    const key = document.createElement("span");
    key.className = "t key " + cls;
    key.textContent = "tok";
    item.append(key, text);
    legend.appendChild(item);
  }

  // One rule per shade, one string of spans: far faster than a styled element at a time for long texts.
  const shades = document.createElement("style");
  const rule = (c) => ".s" + c + " { background: " + shade(c) + "; }";
  shades.textContent = Array.from({ length: L + 1 }, (_, c) => rule(c)).join("\n");
  document.head.appendChild(shades);
  const escape = (t) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const parts = new Array(n);
  for (let i = 0; i < n; i++) {
    parts[i] = '<span class="t" data-i="' + i + '" data-p="' + pos(i) + '" data-n="' + count[i] + '">' +
      escape(label(i)) + "</span>";
  }
  // Blocks of 512 tokens that the browser lays out only when they come into view.
  const blocks = [];
  for (let i = 0; i < n; i += 512) blocks.push('<div class="blk">' + parts.slice(i, i + 512).join(" ") + "</div>");
  textBox.innerHTML = blocks.join("");
  const spans = Array.from(textBox.querySelectorAll(".t"));

  const slider = document.getElementById("layer");
  const diff = document.getElementById("diff");
  slider.max = String(L - 1);
  if (!D.has_ada) document.getElementById("diff-label").hidden = true;
  let current = 0;
  let hovered = -1;

  function show(l) {
    current = Math.max(0, Math.min(L - 1, l));
    slider.value = String(current);
    let r = 0, rAda = 0, onlyC = 0, onlyA = 0;
    const mark = diff.checked && D.has_ada;
    for (let i = 0; i < n; i++) {
      const c = member(0, current, i), a = D.has_ada ? member(1, current, i) : c;
      r += c; rAda += a;
      if (c && !a) onlyC++;
      if (a && !c) onlyA++;
      let cls = (c ? "t rep s" : "t s") + count[i];
      if (mark && c && !a) cls += " conly";
      if (mark && a && !c) cls += " aonly";
      spans[i].className = cls;
    }
    document.getElementById("layer-name").textContent = "layer " + D.layers[current];
    let stats = "layer " + D.layers[current] + ": the cascade keeps r = " + r + " of " + n + " tokens";
    if (D.has_ada) {
      const union = r + rAda - (r - onlyC);
      const jaccard = union ? (r - onlyC) / union : 1;
      stats += "; per-layer ADA r = " + rAda + "; agreement (Jaccard) " + jaccard.toFixed(3) +
        "; cascade only " + onlyC + ", ADA only " + onlyA;
    }
    const stat = document.getElementById("stats");
    stat.textContent = stats;
    stat.dataset.r = r;
    stat.dataset.rAda = rAda;
    document.body.dataset.layer = D.layers[current];
    if (hovered >= 0) highlight(hovered);
  }

  const tip = document.getElementById("tip");
  function highlight(i) {
    for (const s of textBox.querySelectorAll(".grp, .head")) s.classList.remove("grp", "head");
    hovered = i;
    if (i < 0) { tip.hidden = true; return; }
    const g = groups[0][current][i];
    let size = 0;
    for (let k = 0; k < n; k++) if (groups[0][current][k] === g) { spans[k].classList.add("grp"); size++; }
    spans[g].classList.add("head");
    const lines = [quoted(i) + ": chosen by the cascade in " + count[i] + " of " + L + " layers"];
    lines.push("layer " + D.layers[current] + (g === i ? ": a representative, group of " + size
      : ": represented by " + quoted(g) + " (group of " + size + ")"));
    if (D.has_ada) {
      const a = groups[1][current][i];
      lines.push("per-layer ADA: " + (a === i ? "a representative" : "represented by " + quoted(a)));
    }
    tip.textContent = lines.join("\n");
    tip.dataset.group = pos(g);
    tip.dataset.adaGroup = D.has_ada ? pos(groups[1][current][i]) : "";
    tip.hidden = false;
  }

  textBox.addEventListener("mouseover", (e) => {
    const t = e.target.closest(".t");
    if (!t || !textBox.contains(t)) return;
    highlight(Number(t.dataset.i));
    const box = t.getBoundingClientRect();
    tip.style.left = Math.min(box.left, window.innerWidth - 320) + "px";
    tip.style.top = box.bottom + 6 + "px";
  });
  textBox.addEventListener("mouseleave", () => highlight(-1));
  slider.addEventListener("input", () => show(Number(slider.value)));
  diff.addEventListener("change", () => show(current));
  document.getElementById("prev").addEventListener("click", () => show(current - 1));
  document.getElementById("next").addEventListener("click", () => show(current + 1));
  document.addEventListener("keydown", (e) => {
    if (e.target === slider) return;  // the slider moves itself
    if (e.key === "ArrowLeft") show(current - 1);
    if (e.key === "ArrowRight") show(current + 1);
  });

  show(0);
  requestAnimationFrame(() => setTimeout(() => {  // after the first frame with every token drawn
    document.body.dataset.ready = "1";
    performance.mark("ready");
  }, 0));
})().catch((err) => {
  document.getElementById("text").textContent = "This view could not be drawn: " + err;
  document.body.dataset.error = String(err);
});
"""
