"""Selectors compared on the same activations (SPEC §10): matched budget, matched tau, the same figures.

:func:`compare` reads the layers one at a time, as :func:`cascade_core.run`
does, and at every layer and slice runs each selector of
:mod:`cascade_core.selectors`: the threshold selectors at ``tau`` (matched
tau), the budget selectors at ADA's ``|R_l|`` of the same layer and slice
(matched budget, :func:`budget_of`). Every pick gets the figures of SPEC §10
(:mod:`cascade_core._set_figures`), and, where the input has ``q``, ``k`` and
``v``, the compressed-attention errors of SPEC §8 with the selector's groups.
:func:`compare_file` does the same for a file, as ``cascade-core compare``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import selectors as registry
from ._analysis import AttentionOptions
from ._attention import AttentionQuality, attention_heads
from ._errors import CascadeInputError
from ._gram import check_extent, check_floating, normalize
from ._io import Activations, load
from ._metrics import jaccard
from ._params import backend_for, check_tau, check_tile
from ._quality import head_sets, query_heads, spans_of
from ._runner import _is_array, _slices, _to_positions, _valid_tokens, iter_layers
from ._set_figures import coverage, largest_inside, residual
from ._xp import array_namespace, index_array
from .selectors import THRESHOLD, LayerInput, Selector, cost_flops, step

__all__ = [
    "AttentionRow",
    "CompareOptions",
    "Comparison",
    "FileComparison",
    "SelectorRecord",
    "SelectorTotals",
    "budget_of",
    "compare",
    "compare_file",
    "resolve_selectors",
    "selector_totals",
]

#: Budget sources: a budget selector gets the size of this threshold selector's set at the same layer and slice.
BUDGET_SOURCES = ("ada", "cascade")


@dataclass(frozen=True)
class SelectorRecord:
    """One selector at one layer of one slice (SPEC §10).

    Attributes
    ----------
    selector : str
        The selector's label (its name, and parameters that differ from the defaults).
    layer : int
        The input's layer index.
    slice : tuple of int
        Batch (and head) indices.
    T, r : int
        Valid tokens and the size of the set.
    budget : int or None
        The budget the selector was given (None for a threshold selector).
    cost : int
        In the selector's cost unit.
    flops : int
        The cost in FLOPs (``2 d`` per inner product, ``2 d_h`` per attention score).
    seconds : float
        Wall time of the selection step.
    jaccard_prev : float or None
        ``J(S_{l-1}, S_l)``; None at the run's first layer.
    covered : int
        Tokens whose largest similarity to the set is ``>= tau``, members included.
    max_inside : float or None
        Largest similarity between two members (None for fewer than two).
    residual_sq, norm_sq : float
        ``‖X̂ - X̂ P_S‖_F²`` and ``‖X̂‖_F²``.
    """

    selector: str
    layer: int
    slice: tuple[int, ...]
    T: int
    r: int
    budget: int | None
    cost: int
    flops: int
    seconds: float
    jaccard_prev: float | None
    covered: int
    max_inside: float | None
    residual_sq: float
    norm_sq: float

    @property
    def coverage(self) -> float:
        """Share of the ``T`` tokens covered at tau."""
        return self.covered / self.T

    @property
    def residual(self) -> float:
        """``‖X̂ - X̂ P_S‖_F / ‖X̂‖_F`` (0 for a layer of zero tokens)."""
        return math.sqrt(self.residual_sq / self.norm_sq) if self.norm_sq > 0 else 0.0

    def as_dict(self) -> dict:
        out = asdict(self)
        out["slice"] = list(self.slice)
        out["coverage"] = self.coverage
        out["residual"] = self.residual
        return out


@dataclass(frozen=True)
class AttentionRow:
    """Compressed attention (SPEC §8) with one selector's sets and groups at one layer, over sequences and heads."""

    selector: str
    layer: int
    entries_full: int
    entries_rr: int
    entries_tr: int
    rr: AttentionQuality
    tr: AttentionQuality

    def as_dict(self) -> dict:
        return {
            "selector": self.selector,
            "layer": self.layer,
            "entries_full": self.entries_full,
            "entries_rr": self.entries_rr,
            "entries_tr": self.entries_tr,
            "rr_error": self.rr.relative_error,
            "rr_cosine": self.rr.mean_cosine,
            "tr_error": self.tr.relative_error,
            "tr_cosine": self.tr.mean_cosine,
        }


@dataclass(frozen=True)
class SelectorTotals:
    """One selector over a run (or several): sums, means and pooled figures.

    ``coverage`` is covered tokens over all tokens; ``residual`` and the
    attention errors are pooled (square roots of summed squares);
    ``max_inside`` is the largest over every layer and slice; ``mean_jaccard``
    runs over the layers after the first, as in SPEC §7.
    """

    selector: str
    name: str
    takes: str
    cost_unit: str
    records: int
    tokens: int
    reps: int
    mean_r_over_T: float
    cost: int
    flops: int
    seconds: float
    mean_jaccard: float | None
    coverage: float
    max_inside: float | None
    residual: float
    rr_error: float | None = None
    rr_cosine: float | None = None
    tr_error: float | None = None
    tr_cosine: float | None = None
    entries_rr: int | None = None
    entries_tr: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Comparison:
    """Everything :func:`compare` produced.

    Attributes
    ----------
    selectors : list of Selector
        The selectors run, in order.
    records : list of SelectorRecord
        One per (selector, layer, slice).
    attention : list of AttentionRow
        One per (selector, scored layer); empty without attention.
    totals : dict
        :class:`SelectorTotals` by selector label.
    sets, groups : dict
        ``sets[label][slice][i]``: the set of the ``i``-th layer run, and
        every valid token's representative, as token positions of the input.
    params : dict
        The parameters of the comparison (and ``skipped``: selectors left
        out because the input lacks what they need).
    layer_ids : list of int
        The input's index of each layer run.
    """

    selectors: list[Selector]
    records: list[SelectorRecord]
    attention: list[AttentionRow]
    totals: dict[str, SelectorTotals]
    sets: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    layer_ids: list[int] = field(default_factory=list)


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return math.fsum(values) / len(values) if values else None


def selector_totals(selector: Selector, records: list[SelectorRecord], attention: list[AttentionRow]) -> SelectorTotals:
    """The totals of one selector from its records and attention rows (of one run or of several)."""
    label = selector.label()
    mine = [rec for rec in records if rec.selector == label]
    rows = [row for row in attention if row.selector == label]
    residual_sq = math.fsum(rec.residual_sq for rec in mine)
    norm_sq = math.fsum(rec.norm_sq for rec in mine)
    inside = [rec.max_inside for rec in mine if rec.max_inside is not None]
    totals = SelectorTotals(
        selector=label,
        name=selector.name,
        takes=selector.takes,
        cost_unit=selector.cost_unit,
        records=len(mine),
        tokens=sum(rec.T for rec in mine),
        reps=sum(rec.r for rec in mine),
        mean_r_over_T=_mean([rec.r / rec.T for rec in mine]) or 0.0,
        cost=sum(rec.cost for rec in mine),
        flops=sum(rec.flops for rec in mine),
        seconds=math.fsum(rec.seconds for rec in mine),
        mean_jaccard=_mean([rec.jaccard_prev for rec in mine]),
        coverage=sum(rec.covered for rec in mine) / max(1, sum(rec.T for rec in mine)),
        max_inside=max(inside) if inside else None,
        residual=math.sqrt(residual_sq / norm_sq) if norm_sq > 0 else 0.0,
    )
    if rows:
        zero = AttentionQuality(0.0, 0.0, 0.0, 0)
        rr = sum((row.rr for row in rows), zero)
        tr = sum((row.tr for row in rows), zero)
        totals = replace(
            totals,
            rr_error=rr.relative_error,
            rr_cosine=rr.mean_cosine,
            tr_error=tr.relative_error,
            tr_cosine=tr.mean_cosine,
            entries_rr=sum(row.entries_rr for row in rows),
            entries_tr=sum(row.entries_tr for row in rows),
        )
    return totals


def check_budget_source(budget) -> str | float:
    """``"ada"``, ``"cascade"`` or a fraction in ``(0, 1]``; else a :class:`CascadeInputError`."""
    if isinstance(budget, str) and budget in BUDGET_SOURCES:
        return budget
    try:
        value = float(budget)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(budget, bool) or not (0.0 < value <= 1.0):
        raise CascadeInputError(
            f"budget must be 'ada', 'cascade' or a fraction of the tokens in (0, 1], got {budget!r}", param="budget"
        )
    return value


def budget_of(budget: str | float, n_tokens: int, source_size: int | None) -> int:
    """The budget ``r`` of a budget selector at one layer and slice.

    Matched budget (``"ada"`` or ``"cascade"``): the size of that selector's
    set at the same layer and slice. A fraction ``f``: ``ceil(f · T)``.
    """
    if isinstance(budget, str):
        return source_size
    return max(1, math.ceil(budget * n_tokens - 1e-9))


def resolve_selectors(selectors, *, available: set[str], backend=None) -> tuple[list[Selector], dict[str, str]]:
    """Selector instances to run, and the selectors left out (by name, with the reason).

    Parameters
    ----------
    selectors : sequence of str or Selector, or None
        Names (``"tome"``, ``"topk-reuse:every=3"``) or instances; None: every
        registered selector whose needs the input meets.
    available : set of str
        Tensors the input has beyond the activations (``{"q", "k", "v"}``).
    backend : Backend, optional
        Also refuse selectors that cannot run on it (before any work).
    """
    skipped: dict[str, str] = {}
    if selectors is None:
        chosen = []
        for name in registry.names():
            selector = registry.make(name)
            missing = [t for t in selector.needs if t not in available]
            if missing:
                skipped[name] = f"needs {', '.join(missing)} in the input"
            else:
                chosen.append(selector)
    else:
        if isinstance(selectors, str):
            selectors = [part for part in selectors.split(",") if part.strip()]
        chosen = [registry.make(spec) for spec in selectors]
        if not chosen:
            raise CascadeInputError("selectors: name at least one selector", param="selectors")
        for selector in chosen:
            missing = [t for t in selector.needs if t not in available]
            if missing:
                raise CascadeInputError(
                    f"selectors: {selector.name!r} needs {', '.join(missing)} in the input "
                    "(export them with export-hf --qkv)",
                    param="selectors",
                )
    labels = [s.label() for s in chosen]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise CascadeInputError(f"selectors: {', '.join(twice)} named twice", param="selectors")
    if backend is not None:
        for selector in chosen:
            selector.check(backend)
    return chosen, skipped


def _check_layer(layer, layer_index: int, first_shape) -> tuple[int, ...]:
    """The checks :func:`cascade_core.run` makes of a layer (SPEC §9); returns its shape."""
    if not _is_array(layer) or not 2 <= layer.ndim <= 4:
        shape = tuple(layer.shape) if _is_array(layer) else type(layer).__name__
        raise CascadeInputError(f"expected a (T, d), (B, T, d) or (B, H, T, d) layer, got {shape}", layer=layer_index)
    try:
        check_floating(array_namespace(layer), layer.dtype)
        if first_shape is None:
            check_extent(*layer.shape[-2:])
    except CascadeInputError as err:
        raise err.located(layer=layer_index) from None
    shape = tuple(layer.shape)
    if first_shape is not None and shape != first_shape:
        raise CascadeInputError(
            f"shape {shape} differs from the first layer's {first_shape} (every layer needs the same T and d)",
            layer=layer_index,
        )
    return shape


def _heads_of(q, k, where, positions, n_valid, select_on: str):
    """Queries and keys ``(H', T, d_h)`` of the heads that read slice `where`, on its valid tokens."""
    xp = array_namespace(q, k)
    b = where[0] if where else 0
    group = q.shape[1] // k.shape[1]
    heads = query_heads(select_on, where if where else (0,), q.shape[1], group)
    q_s = xp.take(q[b, ...], index_array(heads, like=q), axis=0)
    k_s = xp.take(k[b, ...], index_array([h // group for h in heads], like=k), axis=0)
    if positions is not None:
        return xp.take(q_s, positions, axis=1), xp.take(k_s, positions, axis=1)
    return q_s[:, :n_valid, :], k_s[:, :n_valid, :]


def _qkv_layer(tensors, layer_index: int, engine, n_batch: int, n_tokens: int):
    """``(q, k, v)`` of one layer in the engine's namespace, checked, or None where the input has none."""
    q_layers, k_layers, v_layers = tensors
    if q_layers is None or layer_index >= len(q_layers):
        return None
    found = []
    for name, layers in (("q", q_layers), ("k", k_layers), ("v", v_layers)):
        if layers is None:
            found.append(None)
            continue
        a = engine.native(layers[layer_index])
        if a.ndim != 4 or a.shape[0] != n_batch or a.shape[2] != n_tokens:
            raise CascadeInputError(
                f"{name} must be (B, H, T, d_h) with B = {n_batch} and T = {n_tokens}, got {tuple(a.shape)}",
                layer=layer_index,
            )
        found.append(a)
    q, k, _ = found
    if k is not None and q.shape[1] % k.shape[1]:
        raise CascadeInputError(f"{q.shape[1]} query heads do not group over {k.shape[1]} key heads", layer=layer_index)
    return tuple(found)


def compare(
    activations,
    tau: float,
    *,
    selectors=None,
    budget: str | float = "ada",
    q=None,
    k=None,
    v=None,
    attention: bool | None = None,
    select_on: str = "hidden",
    causal: bool = False,
    proportional: bool = True,
    center: bool = False,
    lengths=None,
    mask=None,
    layers=None,
    backend: str = "auto",
    tile: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Comparison:
    """Run several selectors on the same layers, at matched budget and matched tau (SPEC §10).

    Parameters
    ----------
    activations : array or iterable of arrays
        As for :func:`cascade_core.run`: a stacked array, a
        :class:`LayerStack` or per-layer arrays ``(T, d)``, ``(B, T, d)`` or
        ``(B, H, T, d)``.
    tau : float
        The threshold in ``(0, 1]``: of the threshold selectors, and of the
        coverage figure for every selector.
    selectors : sequence of str or Selector, optional
        Names from :func:`cascade_core.selectors.names` (with parameters:
        ``"topk-reuse:every=3"``) or instances. Default: every registered
        selector whose needs the input meets (``topk-reuse`` needs `q` and `k`).
    budget : {"ada", "cascade"} or float, default "ada"
        Matched budget: each budget selector gets the size of ADA's (or the
        cascade's) set at the same layer and slice; or a fraction ``f`` of the
        tokens (``ceil(f T)``).
    q, k, v : sequences of arrays ``(B, H, T, d_h)``, optional
        Per attention layer, indexed by the input's layer index: attention
        layer ``i`` reads the activations of layer ``i`` (hidden states are
        written embeddings first). ``k`` and ``v`` may have fewer heads.
    attention : bool, optional
        Score compressed attention (SPEC §8) with every selector's sets and
        groups; default: when `q`, `k` and `v` are given.
    select_on : {"hidden", "k", "q"}
        What the activations are: hidden states (one set per sequence), or the
        per-head keys or queries (one set per head).
    causal, proportional : bool
        As in :func:`cascade_core.rr_attention` (and ``causal`` for
        ``topk-reuse``'s attention mass).
    center, lengths, mask, layers, backend, tile
        As for :func:`cascade_core.run`.
    progress : callable, optional
        Called with the position of each layer in the run once it is done.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> import numpy as np
    >>> import cascade_core as cc
    >>> x = np.random.default_rng(0).standard_normal((3, 40, 8))
    >>> result = cc.compare(x, 0.5, selectors=["ada", "cascade", "tome", "random"])
    >>> [(name, t.reps) for name, t in result.totals.items()]  # summed over layers: tome and random get ADA's r
    [('ada', 30), ('cascade', 31), ('tome', 30), ('random', 30)]
    >>> result.totals["ada"].coverage, result.totals["tome"].coverage < 1
    (1.0, True)
    """
    tau = check_tau(tau)
    tile = check_tile(tile)
    budget = check_budget_source(budget)
    if select_on not in ("hidden", "k", "q"):
        raise CascadeInputError(f"select_on must be 'hidden', 'k' or 'q', got {select_on!r}", param="select_on")
    given = {name for name, tensor in (("q", q), ("k", k), ("v", v)) if tensor is not None}
    if attention is None:
        attention = given == {"q", "k", "v"}
    elif attention and given != {"q", "k", "v"}:
        raise CascadeInputError("attention needs q, k and v", param="attention")
    chosen, skipped = resolve_selectors(selectors, available=given)
    labels = [s.label() for s in chosen]
    source = None
    if isinstance(budget, str) and any(s.takes != THRESHOLD for s in chosen):
        source = next((s for s in chosen if s.label() == budget), None) or registry.make(budget)
    ordered = ([source] if source is not None else []) + [s for s in chosen if s is not source]

    records: list[SelectorRecord] = []
    rows: list[AttentionRow] = []
    sets: dict = {label: {} for label in labels}
    groups: dict = {label: {} for label in labels}
    states: dict = {id(s): {} for s in ordered}
    previous: dict = {label: {} for label in labels}
    layer_ids: list[int] = []
    first_shape = None
    engine = None
    valid = None
    slice_shape: list[int] = []

    for position, (layer_index, layer) in enumerate(iter_layers(activations, layers)):
        shape = _check_layer(layer, layer_index, first_shape)
        if first_shape is None:
            first_shape = shape
            *slice_shape, n_tokens, _ = shape
            if (select_on == "hidden" and len(slice_shape) > 1) or (select_on != "hidden" and len(slice_shape) != 2):
                raise CascadeInputError(
                    f"select_on={select_on!r} does not fit layers of shape {shape}", param="select_on"
                )
            valid = _valid_tokens(lengths, mask, slice_shape, n_tokens)
            engine = backend_for(backend, layer)
            engine.warm_up()
            for selector in ordered:
                selector.check(engine)
        layer_ids.append(layer_index)
        given_layer, native = layer, engine.native(layer)
        n_batch = slice_shape[0] if slice_shape else 1
        qkv = _qkv_layer((q, k, v), layer_index, engine, n_batch, shape[-2]) if given else None
        picks_here: dict = {label: {} for label in labels}

        for where, x, positions in _slices(native, slice_shape, valid):
            try:
                xh = normalize(x, center=center)
            except CascadeInputError as err:
                token = err.token if err.token is None or positions is None else int(positions[err.token])
                raise CascadeInputError(err.reason, layer=layer_index, slice=where, token=token) from None
            q_s = k_s = None
            if qkv is not None and qkv[1] is not None:
                q_s, k_s = _heads_of(qkv[0], qkv[1], where, positions, xh.shape[0], select_on)
            base = LayerInput(
                xh=xh,
                x=x,
                tau=tau,
                layer=layer_index,
                position=position,
                where=tuple(where),
                q=q_s,
                k=k_s,
                causal=causal,
                backend=engine,
                tile=tile,
            )
            source_size = None
            for selector in ordered:
                r = None
                if selector.takes != THRESHOLD:
                    r = budget_of(budget, xh.shape[0], source_size)
                pick, seconds = step(selector, replace(base, r=r), states[id(selector)].get(where))
                states[id(selector)][where] = pick.state
                if selector is source:
                    source_size = pick.reps.shape[0]
                label = selector.label()
                if label not in sets:
                    continue  # the budget source, run for its size only
                records.append(_record(label, selector, pick, seconds, replace(base, r=r), previous[label].get(where)))
                previous[label][where] = pick.reps
                reps_at, groups_at = _to_positions(pick.reps, positions), _to_positions(pick.groups, positions)
                picks_here[label][where if where else (0,)] = (reps_at, groups_at)
                sets[label].setdefault(where, []).append(engine.export(reps_at, like=given_layer))
                groups[label].setdefault(where, []).append(engine.export(groups_at, like=given_layer))
        if attention and qkv is not None:
            rows.extend(
                _score_layer(qkv, picks_here, layer_index, engine, lengths, mask, select_on, causal, proportional, tile)
            )
        if progress is not None:
            progress(position)

    if first_shape is None:
        raise CascadeInputError("no layers in the input")
    params = {
        "tau": tau,
        "budget": budget,
        "selectors": [{"label": s.label(), "name": s.name, "takes": s.takes, "params": s.params()} for s in chosen],
        "skipped": skipped,
        "center": center,
        "backend": engine.name,
        "tile": tile,
        "select_on": select_on,
        "attention": bool(attention),
        "causal": causal,
        "proportional": proportional,
    }
    if layers is not None or getattr(activations, "indices", None) is not None:
        params["layers"] = layer_ids
    totals = {s.label(): selector_totals(s, records, rows) for s in chosen}
    return Comparison(chosen, records, rows, totals, sets, groups, params, layer_ids)


def _record(label: str, selector: Selector, pick, seconds: float, layer: LayerInput, prev) -> SelectorRecord:
    """The figures of SPEC §10 of one pick (`prev`: the same slice's set at the previous layer, or None)."""
    xh, reps = layer.xh, pick.reps
    residual_sq, norm_sq = residual(xh, reps)
    return SelectorRecord(
        selector=label,
        layer=layer.layer,
        slice=layer.where,
        T=xh.shape[0],
        r=reps.shape[0],
        budget=layer.r,
        cost=pick.cost,
        flops=cost_flops(selector.cost_unit, pick.cost, layer),
        seconds=seconds,
        jaccard_prev=None if prev is None else jaccard(prev, reps),
        covered=coverage(xh, reps, layer.tau, backend=layer.backend, tile=layer.tile),
        max_inside=largest_inside(xh, reps, backend=layer.backend, tile=layer.tile),
        residual_sq=residual_sq,
        norm_sq=norm_sq,
    )


def _score_layer(qkv, picks, layer_index, engine, lengths, mask, select_on, causal, proportional, tile):
    """SPEC §8 at one layer with every selector's sets and groups, against one full attention."""
    q, k, v = qkv
    n_batch, n_heads, n_tokens = q.shape[0], q.shape[1], q.shape[2]
    group = n_heads // k.shape[1]
    spans = spans_of(n_batch, n_tokens, lengths, mask)
    sources = {
        label: head_sets(mine, select_on=select_on, group=group, spans=spans, engine=engine, layer=layer_index)
        for label, mine in picks.items()
    }
    scores = attention_heads(q, k, v, sources, causal=causal, proportional=proportional, spans=spans, tile=tile)
    return [
        AttentionRow(
            selector=label,
            layer=layer_index,
            entries_full=scores["entries"],
            entries_rr=scores[label]["rr_entries"],
            entries_tr=scores[label]["tr_entries"],
            rr=scores[label]["rr"],
            tr=scores[label]["tr"],
        )
        for label in sources
    ]


@dataclass(frozen=True)
class CompareOptions:
    """What ``cascade-core compare`` reads and runs (:func:`compare_file`).

    Attributes
    ----------
    tau : float
        The threshold.
    selectors : tuple of str, optional
        Selector names (with parameters); default every registered one the
        file has the tensors for.
    budget : {"ada", "cascade"} or float
        As in :func:`compare`.
    key, layout, lengths, mask, layers : str, optional
        What to read, as for :func:`cascade_core.load`.
    center, backend, tile
        As for :func:`compare`.
    attention : bool, optional
        Score compressed attention; default: when the file has q, k and v.
    qkv : AttentionOptions
        Names of q, k, v in the file, what to select on, causal, proportional.
    """

    tau: float
    selectors: tuple[str, ...] | None = None
    budget: str | float = "ada"
    key: str | None = None
    layout: str | None = None
    lengths: str | None = None
    mask: str | None = None
    layers: str | None = None
    center: bool = False
    backend: str = "auto"
    tile: int | None = None
    attention: bool | None = None
    qkv: AttentionOptions = field(default_factory=AttentionOptions)


@dataclass
class FileComparison:
    """One input's comparison, as it goes into a report.

    Attributes
    ----------
    input : dict
        What was read: path, SHA-256, format, tensor, layout, shape, dtype, metadata.
    result : Comparison
        The comparison.
    """

    input: dict
    result: Comparison


def _tensor(data: Activations, name: str):
    """The per-layer stack `name` of the file, or None when the file has no such tensor."""
    names = {ref.name for ref in data.tensors}
    if "{l}" not in name and name not in names:
        return None
    return data.stack(name)


def compare_file(
    path: str | os.PathLike, options: CompareOptions, *, progress: Callable[[int, int], None] | None = None
) -> FileComparison:
    """Load one file and compare the selectors on its layers (what ``cascade-core compare`` runs per file).

    Parameters
    ----------
    path : str or os.PathLike
        Activations in any format :func:`cascade_core.load` reads; ``q``,
        ``k``, ``v`` (``export-hf --qkv``) are used when present.
    options : CompareOptions
        What to read and run.
    progress : callable, optional
        ``progress(done, total)``: called with 0 once the file is found, then
        after each layer.

    Returns
    -------
    FileComparison
    """
    from .report import input_description

    qkv = options.qkv
    key = options.key if qkv.select_on == "hidden" else qkv.qkv_keys["qk".index(qkv.select_on)]
    data = load(path, key=key, layout=options.layout, lengths=options.lengths, mask=options.mask, layers=options.layers)
    try:
        q, k, v = (_tensor(data, name) for name in qkv.qkv_keys)
        total = len(data.layers)
        if progress is not None:
            progress(0, total)
        result = compare(
            data.layers,
            options.tau,
            selectors=options.selectors,
            budget=options.budget,
            q=q,
            k=k,
            v=v,
            attention=options.attention,
            select_on=qkv.select_on,
            causal=qkv.causal,
            proportional=qkv.proportional,
            center=options.center,
            lengths=data.lengths,
            mask=data.mask,
            backend=options.backend,
            tile=options.tile,
            progress=None if progress is None else lambda position: progress(position + 1, total),
        )
    except CascadeInputError as err:
        raise err.located(path=str(Path(data.path))) from None
    return FileComparison(input_description(data), result)
