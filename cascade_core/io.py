"""Reading activations from disk (``.npy``, ``.npz``) and writing reports safely.

Stacked arrays are memory-mapped where the format allows (``.npy``), so the
runner reads one layer at a time. Every problem with a file becomes a
:class:`~cascade_core.errors.CascadeInputError` naming the file.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import CascadeInputError

__all__ = ["Activations", "load", "sample_path", "write_atomic"]

#: Names read as the activations when a file holds several arrays and no key is given.
DEFAULT_KEYS = ("hidden_states", "activations")
#: Arrays of an ``.npz`` that describe the activations rather than hold them.
AUXILIARY_KEYS = ("lengths", "attention_mask", "metadata", "input_ids")


@dataclass
class Activations:
    """Activations read from a file.

    Attributes
    ----------
    layers
        The stacked array (ndim 2 to 5, SPEC §1), memory-mapped where possible.
    path
        Where it came from.
    key
        The array's name inside the file (None for ``.npy``).
    lengths
        Valid lengths of padded sequences, if the file has a ``lengths`` array.
    mask
        Boolean mask of valid tokens, if the file has an ``attention_mask`` array.
    metadata
        The file's ``metadata`` (a JSON string in an ``.npz``), if any.
    """

    layers: np.ndarray
    path: str
    key: str | None = None
    lengths: np.ndarray | None = None
    mask: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)


def sample_path() -> Path:
    """The bundled sample: all-MiniLM-L6-v2 hidden states on three short texts."""
    return Path(str(resources.files("cascade_core.data").joinpath("minilm_sample.npz")))


def load(path: str | os.PathLike, *, key: str | None = None) -> Activations:
    """Read activations from an ``.npy`` or ``.npz`` file.

    Parameters
    ----------
    path
        The file.
    key
        The array to read from an ``.npz`` holding several (default:
        ``hidden_states``, ``activations``, or the only array there is).

    Raises
    ------
    CascadeInputError
        Missing, unreadable or corrupt file; unknown key; unsupported format.
    """
    name = str(path)
    path = Path(path)
    if not path.exists():
        raise CascadeInputError("no such file", path=name)
    if path.is_dir():
        raise CascadeInputError("is a directory; expected an .npy or .npz file", path=name)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
    except OSError as err:
        raise CascadeInputError(f"cannot read: {err.strerror}", path=name) from None
    if magic.startswith(b"\x93NUMPY"):
        return _load_npy(path, name, key)
    if magic.startswith(b"PK"):
        return _load_npz(path, name, key)
    if not magic:
        raise CascadeInputError("empty file", path=name)
    raise CascadeInputError("not an .npy or .npz file (unknown content)", path=name)


def _load_npy(path: Path, name: str, key: str | None) -> Activations:
    if key is not None:
        raise CascadeInputError(f"--key {key!r} given, but an .npy file holds one array", path=name)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise CascadeInputError(f"corrupt or truncated .npy file ({err})", path=name) from None
    return Activations(layers=array, path=name)


def _load_npz(path: Path, name: str, key: str | None) -> Activations:
    try:
        archive = np.load(path, allow_pickle=False)
        names = list(archive.files)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise CascadeInputError(f"corrupt or truncated .npz file ({err})", path=name) from None
    if key is None:
        preferred = [k for k in DEFAULT_KEYS if k in names]
        data = [k for k in names if k not in AUXILIARY_KEYS]
        if preferred:
            key = preferred[0]
        elif len(data) == 1:
            key = data[0]
        else:
            raise CascadeInputError(
                f"holds {len(data)} candidate arrays ({', '.join(names)}); pick one with --key", path=name
            )
    if key not in names:
        raise CascadeInputError(f"no array {key!r}; the file holds: {', '.join(names)}", path=name)

    def read(member: str):
        try:
            return archive[member]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
            raise CascadeInputError(f"corrupt array {member!r} ({err})", path=name) from None

    metadata = {}
    if "metadata" in names:
        try:
            metadata = json.loads(str(read("metadata")))
        except json.JSONDecodeError:
            metadata = {"text": str(read("metadata"))}
    return Activations(
        layers=read(key),
        path=name,
        key=key,
        lengths=read("lengths") if "lengths" in names else None,
        mask=read("attention_mask").astype(bool) if "attention_mask" in names and "lengths" not in names else None,
        metadata=metadata,
    )


def write_atomic(path: str | os.PathLike, text: str, *, force: bool = False) -> None:
    """Write `text` to `path` through a temporary file renamed into place.

    An existing file is never overwritten unless `force` is set, and an
    interrupted write leaves no partial file behind.
    """
    path = Path(path)
    if path.exists() and not force:
        raise CascadeInputError("exists; not overwritten (use --force)", path=str(path))
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
