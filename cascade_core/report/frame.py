"""Results as tables: pandas DataFrames, and the Parquet parts of a corpus folder (pandas, pyarrow).

One row per (document, slice, layer). The columns are the fields of
:class:`~cascade_core.LayerRecord`, in its order and with its types
(integers as nullable ``Int64``, floats as ``float64`` with NaN for None,
the slice as text ``"b/h"`` as in ``layers.csv``), after a ``document``
column, and an ``error`` column that is empty but on a document's error
row. :func:`records_schema` derives the Arrow schema from the dataclass, so
a field added to the record is a column everywhere.

A corpus folder keeps one Parquet part per document in ``records/``
(written whole through a rename, :func:`part_bytes`); its key-value metadata
(``cascade-core``) holds what a report needs beside the rows: the document,
its identity, the parameters' fingerprint, what was read, the run's
parameters, attention scores and the error. ``pandas.read_parquet(DIR /
"records")`` reads them all.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math

from .._metrics import LayerRecord, RunTotals

__all__ = [
    "PART_SCHEMA",
    "records_schema",
    "run_frame",
    "record_rows",
    "error_row",
    "frame_of",
    "part_bytes",
    "read_part",
    "totals_frame",
]

#: Version of a part's metadata.
PART_SCHEMA = "cascade-core/records/1"
_META = b"cascade-core"


def _tables():
    try:
        import pandas as pd
        import pyarrow as pa
    except ImportError:
        raise ImportError("tables need pandas and pyarrow: pip install 'cascade-core[tables]'") from None
    return pd, pa


def _arrow_type(pa, annotation: str, name: str):
    kind = annotation.replace(" | None", "").strip()
    types = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "tuple[int, ...]": pa.string()}
    if kind not in types:
        raise TypeError(f"LayerRecord.{name}: no table column for the type {annotation!r}")
    return types[kind]


def records_schema(*, document: bool = True):
    """The Arrow schema of the records table: ``document``, the :class:`LayerRecord` fields, ``error``."""
    _, pa = _tables()
    fields = [pa.field(f.name, _arrow_type(pa, str(f.type), f.name)) for f in dataclasses.fields(LayerRecord)]
    if document:
        fields = [pa.field("document", pa.string()), *fields, pa.field("error", pa.string())]
    return pa.schema(fields)


def _row(rec: LayerRecord) -> dict:
    row = dataclasses.asdict(rec)
    row["slice"] = "/".join(str(i) for i in rec.slice)
    return row


def record_rows(document: str, records: list[LayerRecord]) -> list[dict]:
    """The rows of one document's records."""
    return [{"document": document, **_row(rec), "error": None} for rec in records]


def error_row(document: str, reason: str) -> dict:
    """The one row of a document that failed: its name and the reason; every figure empty."""
    return {"document": document, "error": reason}


def frame_of(rows: list[dict], *, document: bool = True):
    """A DataFrame of rows with the records' columns and dtypes."""
    pd, pa = _tables()
    table = pa.Table.from_pylist(rows, schema=records_schema(document=document))
    return _to_pandas(pd, pa, table)


def _to_pandas(pd, pa, table):
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def run_frame(result):
    """One row per (slice, layer) of a run (:meth:`cascade_core.RunResult.to_frame`)."""
    return frame_of([_row(rec) for rec in result.records], document=False)


def part_bytes(rows: list[dict], meta: dict) -> bytes:
    """A document's records part: Parquet bytes with `meta` as JSON in the file's metadata."""
    _, pa = _tables()
    import pyarrow.parquet as pq

    schema = records_schema().with_metadata({_META: json.dumps(meta, allow_nan=False, default=_plain)})
    table = pa.Table.from_pylist(rows, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _plain(value):
    if hasattr(value, "item"):  # NumPy scalars in metadata
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


def read_part(path, *, rows: bool = True) -> tuple[dict, list[LayerRecord]]:
    """A part's metadata and (with `rows`) its records; only the footer is read without."""
    _, pa = _tables()
    import pyarrow.parquet as pq

    if not rows:
        return json.loads(pq.read_metadata(path).metadata[_META]), []
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[_META])
    names = [f.name for f in dataclasses.fields(LayerRecord)]
    records = []
    for row in table.to_pylist():
        if row["error"] is not None:
            continue
        values = {name: row[name] for name in names}
        values["slice"] = tuple(int(i) for i in row["slice"].split("/")) if row["slice"] else ()
        records.append(LayerRecord(**values))
    return meta, records


def totals_frame(rows: list[dict]):
    """One row per document: name, status, error, and the :class:`RunTotals` fields (empty for a failure)."""
    pd, pa = _tables()
    fields = [pa.field("document", pa.string()), pa.field("status", pa.string()), pa.field("error", pa.string())]
    fields += [pa.field(f.name, _arrow_type(pa, str(f.type), f.name)) for f in dataclasses.fields(RunTotals)]
    fields += [pa.field("backend", pa.string()), pa.field("wall_seconds", pa.float64())]
    table = pa.Table.from_pylist([_finite(row) for row in rows], schema=pa.schema(fields))
    return _to_pandas(pd, pa, table)


def _finite(row: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
