"""Layouts (SPEC §1): which axis of a tensor is what.

A layout names the axes of a stored tensor with the letters ``L`` (layer),
``B`` (batch), ``H`` (head), ``T`` (token) and ``D`` (feature), in storage
order: ``LBTD``, ``BLTD``, ``TDL`` ... The library works in the canonical
order ``LBHTD`` (the letters present). When nobody names a layout, the
number of axes decides, by the one table of SPEC §1 below.
"""

from __future__ import annotations

from ._errors import CascadeInputError

__all__ = ["CANONICAL", "STACKED", "PER_LAYER", "infer_layout", "parse_layout", "canonical_order", "layer_letters"]

CANONICAL = "LBHTD"

#: SPEC §1: the layout of a stacked tensor (layer axis first) by its number of axes.
STACKED = {2: "TD", 3: "LTD", 4: "LBTD", 5: "LBHTD"}
#: The same table for one layer (the stacked layouts without ``L``).
PER_LAYER = {ndim - 1: layout[1:] for ndim, layout in STACKED.items() if layout.startswith("L")}


def infer_layout(ndim: int, *, per_layer: bool = False) -> str:
    """The SPEC §1 layout of a tensor with `ndim` axes (stacked, or one layer)."""
    table = PER_LAYER if per_layer else STACKED
    if ndim not in table:
        allowed = ", ".join(f"{n} ({v})" for n, v in table.items())
        raise CascadeInputError(
            f"cannot infer a layout for {ndim} axes; expected {allowed}, or name one with layout=AXES", param="layout"
        )
    return table[ndim]


def layer_letters(ndim: int) -> str:
    """The canonical letters of one layer of `ndim` axes: ``TD``, ``BTD`` or ``BHTD``."""
    return infer_layout(ndim, per_layer=True)


def parse_layout(text: str, ndim: int, *, per_layer: bool = False) -> str:
    """Check a layout string against a tensor of `ndim` axes; return it upper-cased."""
    layout = text.strip().upper()
    letters = set(layout)
    problems = []
    if len(layout) != ndim:
        problems.append(f"it has {len(layout)} letters for a tensor of {ndim} axes")
    if not letters <= set(CANONICAL):
        problems.append(f"unknown letters {''.join(sorted(letters - set(CANONICAL)))} (use L, B, H, T, D)")
    if len(letters) != len(layout):
        problems.append("a letter repeats")
    if not {"T", "D"} <= letters:
        problems.append("it needs T and D")
    if per_layer and "L" in letters:
        problems.append("per-layer tensors have no L axis")
    if "H" in letters and "B" not in letters:
        problems.append("an H axis needs a B axis")
    if problems:
        raise CascadeInputError(f"impossible layout {text!r}: " + "; ".join(problems), param="layout")
    return layout


def canonical_order(layout: str) -> tuple[str, tuple[int, ...]]:
    """Letters of `layout` in canonical order, and the transpose that puts them there."""
    order = "".join(c for c in CANONICAL if c in layout)
    return order, tuple(layout.index(c) for c in order)


def layer_indices(spec, n_layers: int | None) -> list[int] | None:
    """The layers a selection names, as increasing indices (None: every layer).

    `spec` is None, an int, a slice, a sequence of ints, or text as on the
    command line: ``"1:"``, ``":-1"``, ``"0:12:2"``, ``"3"`` or ``"0,2,5"``.
    Negative indices count from the end (so they need `n_layers`).
    """
    if spec is None:
        return None
    given = spec  # as the caller wrote it, for messages
    if isinstance(spec, str):
        spec = _parse_layer_text(spec)
    if isinstance(spec, slice):
        if n_layers is None:
            if any(v is not None and v < 0 for v in (spec.start, spec.stop)) or spec.stop is None:
                raise CascadeInputError("layers: an open or negative range needs the number of layers", param="layers")
            n_layers = spec.stop
        chosen = list(range(n_layers))[spec]
    else:
        values = [spec] if isinstance(spec, int) else list(spec)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise CascadeInputError(f"layers must be integers, a slice or text like '1:', got {spec!r}", param="layers")
        chosen = []
        for v in values:
            if n_layers is not None and not -n_layers <= v < n_layers:
                raise CascadeInputError(f"layers: layer {v} is outside 0 .. {n_layers - 1}", param="layers")
            if v < 0 and n_layers is None:
                raise CascadeInputError("layers: a negative index needs the number of layers", param="layers")
            chosen.append(v % n_layers if n_layers else v)
    if not chosen:
        raise CascadeInputError(f"layers {given!r} selects no layer of {n_layers}", param="layers")
    if len(set(chosen)) != len(chosen) or chosen != sorted(chosen):
        raise CascadeInputError(f"layers must be increasing and distinct, got {chosen}", param="layers")
    return chosen


def _parse_layer_text(text: str):
    try:
        if ":" in text:
            parts = [int(p) if p.strip() else None for p in text.split(":")]
            if len(parts) > 3 or (len(parts) == 3 and parts[2] is not None and parts[2] < 1):
                raise ValueError
            return slice(*parts)
        return [int(p) for p in text.split(",")]
    except ValueError:
        raise CascadeInputError(
            f"layers must look like '1:', ':-1', '0:12:2', '3' or '0,2,5', got {text!r}", param="layers"
        ) from None
