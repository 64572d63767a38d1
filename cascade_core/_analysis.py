"""Analyses of files: load, select every layer, and (optionally) score compressed attention.

What ``cascade-core analyze`` and ``sweep`` do, as library calls: the command
line only parses options into an :class:`Analysis`, calls
:func:`analyze_file` or :func:`sweep`, and prints.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ._errors import CascadeInputError
from ._io import Activations, load
from ._params import check_tau, check_taus
from ._quality import attention_layers
from ._runner import RunResult, run
from ._tokens import TokenView, token_texts, token_views

__all__ = ["Analysis", "AttentionOptions", "FileReport", "analyze_file", "check_distinct", "sweep"]


@dataclass(frozen=True)
class AttentionOptions:
    """How compressed attention is scored (SPEC §8).

    Attributes
    ----------
    select_on : {"hidden", "q", "k"}
        Select on hidden states (one set per sequence, shared by its heads),
        or per head on the queries or keys.
    causal : bool
        Causal attention (decoder models).
    proportional : bool
        Weight each representative key by its group size (``log c``).
    qkv_keys : tuple of str
        Names of the query, key and value tensors in the file.
    """

    select_on: str = "hidden"
    causal: bool = False
    proportional: bool = True
    qkv_keys: tuple[str, str, str] = ("q", "k", "v")

    def __post_init__(self) -> None:
        keys = tuple(self.qkv_keys)
        if len(keys) != 3 or not all(isinstance(k, str) and k for k in keys):
            raise CascadeInputError(f"qkv_keys needs three names, got {self.qkv_keys!r}", param="qkv_keys")
        object.__setattr__(self, "qkv_keys", keys)
        if self.select_on not in ("hidden", "q", "k"):
            raise CascadeInputError(
                f"select_on must be 'hidden', 'q' or 'k', got {self.select_on!r}", param="select_on"
            )


@dataclass(frozen=True)
class Analysis:
    """The parameters of an analysis of files: what to read and how to select (:func:`cascade_core.run`).

    Attributes
    ----------
    tau : float
        Threshold in ``(0, 1]``.
    key, layout, lengths, mask : str, optional
        What to read, as for :func:`cascade_core.load`.
    layers : str, optional
        Which layers to run, as for :func:`cascade_core.run` (``"1:"``).
    center, reference, recompute_ratio, recompute_every, backend, tile, algorithm
        As for :func:`cascade_core.run`.
    attention : AttentionOptions, optional
        Also score compressed attention (needs q, k, v in the file).
    views : bool
        Also keep the per-token views (:class:`~cascade_core.TokenView`:
        sets, groups and token text of every sequence) in
        :attr:`FileReport.views`; the run then records assignments.
    """

    tau: float
    key: str | None = None
    layout: str | None = None
    lengths: str | None = None
    mask: str | None = None
    layers: str | None = None
    center: bool = False
    reference: bool = True
    recompute_ratio: float | None = None
    recompute_every: int | None = None
    backend: str = "auto"
    tile: int | None = None
    algorithm: str = "chosen-rows"
    attention: AttentionOptions | None = None
    views: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", check_tau(self.tau))  # before any file is opened

    def at(self, tau: float) -> Analysis:
        """The same analysis at another threshold."""
        return replace(self, tau=tau)


@dataclass
class FileReport:
    """One input's results, as they go into a report.

    Attributes
    ----------
    input : dict
        What was read: path, SHA-256, format, tensor, layout, shape, dtype, metadata.
    result : RunResult
        The selection run.
    attention : dict or None
        Attention records and overall errors, when scored.
    views : list of TokenView or None
        One per sequence (slice), with ``Analysis(views=True)``.
    """

    input: dict
    result: RunResult
    attention: dict | None = None
    views: list[TokenView] | None = None


def analyze_file(
    path: str | os.PathLike, analysis: Analysis, *, progress: Callable[[int, int], None] | None = None
) -> FileReport:
    """Load one file, run the selection over its layers and (if asked) score attention.

    Parameters
    ----------
    path : str or os.PathLike
        Activations in any format :func:`cascade_core.load` reads.
    analysis : Analysis
        What to read and how to select.
    progress : callable, optional
        ``progress(done, total)``: called with 0 once the file is found,
        then after each layer.

    Returns
    -------
    FileReport
    """
    data = load(
        path,
        key=read_key(analysis),
        layout=analysis.layout,
        lengths=analysis.lengths,
        mask=analysis.mask,
        layers=analysis.layers,
    )
    return analyze_activations(data, analysis, progress=progress)


def read_key(analysis: Analysis) -> str | None:
    """The tensor an analysis selects on: its `key`, or the queries or keys when attention selects on them."""
    options = analysis.attention
    if options is not None and options.select_on != "hidden":
        return options.qkv_keys["qk".index(options.select_on)]
    return analysis.key


def analyze_activations(
    data: Activations, analysis: Analysis, *, progress: Callable[[int, int], None] | None = None
) -> FileReport:
    """:func:`analyze_file` on activations already found (:func:`cascade_core.load`, or a dataset row)."""
    from .report import input_description

    options = analysis.attention
    total = len(data.layers)
    if progress is not None:
        progress(0, total)
    try:
        result = run(
            data.layers,
            analysis.tau,
            center=analysis.center,
            reference=analysis.reference,
            recompute_ratio=analysis.recompute_ratio,
            recompute_every=analysis.recompute_every,
            lengths=data.lengths,
            mask=data.mask,
            backend=analysis.backend,
            tile=analysis.tile,
            algorithm=analysis.algorithm,
            assign=options is not None or analysis.views,
            progress=None if progress is None else lambda position: progress(position + 1, total),
        )
        attention = None if options is None else _attention(data, result, analysis, options)
        views = _views(data, result) if analysis.views else None
    except CascadeInputError as err:
        raise err.located(path=data.path) from None
    return FileReport(input_description(data), result, attention, views)


def _views(data: Activations, result: RunResult) -> list[TokenView]:
    """Per-token views of every slice, with the file's token text where it has some."""
    *slices, n_tokens, _ = data.layers.layer_shape
    texts = token_texts(data.metadata, slices[0] if slices else None, n_tokens)
    return token_views(result, tokens=texts, lengths=data.lengths, mask=data.mask, path=data.path)


def _attention(data: Activations, result: RunResult, analysis: Analysis, options: AttentionOptions) -> dict:
    q, k, v = (data.stack(name) for name in options.qkv_keys)
    records, overall = attention_layers(
        q,
        k,
        v,
        result,
        select_on=options.select_on,
        causal=options.causal,
        proportional=options.proportional,
        lengths=data.lengths,
        mask=data.mask,
        backend=analysis.backend,
        tile=analysis.tile,
    )
    return {
        "select_on": options.select_on,
        "causal": options.causal,
        "proportional": options.proportional,
        "records": [rec.as_dict() for rec in records],
        "overall": overall,
    }


def sweep(
    paths: list[str | os.PathLike],
    taus: list[float],
    analysis: Analysis,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """The analysis of every file at every tau, reduced to one row per tau (``cascade-core/sweep/2``).

    Parameters
    ----------
    paths : list of path
        The inputs, each once (a file named twice is an error, not counted twice).
    taus : list of float
        The thresholds, increasing and distinct, at most
        :data:`~cascade_core._params.MAX_TAUS`; checked before any file is read.
    analysis : Analysis
        Everything else (its own `tau` is ignored).
    progress : callable, optional
        ``progress(label, done, total)``, as for :func:`analyze_file`, with a
        label naming the tau and the file.

    Returns
    -------
    dict
        The sweep document (:func:`cascade_core.report.sweep_document`).
    """
    from .report import document, sweep_document

    taus = check_taus(taus)
    check_distinct(paths)
    docs = []
    for t, tau in enumerate(taus):
        reports = []
        for i, path in enumerate(paths):
            label = f"tau {tau:g} ({t + 1}/{len(taus)}) [{i + 1}/{len(paths)}] {Path(path).name}"
            step = None if progress is None else functools.partial(progress, label)
            reports.append(analyze_file(path, analysis.at(tau), progress=step))
        docs.append(document(reports))
    return sweep_document(list(taus), docs)


def check_distinct(paths) -> None:
    """Refuse a file named twice (it would be read and counted twice).

    Parameters
    ----------
    paths : list of str or os.PathLike
        Inputs, before any is read.

    Raises
    ------
    CascadeInputError
        Naming the second mention of a file already given (same resolved path).
    """
    seen: set[str] = set()
    for path in paths:
        key = str(Path(path).resolve())
        if key in seen:
            raise CascadeInputError("given twice; name each input once", path=str(path))
        seen.add(key)
