"""Reports of analyses: documents (JSON, CSV), tables (text, Markdown), plots, and the files of a report folder.

:func:`document` turns :class:`~cascade_core.FileReport` results into the
JSON-ready report; :func:`sweep_document` does the same for a sweep. The
rest renders those dicts: :mod:`.tables` builds every table once as cells,
:mod:`.console` and :mod:`.markdown` format them, :mod:`.plots` draws them,
and :mod:`.files` writes a report folder safely.
"""

from __future__ import annotations

from .console import aggregate_text, attention_text, file_text, sweep_text, totals_text
from .document import (
    PAPER,
    REPORT_SCHEMA,
    SWEEP_SCHEMA,
    aggregate,
    document,
    input_description,
    layer_rows,
    layers_csv,
    sha256_of,
    sweep_csv,
    sweep_document,
    to_json,
)
from .files import REPORT_FILES, SWEEP_FILES, VIEW_PATTERNS, check_outputs, report_files, sweep_files, write_outputs
from .markdown import report_markdown

__all__ = [
    "PAPER",
    "REPORT_FILES",
    "REPORT_SCHEMA",
    "SWEEP_FILES",
    "SWEEP_SCHEMA",
    "VIEW_PATTERNS",
    "aggregate",
    "aggregate_text",
    "attention_text",
    "check_outputs",
    "document",
    "file_text",
    "input_description",
    "layer_rows",
    "layers_csv",
    "report_files",
    "report_markdown",
    "sha256_of",
    "sweep_csv",
    "sweep_document",
    "sweep_files",
    "sweep_text",
    "to_json",
    "totals_text",
    "write_outputs",
]

# The token views (``view.py``: HTML pages, heatmaps) import matplotlib lazily, as the plots do.
