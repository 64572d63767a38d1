"""The documents of a corpus: files, globs, directories, and Hugging Face ``datasets`` folders.

A corpus is a list of :class:`Document`. A file is one document; so is a
directory of per-layer files or shards (what :func:`cascade_core.load` reads
as one). A directory of documents (each file, or each subdirectory, one
document) is a corpus, and a ``datasets`` folder (``Dataset.save_to_disk``,
as activation caches write it: one row a document, one column a hook, each
cell a ``(T, d)`` array) is one document per row, read lazily: a layer is
one cell, read from the memory-mapped Arrow file when the run asks for it.

Which directory is which (:func:`expand`): a folder with ``state.json`` and
``dataset_info.json`` is a ``datasets`` folder (``dataset_dict.json``: one
per split); a folder with subfolders is a corpus of its files and subfolders;
a flat folder is one document, unless two of its files hold a tensor of the
same name (``hidden_states`` in each), which no single document can: then
each file is a document.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ._errors import CascadeInputError
from ._io import Activations, load
from ._readers import TensorRef, list_tensors
from ._stack import choose_layers

__all__ = ["Document", "expand", "identity", "open_document", "part_key", "SUFFIXES"]

#: File name endings of activation files (other files in a corpus folder are skipped).
SUFFIXES = (".npy", ".npz", ".safetensors", ".h5", ".hdf5", ".pt", ".pth")
_FLOAT_ARROW = {"halffloat": "float16", "float": "float32", "double": "float64"}


@dataclass(frozen=True)
class Document:
    """One document of a corpus.

    Attributes
    ----------
    name : str
        How reports name it: the path as given, or ``FOLDER#ROW`` for a row
        of a ``datasets`` folder.
    path : str
        The file, the directory of per-layer files, or the ``datasets`` folder.
    row : int or None
        The row of a ``datasets`` folder; None for a file.
    """

    name: str
    path: str
    row: int | None = None


def expand(sources) -> list[Document]:
    """The documents named by files, globs, directories and ``datasets`` folders, in order, each once.

    Parameters
    ----------
    sources : path, Document, or a list of them
        Files; glob patterns (``"acts/*.safetensors"``, ``"**"`` recursive);
        directories (see the module's rule); ``datasets`` folders.

    Raises
    ------
    CascadeInputError
        A pattern that matches nothing, a path that does not exist, a corpus
        folder with no activation file.
    """
    if isinstance(sources, (str, os.PathLike, Document)):
        sources = [sources]
    found: list[Document] = []
    for source in sources:
        if isinstance(source, Document):
            found.append(source)
            continue
        text = str(source)
        if glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise CascadeInputError("no file matches this pattern", path=text)
            for match in matches:
                path = Path(match)
                if path.is_dir():
                    found.extend(_directory(path))
                elif path.suffix.lower() in SUFFIXES:
                    found.append(Document(match, match))
            continue
        path = Path(text)
        if path.is_dir():
            found.extend(_directory(path))
        else:
            found.append(Document(text, text))  # a missing file is that document's error
    unique: dict[tuple[str, int | None], Document] = {}
    for doc in found:
        unique.setdefault((_resolved(doc.path), doc.row), doc)
    return list(unique.values())


def _resolved(path: str) -> str:
    return str(Path(path).resolve())


def _is_dataset(path: Path) -> bool:
    return (path / "state.json").is_file() and (path / "dataset_info.json").is_file()


def _directory(path: Path) -> list[Document]:
    if _is_dataset(path):
        rows = _dataset_of(Document(str(path), str(path))).num_rows
        return [Document(f"{path}#{row}", str(path), row) for row in range(rows)]
    if (path / "dataset_dict.json").is_file():
        splits = json.loads((path / "dataset_dict.json").read_text()).get("splits", [])
        return [doc for split in splits for doc in _directory(path / split)]
    entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    folders = [p for p in entries if p.is_dir()]
    files = [p for p in entries if p.is_file() and p.suffix.lower() in SUFFIXES]
    if not folders and not _holds_several_documents(files):
        return [Document(str(path), str(path))]  # per-layer files or shards: one document, as load reads it
    docs: list[Document] = []
    for entry in sorted(files + folders):
        if entry.is_dir():
            docs.extend(_directory(entry))
        else:
            docs.append(Document(str(entry), str(entry)))
    if not docs:
        raise CascadeInputError("no activation files in this folder or its subfolders", path=str(path))
    return docs


def _holds_several_documents(files: list[Path]) -> bool:
    """Whether two files of a flat folder hold a tensor of the same name (then each is a document)."""
    seen: set[str] = set()
    for file in files:
        try:
            _, refs, _ = list_tensors(file)
        except (CascadeInputError, ImportError):
            continue  # reported when the document is read
        names = {ref.name for ref in refs}
        if seen & names:
            return True
        seen |= names
    return False


def identity(doc: Document, folders: dict | None = None) -> dict:
    """What says a document is unchanged since it was analysed: its resolved path, row, size and mtime.

    Size and modification time (in ns) of a file, or summed and latest over a
    folder's files; hashing every document again on each resume would read
    the whole corpus. `folders` caches a folder's figures across the rows of
    a ``datasets`` folder (one walk per folder, not per row).
    """
    path = Path(doc.path)
    size, mtime = 0, 0
    if path.is_dir():
        if folders is not None and doc.path in folders:
            size, mtime = folders[doc.path]
        else:
            for child in path.rglob("*"):
                if child.is_file():
                    stat = child.stat()
                    size, mtime = size + stat.st_size, max(mtime, stat.st_mtime_ns)
            if folders is not None:
                folders[doc.path] = (size, mtime)
    elif path.exists():
        stat = path.stat()
        size, mtime = stat.st_size, stat.st_mtime_ns
    return {"path": _resolved(doc.path), "row": doc.row, "size": size, "mtime_ns": mtime}


def part_key(doc: Document) -> str:
    """The name of a document's records part in a corpus folder: a hash of its resolved path and row."""
    text = _resolved(doc.path) + ("" if doc.row is None else f"#{doc.row}")
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def open_document(
    doc: Document,
    *,
    key: str | None = None,
    layout: str | None = None,
    lengths: str | None = None,
    mask: str | None = None,
    layers=None,
) -> Activations:
    """Find a document's activations, reading nothing but their description (as :func:`cascade_core.load`)."""
    if doc.row is None:
        return load(doc.path, key=key, layout=layout, lengths=lengths, mask=mask, layers=layers)
    for param, given in (("lengths", lengths), ("mask", mask)):
        if given is not None:
            raise CascadeInputError(
                f"{param}: a row of a datasets folder is one unpadded sequence", path=doc.name, param=param
            )
    refs = _row_tensors(doc)
    if not refs:
        raise CascadeInputError("no column of (T, d) floating-point arrays in this dataset", path=doc.path)
    stack = choose_layers(refs, path=doc.name, key=key, layout=layout)
    try:
        stack = stack.select(layers)
    except CascadeInputError as err:
        raise err.located(path=doc.name) from None
    return Activations(
        layers=stack,
        path=doc.name,
        format="dataset",
        metadata={"dataset": doc.path, "row": doc.row},
        tensors=refs,
        digest=functools.partial(_row_digest, refs),
    )


# ---- Hugging Face datasets folders ------------------------------------------


@functools.lru_cache(maxsize=8)
def _open_dataset(path: str, stamp: int | None = None):
    """The dataset saved at `path`, memory-mapped (one per process and version of the folder)."""
    try:
        import datasets
    except ImportError:
        raise ImportError(
            f"{path}: reading a datasets folder needs datasets: pip install 'cascade-core[datasets]'"
        ) from None
    try:
        return datasets.load_from_disk(path)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as err:
        raise CascadeInputError(f"cannot open the datasets folder ({type(err).__name__}: {err})", path=path) from None


def _dataset_of(doc: Document):
    """The document's dataset, opened again only when ``save_to_disk`` has rewritten the folder (its state.json)."""
    state = Path(doc.path) / "state.json"
    return _open_dataset(doc.path, state.stat().st_mtime_ns if state.exists() else None)


def _storage(arrow_type):
    import pyarrow as pa

    return arrow_type.storage_type if isinstance(arrow_type, pa.ExtensionType) else arrow_type


def _matrix_dtype(arrow_type) -> str | None:
    """The float dtype of a column of 2-D float arrays (lists of lists, or ``Array2D``); None for any other."""
    import pyarrow as pa

    outer = _storage(arrow_type)
    if not (pa.types.is_list(outer) or pa.types.is_large_list(outer) or pa.types.is_fixed_size_list(outer)):
        return None
    inner = outer.value_type
    if not (pa.types.is_list(inner) or pa.types.is_large_list(inner) or pa.types.is_fixed_size_list(inner)):
        return None
    return _FLOAT_ARROW.get(str(inner.value_type))


def _cell(dataset, row: int, column: str):
    """The arrow list of lists in one cell."""
    import pyarrow as pa

    table = dataset.with_format("arrow", columns=[column])[row : row + 1]
    chunk = table.column(column).combine_chunks()
    if isinstance(chunk, pa.ExtensionArray):
        chunk = chunk.storage
    return chunk.flatten()  # the cell's T rows, each a list of d values


def _cell_shape(dataset, row: int, column: str, name: str) -> tuple[int, int]:
    import pyarrow.compute as pc

    rows = _cell(dataset, row, column)
    if len(rows) == 0:
        return (0, 0)
    lengths = rows.value_lengths()
    low, high = pc.min(lengths).as_py(), pc.max(lengths).as_py()
    if low != high or rows.null_count:
        raise CascadeInputError(f"column {column!r}: rows of different lengths ({low} .. {high})", path=name)
    return (len(rows), high)


def _cell_reader(doc: Document, column: str, shape: tuple[int, int]):
    def read(axis, index):
        rows = _cell(_dataset_of(doc), doc.row, column)
        values = rows.flatten().to_numpy(zero_copy_only=False)
        layer = values.reshape(shape)
        return layer if axis is None else layer.take(index, axis=axis)

    return read


def _row_tensors(doc: Document) -> list[TensorRef]:
    """One tensor per column of 2-D float arrays of the row (its hooks), in the dataset's column order."""
    dataset = _dataset_of(doc)
    if not 0 <= doc.row < dataset.num_rows:
        raise CascadeInputError(f"row {doc.row} outside 0 .. {dataset.num_rows - 1}", path=doc.path)
    refs = []
    for column, arrow_type in zip(dataset.data.schema.names, dataset.data.schema.types, strict=True):
        dtype = _matrix_dtype(arrow_type)
        if dtype is None:
            continue
        shape = _cell_shape(dataset, doc.row, column, doc.name)
        refs.append(TensorRef(column, shape, dtype, doc.name, _reader=_cell_reader(doc, column, shape)))
    return refs


def _row_digest(refs: list[TensorRef]) -> str:
    """SHA-256 of a row's hooks: each column's name and its cell's bytes."""
    digest = hashlib.sha256()
    for ref in refs:
        digest.update(ref.name.encode() + b"\0")
        digest.update(ref.read().tobytes())
    return digest.hexdigest()
