"""Activations from disk, and reports written safely.

:func:`load` finds the activations in a file or directory (any format of
:mod:`cascade_core.readers`), their layout (:mod:`cascade_core.layout`) and
any lengths or mask of padded batches, and hands back a :class:`LayerStack`
that reads one layer at a time. :func:`describe` lists a file without
reading its data. :func:`write_atomic` is the only way reports reach disk.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import CascadeInputError
from .layout import LayerStack, choose_layers
from .readers import TensorRef, list_tensors

__all__ = ["Activations", "load", "describe", "sample_path", "write_atomic"]


@dataclass
class Activations:
    """Activations found in a file.

    Attributes
    ----------
    layers
        The layers, read one at a time (iterate, or index by layer).
    path
        The file or directory.
    format
        ``npy``, ``npz``, ``safetensors``, ``hdf5``, ``torch`` or ``directory``.
    lengths
        Valid lengths of padded sequences (a ``lengths`` tensor), if any.
    mask
        Boolean mask of valid tokens (an ``attention_mask`` tensor), if any.
    metadata
        The file's metadata (a dict; empty when it has none).
    tensors
        Every tensor of the file (names, shapes, dtypes).
    """

    layers: LayerStack
    path: str
    format: str
    lengths: np.ndarray | None = None
    mask: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    tensors: list[TensorRef] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.layers.key


def sample_path() -> Path:
    """The bundled sample: all-MiniLM-L6-v2 hidden states on three short texts."""
    return Path(str(resources.files("cascade_core.data").joinpath("minilm_sample.npz")))


def load(
    path: str | os.PathLike,
    *,
    key: str | None = None,
    layout: str | None = None,
    lengths: str | None = None,
    mask: str | None = None,
) -> Activations:
    """Find the activations in a file or directory; read nothing but their description.

    Parameters
    ----------
    path
        A ``.npy``, ``.npz``, ``.safetensors``, ``.h5``/``.hdf5``,
        ``.pt``/``.pth`` file, or a directory of per-layer files or shards.
    key
        The tensor to read (default: ``hidden_states``, ``activations``, the
        only tensor there is, or the one per-layer pattern that fits), or a
        per-layer pattern with ``{l}`` such as ``blocks.{l}.hook_resid_pre``.
    layout
        Storage layout such as ``LBTD`` or ``TDL`` (default: the file's
        metadata, else inferred from the number of axes, SPEC §1).
    lengths, mask
        Names of a ``(B,)`` lengths tensor or a ``(B, T)`` mask tensor
        (default: ``lengths`` or ``attention_mask`` when present).

    Raises
    ------
    CascadeInputError
        Missing, unreadable, corrupt or truncated file; unknown key; layers
        of different shapes; non-floating activations; impossible layout.
    """
    name = str(path)
    fmt, refs, metadata = list_tensors(path)
    layouts = metadata.get("layouts") if isinstance(metadata.get("layouts"), dict) else {}
    if not layouts and isinstance(metadata.get("layout"), str):
        layouts = {"hidden_states": metadata["layout"]}
    stack = choose_layers(refs, path=name, key=key, layout=layout, layouts=layouts)
    by_name = {ref.name: ref for ref in refs}
    lengths_ref = _auxiliary(by_name, lengths, "lengths", name)
    mask_ref = None if lengths_ref is not None else _auxiliary(by_name, mask, "attention_mask", name)
    return Activations(
        layers=stack,
        path=name,
        format=fmt,
        lengths=_read_lengths(lengths_ref, name) if lengths_ref is not None else None,
        mask=mask_ref.read().astype(bool) if mask_ref is not None else None,
        metadata=metadata,
        tensors=refs,
    )


def _auxiliary(by_name: dict, requested: str | None, default: str, path: str) -> TensorRef | None:
    if requested is None:
        return by_name.get(default)
    if requested not in by_name:
        raise CascadeInputError(f"no tensor {requested!r} for the lengths or mask", path=path)
    return by_name[requested]


def _read_lengths(ref: TensorRef, path: str) -> np.ndarray:
    values = ref.read()
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise CascadeInputError(
            f"lengths {ref.name!r} must be a 1-d integer tensor, got {values.dtype} {values.shape}", path=path
        )
    return values


def describe(path: str | os.PathLike, *, key: str | None = None, layout: str | None = None) -> str:
    """What :func:`load` would find, as text: tensors, shapes, dtypes, layout, metadata."""
    fmt, refs, metadata = list_tensors(path)
    lines = [f"{path}: {fmt}, {len(refs)} tensor{'s' if len(refs) != 1 else ''}"]
    width = max(len(ref.name) for ref in refs)
    for ref in refs:
        where = f"  ({Path(ref.path).name})" if fmt == "directory" else ""
        lines.append(f"  {ref.name:<{width}}  {ref.dtype:<9} {tuple(ref.shape)}{where}")
    try:
        data = load(path, key=key, layout=layout)
    except CascadeInputError as err:
        lines.append(f"activations: none found ({err.reason})")
    else:
        stack = data.layers
        padded = (
            f", lengths {data.lengths.tolist()}"
            if data.lengths is not None
            else (", attention_mask" if data.mask is not None else "")
        )
        lines.append(
            f"activations: {stack.key!r}, layout {stack.layout} -> {len(stack)} layers of "
            f"{stack.layer_layout} {stack.layer_shape}, {stack.dtype}{padded}"
        )
    if metadata:
        lines.append("metadata:")
        lines.extend(f"  {k}: {v}" for k, v in metadata.items())
    return "\n".join(lines)


def write_atomic(path: str | os.PathLike, data: str | bytes, *, force: bool = False) -> None:
    """Write `data` to `path` through a temporary file renamed into place.

    An existing file is never overwritten unless `force` is set, and an
    interrupted write leaves no partial file behind.
    """
    path = Path(path)
    if path.exists() and not force:
        raise CascadeInputError("exists; not overwritten (use --force)", path=str(path))
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
