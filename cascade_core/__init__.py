"""cascade-core: Cascade Token Selection (Thomas, arXiv 2605.03110, 2026).

ADA picks representative tokens at every layer by a threshold on the
absolute-cosine Gram matrix (``O(T**2 d)``); the cascade inherits the set of
the layer before and repairs it (``O(T r d)``). The algorithm is written
once against the Python array API: NumPy, CuPy, PyTorch or JAX arrays in,
results out, in the same namespace.

"SPEC §n" in this package is section n of the specification, restated in the
documentation (``docs/spec.rst``). Each rule lives in one private module;
everything public is re-exported here once:

=========  ==============================================================
SPEC §1    :func:`run` (layouts: ``_layout``), :func:`load`
SPEC §2    :func:`normalize` (``_gram``)
SPEC §3    :func:`ada` (``_ada``; §3.1: ``Backend.greedy``), :func:`ada_slices` (``_slices``)
SPEC §4    :func:`assign` (``_assignment``)
SPEC §5    :func:`cascade`, :class:`RecomputePolicy` (``_cascade``)
SPEC §6    :func:`ada_ops`, :func:`ada_needed` ... (``_accounting``)
SPEC §7    :class:`LayerRecord`, :class:`RunTotals`, :func:`jaccard` (``_metrics``)
SPEC §8    :func:`full_attention`, :func:`rr_attention`, :func:`tr_attention` (``_attention``)
SPEC §9    :class:`CascadeInputError` (``_errors``), dtypes (``_dtypes``)
SPEC §10   :mod:`selectors`, :func:`compare` (``_compare``, ``_set_figures``)
=========  ==============================================================

Per-token views of a run (sets, groups, token text), as a table:
:func:`token_views`, :func:`token_table` (``_tokens``).

Corpora: :func:`analyze_corpus` (``_corpus``: one Dask task per document,
Parquet parts, resume; ``_sources``: files, globs, folders, ``datasets`` rows).

Subpackages: :mod:`cascade_core.backends` (the backend registry),
:mod:`cascade_core.selectors` (token selectors compared, SPEC §10),
:mod:`cascade_core.report` (documents, tables, plots),
:mod:`cascade_core.synthetic` (seeded test data), :mod:`cascade_core.cli`.
"""

from __future__ import annotations

from . import backends, selectors
from ._accounting import ada_needed, ada_ops, assign_ops, cascade_needed, cascade_ops, gram_savings
from ._ada import Selection, ada
from ._analysis import Analysis, AttentionOptions, FileReport, analyze_file, sweep
from ._assignment import assign
from ._attention import (
    AttentionQuality,
    attention_heads,
    attention_quality,
    full_attention,
    rr_attention,
    tr_attention,
)
from ._cascade import CascadeStep, RecomputePolicy, cascade
from ._compare import (
    AttentionRow,
    CompareOptions,
    Comparison,
    FileComparison,
    SelectorRecord,
    SelectorTotals,
    compare,
    compare_file,
)
from ._corpus import CorpusProgress, CorpusResult, DocumentResult, analyze_corpus, analyze_document, corpus_documents
from ._errors import CascadeInputError
from ._export import export_hf
from ._gram import normalize
from ._io import Activations, describe, load, sample_path, write_atomic
from ._metrics import LayerRecord, RunTotals, jaccard
from ._quality import AttentionRecord, attention_layers
from ._runner import RunResult, run
from ._slices import ada_slices
from ._sources import Document
from ._stack import LayerStack
from ._tokens import TokenView, token_table, token_views
from ._version import __version__

__all__ = [
    "Activations",
    "Analysis",
    "AttentionOptions",
    "AttentionQuality",
    "AttentionRecord",
    "AttentionRow",
    "CascadeInputError",
    "CascadeStep",
    "CompareOptions",
    "Comparison",
    "FileComparison",
    "CorpusProgress",
    "CorpusResult",
    "Document",
    "DocumentResult",
    "FileReport",
    "LayerRecord",
    "LayerStack",
    "RecomputePolicy",
    "RunResult",
    "RunTotals",
    "SelectorRecord",
    "SelectorTotals",
    "Selection",
    "TokenView",
    "__version__",
    "ada",
    "ada_needed",
    "ada_slices",
    "ada_ops",
    "analyze_corpus",
    "analyze_document",
    "analyze_file",
    "assign",
    "assign_ops",
    "attention_heads",
    "attention_layers",
    "attention_quality",
    "backends",
    "cascade",
    "cascade_needed",
    "cascade_ops",
    "compare",
    "compare_file",
    "corpus_documents",
    "describe",
    "export_hf",
    "full_attention",
    "gram_savings",
    "jaccard",
    "load",
    "normalize",
    "rr_attention",
    "run",
    "sample_path",
    "selectors",
    "sweep",
    "token_table",
    "token_views",
    "tr_attention",
    "write_atomic",
]
