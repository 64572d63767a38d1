"""Activations from disk, and files written safely.

:func:`load` finds the activations in a file or directory (any format of
:mod:`cascade_core._readers`), their layout (SPEC §1) and any lengths or mask
of padded batches, and hands back a :class:`LayerStack` that reads one layer
at a time. :func:`describe` lists a file without reading its data.
:func:`write_atomic` is the only way reports and exports reach disk.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ._errors import CascadeInputError
from ._readers import TensorRef, list_tensors
from ._stack import LayerStack, choose_layers
from ._tokens import describe_tokens

__all__ = ["Activations", "load", "describe", "sample_path", "write_atomic"]


@dataclass
class Activations:
    """Activations found in a file.

    Attributes
    ----------
    layers : LayerStack
        The layers, read one at a time (iterate, or index by position).
    path : str
        The file or directory.
    format : str
        ``npy``, ``npz``, ``safetensors``, ``hdf5``, ``torch`` or ``directory``.
    lengths : numpy.ndarray or None
        Valid lengths of padded sequences (a ``lengths`` tensor), if any.
    mask : numpy.ndarray or None
        Boolean mask of valid tokens (an ``attention_mask`` tensor), if any.
    metadata : dict
        The file's metadata (empty when it has none).
    tensors : list of TensorRef
        Every tensor of the file (names, shapes, dtypes).
    digest : callable or None
        ``digest()``: the SHA-256 of the data, when `path` is not a file to hash
        (a row of a ``datasets`` folder).
    """

    layers: LayerStack
    path: str
    format: str
    lengths: np.ndarray | None = None
    mask: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    tensors: list[TensorRef] = field(default_factory=list)
    digest: Callable[[], str] | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        """The name (or per-layer pattern) of the activations read."""
        return self.layers.key

    def stack(self, key: str, *, layout: str | None = None) -> LayerStack:
        """Another tensor of the same file (``q``, ``k``, ``v`` ...), as layers; the file is not listed again."""
        try:
            return choose_layers(self.tensors, path=self.path, key=key, layout=layout, layouts=_layouts(self.metadata))
        except CascadeInputError as err:
            raise err.located(path=self.path) from None


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
    layers=None,
) -> Activations:
    """Find the activations in a file or directory; read nothing but their description.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy``, ``.npz``, ``.safetensors``, ``.h5``/``.hdf5``,
        ``.pt``/``.pth`` file, or a directory of per-layer files or shards.
    key : str, optional
        The tensor to read (default: ``hidden_states``, ``activations``, the
        only tensor there is, or the one per-layer pattern that fits), or a
        per-layer pattern with ``{l}`` such as ``blocks.{l}.hook_resid_pre``.
    layout : str, optional
        Storage layout such as ``LBTD`` or ``TDL`` (default: the file's
        metadata, else inferred from the number of axes, SPEC §1).
    lengths, mask : str, optional
        Names of a ``(B,)`` lengths tensor or a ``(B, T)`` mask tensor
        (default: ``lengths`` or ``attention_mask`` when present). Name at
        most one; a named `mask` is used even when the file has a ``lengths``
        tensor.
    layers : str, slice or sequence of int, optional
        Keep only these layers, as in :func:`cascade_core.run` (``"1:"``
        drops the embedding layer of exported hidden states).

    Raises
    ------
    CascadeInputError
        Missing, unreadable, corrupt or truncated file; unknown key; layers
        of different shapes; non-floating activations; impossible layout.
    """
    name = str(path)
    fmt, refs, metadata = list_tensors(path)
    stack = choose_layers(refs, path=name, key=key, layout=layout, layouts=_layouts(metadata))
    return _activations(name, fmt, refs, metadata, stack, lengths=lengths, mask=mask, layers=layers)


def _activations(
    name: str, fmt: str, refs: list, metadata: dict, stack: LayerStack, *, lengths=None, mask=None, layers=None
) -> Activations:
    """The activations of `stack`, with the file's lengths or mask read (a corrupt one is an error here)."""
    try:
        stack = stack.select(layers)
    except CascadeInputError as err:
        raise err.located(path=name) from None
    by_name = {ref.name: ref for ref in refs}
    if lengths is not None and mask is not None:
        raise CascadeInputError("lengths and mask both named; name one of them", path=name, param="mask")
    # A mask named by the caller wins over a lengths tensor found by its default name (never silently ignored).
    lengths_ref = _auxiliary(by_name, lengths, "lengths", name) if mask is None else None
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


def _layouts(metadata: dict) -> dict:
    """Layouts the file's metadata names, by tensor."""
    layouts = metadata.get("layouts") if isinstance(metadata.get("layouts"), dict) else {}
    if not layouts and isinstance(metadata.get("layout"), str):
        layouts = {"hidden_states": metadata["layout"]}
    return layouts


def _auxiliary(by_name: dict, requested: str | None, default: str, path: str) -> TensorRef | None:
    if requested is None:
        return by_name.get(default)
    if requested not in by_name:
        raise CascadeInputError(
            f"no tensor {requested!r} for the lengths or mask",
            path=path,
            param="mask" if default == "attention_mask" else default,
        )
    return by_name[requested]


def _read_lengths(ref: TensorRef, path: str) -> np.ndarray:
    values = ref.read()
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise CascadeInputError(
            f"lengths {ref.name!r} must be a 1-d integer tensor, got {values.dtype} {values.shape}", path=path
        )
    return values


def describe(
    path: str | os.PathLike,
    *,
    key: str | None = None,
    layout: str | None = None,
    lengths: str | None = None,
    mask: str | None = None,
) -> str:
    """What :func:`load` would find, as text: tensors, shapes, dtypes, layout, metadata.

    Parameters
    ----------
    path : str or os.PathLike
        A file or directory, as for :func:`load`.
    key, layout, lengths, mask : str, optional
        As for :func:`load`.

    Returns
    -------
    str
        A listing that reads no activation data.
    """
    fmt, refs, metadata = list_tensors(path)
    lines = [f"{path}: {fmt}, {len(refs)} tensor{'s' if len(refs) != 1 else ''}"]
    width = max(len(ref.name) for ref in refs)
    for ref in refs:
        where = f"  ({Path(ref.path).name})" if fmt == "directory" else ""
        lines.append(f"  {ref.name:<{width}}  {ref.dtype:<9} {tuple(ref.shape)}{where}")
    try:
        stack = choose_layers(refs, path=str(path), key=key, layout=layout, layouts=_layouts(metadata))
    except CascadeInputError as err:
        lines.append(f"activations: none found ({err.reason})")
    else:  # as load: the lengths or mask are read; a wrong name or a corrupt one is an error, not "none found"
        data = _activations(str(path), fmt, refs, metadata, stack, lengths=lengths, mask=mask)
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
        lines.extend(f"  {k}: {describe_tokens(v) if k == 'tokens' else v}" for k, v in metadata.items())
    return "\n".join(lines)


def write_atomic(path: str | os.PathLike, data: str | bytes, *, force: bool = False) -> None:
    """Write `data` to `path` through a temporary file renamed into place.

    An existing file is never overwritten unless `force` is set, and an
    interrupted write leaves no partial file behind.

    Parameters
    ----------
    path : str or os.PathLike
        Where the file goes.
    data : str or bytes
        Its content (text is written as UTF-8).
    force : bool, default False
        Replace an existing file.
    """
    path = Path(path)
    if path.exists() and not force:
        raise CascadeInputError("exists; not overwritten (use force=True)", path=str(path), param="force")
    tmp = stage(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def stage(path: Path, data: str | bytes, mode: int | None = None) -> str:
    """Write `data` to a new temporary file beside `path`, synced to disk; return the temporary's name.

    The file gets `mode` (default :func:`file_mode`: mkstemp makes 0600, a
    report gets what the user's umask gives). Nothing is left behind on failure.
    """
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode() if mode is None else mode)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def file_mode() -> int:
    """The mode a new file gets from ``open``: ``0o666`` less the process's umask.

    Linux shows the umask in ``/proc/self/status`` (read without changing it,
    so threads writing at the same time are safe); elsewhere it is set and
    restored.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            mask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask
