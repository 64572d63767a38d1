"""Tensors in files, listed without reading their data, read a layer at a time.

Formats (detected by content, then extension): ``.npy``, ``.npz``,
``.safetensors``, ``.h5``/``.hdf5`` (h5py), ``.pt``/``.pth`` (PyTorch,
``weights_only=True``), and a directory of such files.

Reading never maps a whole file into the process for good: a layer-first
tensor is read with one ``pread`` of that layer's bytes (anonymous memory,
freed with the layer); other orders go through a memory map that lives only
while the layer is copied out. bfloat16 is widened to float32 exactly
(its 16 bits are the high half of a float32), so no PyTorch is needed.
"""

from __future__ import annotations

import json
import math
import os
import struct
import tokenize
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._dtypes import widen_bfloat16_bits
from ._errors import CascadeInputError

__all__ = ["TensorRef", "list_tensors", "detect", "check_safetensors", "FORMAT_ERRORS"]

#: What the format libraries raise on a corrupt or truncated file (zipfile, zlib, NumPy's header parser,
#: h5py); readers turn these, and only these, into :class:`CascadeInputError`. ``torch.load``, which raises
#: many kinds, is the readers' one broad catch (docs/decisions.md, "Corrupt files").
FORMAT_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    TypeError,
    RuntimeError,
    NotImplementedError,
    SyntaxError,
    struct.error,
    zlib.error,
    zipfile.BadZipFile,
    tokenize.TokenError,
)
#: The largest safetensors header the official library accepts (100 MB).
_MAX_SAFETENSORS_HEADER = 100_000_000

_SAFETENSORS_DTYPES = {
    "F16": ("float16", "<f2"),
    "BF16": ("bfloat16", "<u2"),
    "F32": ("float32", "<f4"),
    "F64": ("float64", "<f8"),
    "I8": ("int8", "<i1"),
    "U8": ("uint8", "<u1"),
    "I16": ("int16", "<i2"),
    "I32": ("int32", "<i4"),
    "I64": ("int64", "<i8"),
    "U16": ("uint16", "<u2"),
    "U32": ("uint32", "<u4"),
    "U64": ("uint64", "<u8"),
    "BOOL": ("bool", "|b1"),
}
#: Dtypes of the format that NumPy cannot hold: their sizes, to check a file's layout (``check_safetensors``).
_SAFETENSORS_OPAQUE = {"F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1}


@dataclass
class TensorRef:
    """One tensor of a file: its name, shape and dtype, and how to read parts of it.

    Attributes
    ----------
    name
        The tensor's name in its file (the file's stem for an ``.npy``).
    shape, dtype
        As stored (``dtype`` is a name such as ``"bfloat16"``).
    path
        The file.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    path: str
    _offset: int | None = None  # raw C-order bytes at this offset of `path`
    _storage: str | None = None  # numpy dtype of the raw bytes
    _reader: object = field(default=None, repr=False)  # callable(index) for other storage
    _crc: tuple[int, int, int] | None = field(default=None, repr=False)  # stored zip member: start, size, CRC-32

    @property
    def nbytes(self) -> int:
        # Python integers: a corrupt header's huge shape must not wrap around to a small size.
        return math.prod(self.shape) * np.dtype(self._storage or _numpy_name(self.dtype)).itemsize

    def read(self, axis: int | None = None, index: int | None = None) -> np.ndarray:
        """The whole tensor, or its slice ``index`` along `axis`, as a NumPy array."""
        try:
            if self._crc is not None:
                self._check_crc()
            if self._offset is not None:
                out = self._read_raw(axis, index)
            else:
                out = self._reader(axis, index)
        except CascadeInputError:
            raise
        except FORMAT_ERRORS as err:
            raise CascadeInputError(f"cannot read tensor {self.name!r}: {_why(err)}", path=self.path) from None
        if self.dtype == "bfloat16" and out.dtype == np.uint16:
            out = widen_bfloat16_bits(out)
        return out

    def _check_crc(self) -> None:
        """The CRC-32 of a stored (uncompressed) ``.npz`` member, streamed once, before its first read."""
        start, size, expected = self._crc
        crc = 0
        with open(self.path, "rb") as handle:
            handle.seek(start)
            left = size
            while left:
                block = handle.read(min(left, 1 << 20))
                if not block:
                    raise CascadeInputError(f"member {self.name!r} is truncated", path=self.path)
                crc = zlib.crc32(block, crc)
                left -= len(block)
        if crc != expected:
            raise CascadeInputError(f"member {self.name!r} fails its CRC-32 check (corrupt .npz)", path=self.path)
        self._crc = None

    def _read_raw(self, axis, index) -> np.ndarray:
        storage = np.dtype(self._storage)
        size = os.path.getsize(self.path)
        if self._offset + self.nbytes > size:
            raise CascadeInputError(
                f"tensor {self.name!r} needs {self._offset + self.nbytes} bytes, the file has {size} (truncated?)",
                path=self.path,
            )
        if axis is None:
            return np.fromfile(self.path, dtype=storage, count=int(np.prod(self.shape)), offset=self._offset).reshape(
                self.shape
            )
        rest = self.shape[:axis] + self.shape[axis + 1 :]
        if axis == 0:  # one contiguous block: read just it
            count = int(np.prod(rest, dtype=np.int64))
            offset = self._offset + index * count * storage.itemsize
            return np.fromfile(self.path, dtype=storage, count=count, offset=offset).reshape(rest)
        mapped = np.memmap(self.path, dtype=storage, mode="r", offset=self._offset, shape=self.shape)
        try:
            return np.array(np.take(mapped, index, axis=axis))
        finally:
            del mapped


def _why(err: BaseException) -> str:
    """One line saying what a format library found wrong."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _numpy_name(dtype: str) -> str:
    return "uint16" if dtype == "bfloat16" else dtype


def _dtype_name(dtype: np.dtype) -> str:
    return "bfloat16" if dtype.name == "bfloat16" else dtype.name


# ---- formats --------------------------------------------------------------


def detect(path: Path) -> str:
    """The format of `path`: npy, npz, safetensors, hdf5, torch or directory."""
    if path.is_dir():
        return "directory"
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not head:
        raise CascadeInputError("empty file", path=str(path))
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as err:
            raise CascadeInputError(
                f"corrupt or truncated zip archive (.npz or .pt): {_why(err)}", path=str(path)
            ) from None
        if any(name.endswith("data.pkl") for name in names):
            return "torch"
        return "npz"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head[:1] == b"\x80":  # a legacy (non-zip) PyTorch pickle
        return "torch"
    suffix = path.suffix.lower()
    known = {".npy": "npy", ".npz": "npz", ".safetensors": "safetensors", ".h5": "hdf5", ".hdf5": "hdf5"}
    if suffix in known:
        raise CascadeInputError(f"not a valid {suffix} file (unrecognised content)", path=str(path))
    raise CascadeInputError(
        "unknown format: expected .npy, .npz, .safetensors, .h5/.hdf5, .pt/.pth or a directory", path=str(path)
    )


def list_tensors(path: str | os.PathLike) -> tuple[str, list[TensorRef], dict]:
    """The format, the tensors and the metadata of a file or directory, reading no data."""
    path = Path(path)
    if not path.exists():
        raise CascadeInputError("no such file", path=str(path))
    try:
        kind = detect(path)
        reader = {
            "npy": _npy,
            "npz": _npz,
            "safetensors": _safetensors,
            "hdf5": _hdf5,
            "torch": _torch,
            "directory": _directory,
        }[kind]
        tensors, metadata = reader(path)
    except PermissionError as err:
        raise CascadeInputError(f"cannot read: {err.strerror}", path=str(path)) from None
    if not tensors:
        raise CascadeInputError(f"no tensors in this {kind} file", path=str(path))
    return kind, tensors, metadata


def _npy_header(handle, path: Path, member: str | None = None):
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except FORMAT_ERRORS as err:  # NumPy's header parser raises ValueError, SyntaxError or tokenize.TokenError
        where = f" of member {member!r}" if member else ""
        raise CascadeInputError(f"corrupt or truncated .npy header{where} ({_why(err)})", path=str(path)) from None
    if any(n < 0 for n in shape):
        raise CascadeInputError(f"corrupt .npy header (negative shape {shape})", path=str(path))
    if fortran and len(shape) > 1:
        raise CascadeInputError("Fortran-ordered .npy is not supported; save it in C order", path=str(path))
    if dtype.hasobject:
        raise CascadeInputError(".npy holds Python objects; only numeric arrays are read", path=str(path))
    return shape, dtype, handle.tell()


def _npy(path: Path):
    with open(path, "rb") as handle:
        shape, dtype, offset = _npy_header(handle, path)
    ref = TensorRef(path.stem, tuple(shape), _dtype_name(dtype), str(path), offset, dtype.str)
    _check_size(ref)
    return [ref], {}


def _check_size(ref: TensorRef) -> None:
    size = os.path.getsize(ref.path)
    if ref._offset + ref.nbytes > size:
        raise CascadeInputError(
            f"tensor {ref.name!r} of shape {ref.shape} needs {ref._offset + ref.nbytes} bytes, "
            f"the file has {size} (truncated?)",
            path=ref.path,
        )


def _npz(path: Path):
    tensors = []
    metadata: dict = {}
    try:
        archive = zipfile.ZipFile(path)
        with archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                name = info.filename[: -len(".npy")]
                with archive.open(info) as member:
                    shape, dtype, header = _npy_header(member, path, info.filename)
                if name == "metadata" and dtype.kind == "U":
                    metadata = _parse_metadata(np.load(path, allow_pickle=False)["metadata"])
                    continue
                ref = TensorRef(name, tuple(shape), _dtype_name(dtype), str(path), _storage=dtype.str)
                if header + ref.nbytes != info.file_size:
                    raise CascadeInputError(
                        f"member {info.filename!r}: a {_dtype_name(dtype)} array of shape {tuple(shape)} needs "
                        f"{header + ref.nbytes} bytes, the member has {info.file_size} (corrupt .npz)",
                        path=str(path),
                    )
                if info.compress_type == zipfile.ZIP_STORED:
                    # Data starts after the local file header, its name, its extra field and the .npy header.
                    with open(path, "rb") as raw:
                        raw.seek(info.header_offset)
                        local = raw.read(30)
                        name_len, extra_len = struct.unpack("<HH", local[26:30])
                    start = info.header_offset + 30 + name_len + extra_len
                    ref._offset = start + header
                    ref._crc = (start, info.file_size, info.CRC)
                    _check_size(ref)
                else:
                    ref._storage = None
                    ref._reader = _npz_member(path, name)
                tensors.append(ref)
    except CascadeInputError:
        raise
    except FORMAT_ERRORS as err:
        raise CascadeInputError(f"corrupt or truncated .npz file ({_why(err)})", path=str(path)) from None
    return tensors, metadata


def _npz_member(path: Path, name: str):
    def read(axis, index):  # compressed: the member is inflated whole (zlib streams cannot seek)
        with np.load(path, allow_pickle=False) as archive:
            data = archive[name]
        return data if axis is None else np.array(np.take(data, index, axis=axis))

    return read


def _parse_metadata(value) -> dict:
    text = str(value)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return {"metadata": text}
    return parsed if isinstance(parsed, dict) else {"metadata": parsed}


def check_safetensors(path: str | os.PathLike) -> None:
    """Check a ``.safetensors`` file's header and size as strictly as the official library, reading no data.

    Parameters
    ----------
    path : str or os.PathLike
        The file (any dtype of the format, float8 included).

    Raises
    ------
    CascadeInputError
        A truncated file, a header that is not a JSON object of well-formed
        entries, a key twice, tensors that overlap, leave gaps or pass the
        end of the file.
    """
    _safetensors(Path(path), any_dtype=True)


def _safetensors(path: Path, any_dtype: bool = False):
    """Tensors of a ``.safetensors`` file, its header checked as strictly as the official library does."""
    size = os.path.getsize(path)
    where = str(path)
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise CascadeInputError("corrupt or truncated .safetensors file (no header)", path=where)
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > _MAX_SAFETENSORS_HEADER or header_len > size - 8:
            raise CascadeInputError(
                f"corrupt or truncated .safetensors file (header of {header_len} bytes, file of {size})", path=where
            )
        raw = handle.read(header_len)
    header = _safetensors_json(raw, where)
    base = 8 + header_len
    metadata = {}
    entries = []
    for name, entry in header.items():
        if name == "__metadata__":
            if entry is not None and not (isinstance(entry, dict) and all(isinstance(v, str) for v in entry.values())):
                raise CascadeInputError(
                    "corrupt .safetensors header: __metadata__ must be an object of strings", path=where
                )
            metadata = {k: _maybe_json(v) for k, v in (entry or {}).items()}
            continue
        entries.append(_safetensors_entry(name, entry, where, base, any_dtype))
    # As the official library: the tensors, in order of their offsets, tile the data buffer exactly.
    expected = 0
    for ref, begin, end in sorted(entries, key=lambda e: (e[1], e[2])):
        if begin != expected:
            what = "overlaps the tensor before it" if begin < expected else "leaves a gap before it"
            raise CascadeInputError(
                f"corrupt .safetensors header: tensor {ref.name!r} at data offsets [{begin}, {end}] {what}",
                path=where,
            )
        expected = end
    if base + expected != size:
        raise CascadeInputError(
            f"corrupt or truncated .safetensors file: the header describes {base + expected} bytes, "
            f"the file has {size}",
            path=where,
        )
    return [ref for ref, _, _ in entries], metadata


def _safetensors_json(raw: bytes, where: str) -> dict:
    """The header as a JSON object: UTF-8, starting with ``{``, no key twice."""

    def unique(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise CascadeInputError(f"corrupt .safetensors header: key {key!r} appears twice", path=where)
            seen[key] = value
        return seen

    try:
        if not raw.startswith(b"{"):
            raise ValueError("the header does not start with '{'")
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=unique)
    except CascadeInputError:
        raise
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CascadeInputError(f"corrupt .safetensors header ({_why(err)})", path=where) from None
    if not isinstance(header, dict):
        raise CascadeInputError("corrupt .safetensors header: not a JSON object", path=where)
    return header


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _safetensors_entry(name: str, entry, where: str, base: int, any_dtype: bool) -> tuple[TensorRef, int, int]:
    """One tensor's header entry, checked: a known dtype, a shape of counts, two ordered offsets of its size."""
    bad = f"corrupt .safetensors header: tensor {name!r}"
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise CascadeInputError(f"{bad} needs dtype, shape and data_offsets", path=where)
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    opaque = any_dtype and dtype in _SAFETENSORS_OPAQUE
    if not isinstance(dtype, str) or (dtype not in _SAFETENSORS_DTYPES and not opaque):
        known = ", ".join(_SAFETENSORS_DTYPES)
        raise CascadeInputError(f"{bad} has dtype {dtype!r}; readable dtypes: {known}", path=where)
    if not isinstance(shape, list) or not all(_is_count(n) for n in shape):
        raise CascadeInputError(f"{bad}: shape {shape!r} is not a list of non-negative integers", path=where)
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(n) for n in offsets)):
        raise CascadeInputError(f"{bad}: data_offsets {offsets!r} are not two non-negative integers", path=where)
    begin, end = offsets
    if end < begin:
        raise CascadeInputError(f"{bad}: data_offsets [{begin}, {end}] end before they begin", path=where)
    name_of, storage = (dtype.lower(), "|u1") if opaque else _SAFETENSORS_DTYPES[dtype]
    ref = TensorRef(name, tuple(shape), name_of, where, base + begin, storage)
    if end - begin != ref.nbytes:
        raise CascadeInputError(
            f"{bad}: {dtype} of shape {tuple(shape)} is {ref.nbytes} bytes, its data_offsets span {end - begin}",
            path=where,
        )
    return ref, begin, end


def _maybe_json(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _hdf5(path: Path):
    try:
        import h5py
    except ImportError:
        raise ImportError(f"{path}: reading HDF5 needs h5py: pip install 'cascade-core[hdf5]'") from None
    tensors = []
    metadata = {}
    try:
        with h5py.File(path, "r") as handle:
            metadata = {k: _maybe_json(_plain(v)) for k, v in handle.attrs.items()}

            def visit(name, obj):
                if isinstance(name, bytes):  # h5py hands over names that are not UTF-8 as bytes
                    raise CascadeInputError(f"HDF5 object name {name!r} is not UTF-8 (corrupt?)", path=str(path))
                if isinstance(obj, h5py.Dataset):
                    tensors.append(
                        TensorRef(name, tuple(obj.shape), obj.dtype.name, str(path), _reader=_h5_reader(path, name))
                    )

            handle.visititems(visit)
    except CascadeInputError:
        raise
    except FORMAT_ERRORS as err:  # h5py: OSError, RuntimeError ("Object visitation failed"), KeyError ...
        raise CascadeInputError(f"corrupt or truncated HDF5 file ({_why(err)})", path=str(path)) from None
    return tensors, metadata


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _h5_reader(path: Path, name: str):
    def read(axis, index):
        import h5py

        with h5py.File(path, "r") as handle:
            data = handle[name]
            if axis is None:
                return data[()]
            key = (slice(None),) * axis + (index,)
            return data[key]

    return read


def _torch(path: Path):
    try:
        import torch
    except ImportError:
        raise ImportError(f"{path}: reading .pt/.pth needs PyTorch: pip install 'cascade-core[torch]'") from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as err:  # torch raises many kinds: unpickling refused, corrupt archive, ... (decisions.md)
        message = _why(err) if str(err) else type(err).__name__
        raise CascadeInputError(f"cannot load with weights_only=True ({message})", path=str(path)) from None
    if isinstance(loaded, torch.Tensor):
        loaded = {path.stem: loaded}
    if not isinstance(loaded, dict):
        raise CascadeInputError(
            f"holds a {type(loaded).__name__}; expected a tensor or a dict of tensors", path=str(path)
        )
    tensors = []
    metadata = {}
    for name, value in _flatten(loaded):
        if isinstance(value, torch.Tensor):
            dtype = str(value.dtype).removeprefix("torch.")
            tensors.append(TensorRef(name, tuple(value.shape), dtype, str(path), _reader=_torch_reader(value)))
        elif name == "metadata":
            metadata = value if isinstance(value, dict) else {"metadata": value}
    return tensors, metadata


def _flatten(mapping: dict, prefix: str = ""):
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name != "metadata":
            yield from _flatten(value, name + ".")
        elif isinstance(value, (list, tuple)) and value and all(hasattr(v, "shape") for v in value):
            for i, item in enumerate(value):
                yield f"{name}.{i}", item
        else:
            yield name, value


def _torch_reader(tensor):
    def read(axis, index):
        import torch

        part = tensor if axis is None else tensor.select(axis, index)
        if part.dtype == torch.bfloat16:  # raw bits: TensorRef.read widens them, as for every format
            return part.contiguous().view(torch.int16).numpy().view(np.uint16).copy()
        return part.contiguous().numpy().copy()

    return read


def _directory(path: Path):
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise CascadeInputError("empty directory: no activation files in it", path=str(path))
    tensors = []
    metadata = {}
    for file in files:
        try:
            kind = detect(file)
        except CascadeInputError:
            if file.suffix.lower() in (".npy", ".npz", ".safetensors", ".h5", ".hdf5", ".pt", ".pth"):
                raise
            continue  # a README or a config next to the shards
        found, meta = {"npy": _npy, "npz": _npz, "safetensors": _safetensors, "hdf5": _hdf5, "torch": _torch}[kind](
            file
        )
        tensors.extend(found)
        metadata.update(meta)
    if not tensors:
        raise CascadeInputError("no tensors in any file of the directory", path=str(path))
    return tensors, metadata
