"""The layers of a file, read one at a time in canonical order (SPEC §1).

:func:`choose_layers` picks the activations among a file's tensors (a named
tensor, a per-layer name pattern, or the default) and checks them;
:class:`LayerStack` then reads one layer at a time, transposed to the
canonical order after it is read, so a layer-last file is never transposed
whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from ._dtypes import is_float_name
from ._errors import CascadeInputError
from ._layout import canonical_order, infer_layout, layer_indices, parse_layout
from ._readers import TensorRef

__all__ = ["LayerStack", "choose_layers", "per_layer_groups", "DEFAULT_KEYS", "AUXILIARY_KEYS"]

#: Tensor names read as the activations when nothing else is said.
DEFAULT_KEYS = ("hidden_states", "activations")
#: Tensor names that describe activations rather than hold them.
AUXILIARY_KEYS = ("lengths", "attention_mask", "mask", "input_ids", "metadata")


@dataclass
class LayerStack:
    """The layers of a file, read one at a time in canonical order.

    Iterating yields NumPy arrays ``(T, d)``, ``(B, T, d)`` or
    ``(B, H, T, d)``; nothing is read before a layer is asked for.

    Attributes
    ----------
    refs
        One stacked tensor, or one tensor per layer.
    layout
        Storage layout of those tensors (with ``L`` when stacked).
    key
        The tensor's name, or the per-layer pattern with ``{l}``.
    """

    refs: list[TensorRef]
    layout: str
    key: str
    indices: tuple[int, ...] | None = None

    @property
    def stacked(self) -> bool:
        return len(self.refs) == 1 and "L" in self.layout

    @property
    def stored_layers(self) -> int:
        """Layers in the file, selected or not."""
        if self.stacked:
            return self.refs[0].shape[self.layout.index("L")]
        return len(self.refs)

    @property
    def ids(self) -> list[int]:
        """The file's index of each layer of the stack (``0 .. L-1`` unless a selection was made)."""
        return list(self.indices) if self.indices is not None else list(range(self.stored_layers))

    def select(self, layers) -> LayerStack:
        """The stack restricted to some layers: ``"1:"``, a slice, or indices (see :func:`load`)."""
        chosen = layer_indices(layers, len(self))
        if chosen is None:
            return self
        ids = self.ids
        return replace(self, indices=tuple(ids[i] for i in chosen))

    def __len__(self) -> int:
        return len(self.indices) if self.indices is not None else self.stored_layers

    @property
    def layer_layout(self) -> str:
        return canonical_order(self.layout.replace("L", ""))[0]

    @property
    def layer_shape(self) -> tuple[int, ...]:
        ref = self.refs[0]
        dims = dict(zip(self.layout, ref.shape, strict=True))
        return tuple(dims[c] for c in self.layer_layout)

    @property
    def shape(self) -> tuple[int, ...]:
        """``(L, *layer_shape)``: the shape of the stack in canonical order."""
        return (len(self), *self.layer_shape)

    @property
    def dtype(self) -> str:
        return self.refs[0].dtype

    def __getitem__(self, position: int) -> np.ndarray:
        if not 0 <= position < len(self):
            raise IndexError(position)
        layer = self.ids[position]
        if self.stacked:
            axis = self.layout.index("L")
            data = self.refs[0].read(axis, layer)
            rest = self.layout.replace("L", "")
        else:
            data, rest = self.refs[layer].read(), self.layout
        _, perm = canonical_order(rest)
        return np.ascontiguousarray(np.transpose(data, perm)) if perm != tuple(range(len(perm))) else data

    def __iter__(self) -> Iterator[np.ndarray]:
        for layer in range(len(self)):
            yield self[layer]


def _is_float(ref: TensorRef) -> bool:
    return is_float_name(ref.dtype)


def per_layer_groups(refs: list[TensorRef]) -> dict[str, list[tuple[int, TensorRef]]]:
    """Tensors grouped by name template: ``blocks.3.x`` -> ``blocks.{l}.x`` (one digit run at a time)."""
    groups: dict[str, list[tuple[int, TensorRef]]] = {}
    for ref in refs:
        for match in re.finditer(r"\d+", ref.name):
            template = ref.name[: match.start()] + "{l}" + ref.name[match.end() :]
            groups.setdefault(template, []).append((int(match.group()), ref))
    return {t: sorted(g, key=lambda item: item[0]) for t, g in groups.items() if len(g) >= 2}


def _pattern_refs(pattern: str, refs: list[TensorRef], path: str) -> list[TensorRef]:
    regex = re.compile("^" + re.escape(pattern).replace(re.escape("{l}"), r"(\d+)") + "$")
    found = sorted(((int(m.group(1)), ref) for ref in refs if (m := regex.match(ref.name))), key=lambda x: x[0])
    if not found:
        names = ", ".join(ref.name for ref in refs[:12]) + (" ..." if len(refs) > 12 else "")
        raise CascadeInputError(f"no tensor matches the pattern {pattern!r}; the file holds: {names}", path=path)
    numbers = [n for n, _ in found]
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        raise CascadeInputError(f"layers of pattern {pattern!r} are not consecutive: {numbers}", path=path)
    return [ref for _, ref in found]


def choose_layers(
    refs: list[TensorRef], *, path: str, key: str | None = None, layout: str | None = None, layouts: dict | None = None
) -> LayerStack:
    """Pick the activations among a file's tensors and describe their layers.

    Parameters
    ----------
    refs
        The file's tensors.
    path
        For messages.
    key
        A tensor name, or a per-layer pattern with ``{l}`` (``blocks.{l}.hook_resid_pre``).
    layout
        The storage layout; default: the file's metadata, else SPEC §1 by ndim.
    layouts
        Layouts named in the file's metadata, by tensor name or pattern.
    """
    layouts = layouts or {}
    if key is not None and "{l}" in key:
        chosen, name = _pattern_refs(key, refs, path), key
    elif key is not None:
        matches = [ref for ref in refs if ref.name == key]
        if not matches:
            names = ", ".join(ref.name for ref in refs[:12]) + (" ..." if len(refs) > 12 else "")
            raise CascadeInputError(f"no tensor {key!r}; the file holds: {names}", path=path)
        chosen, name = matches[:1], key
    else:
        chosen, name = _default_choice(refs, path)

    per_layer = len(chosen) > 1 or (name and "{l}" in name)
    first = chosen[0]
    for index, ref in enumerate(chosen):
        if not _is_float(ref):
            raise CascadeInputError(
                f"tensor {ref.name!r} is {ref.dtype}; activations must be floating point "
                "(float16, bfloat16, float32 or float64)",
                path=path,
                layer=index if per_layer else None,
            )
        if ref.shape != first.shape:
            raise CascadeInputError(
                f"tensor {ref.name!r} has shape {ref.shape}, layer 0 ({first.name!r}) has {first.shape}: "
                "every layer needs the same shape",
                path=path,
                layer=index,
            )
    given = layout or layouts.get(name)
    ndim = len(first.shape)
    try:
        if given is None:
            resolved = infer_layout(ndim, per_layer=per_layer)
        else:
            resolved = parse_layout(given, ndim, per_layer=per_layer)
    except CascadeInputError as err:
        raise err.located(path=path) from None
    if not per_layer and "L" not in resolved and ndim != 2:
        raise CascadeInputError(f"layout {resolved!r} has no L axis for a stacked tensor", path=path)
    stack = LayerStack(chosen, resolved, name)
    dims = dict(zip(resolved, first.shape, strict=True))
    for letter, what in (("L", "layers"), ("B", "sequences"), ("H", "heads"), ("T", "tokens"), ("D", "features")):
        if dims.get(letter) == 0:
            symbol = "d" if letter == "D" else letter
            raise CascadeInputError(f"tensor {name!r} of shape {first.shape} has no {what} ({symbol} = 0)", path=path)
    return stack


def _default_choice(refs: list[TensorRef], path: str) -> tuple[list[TensorRef], str]:
    by_name = {ref.name: ref for ref in refs}
    for key in DEFAULT_KEYS:
        if key in by_name:
            return [by_name[key]], key
    data = [ref for ref in refs if ref.name not in AUXILIARY_KEYS]
    if len(data) == 1:
        return data, data[0].name
    groups = {t: g for t, g in per_layer_groups([r for r in data if _is_float(r)]).items()}
    if groups:
        biggest = max(len(g) for g in groups.values())
        best = [t for t, g in groups.items() if len(g) == biggest]
        if len(best) == 1:
            return _pattern_refs(best[0], data, path), best[0]
        hint = " or ".join(repr(t) for t in best[:3])
        raise CascadeInputError(f"several per-layer patterns fit ({hint}); pick one with key=PATTERN", path=path)
    names = ", ".join(ref.name for ref in refs[:12]) + (" ..." if len(refs) > 12 else "")
    if not data:
        raise CascadeInputError(f"no activations in the file (it holds: {names or 'nothing'})", path=path)
    raise CascadeInputError(
        f"holds {len(data)} tensors ({names}); pick one with key=NAME, or a per-layer pattern "
        "such as key='blocks.{l}.hook_resid_pre'",
        path=path,
    )
