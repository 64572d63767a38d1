"""A whole run (SPEC §1, §5, §7): layers one at a time, every slice, ADA and the cascade.

The runner reads one layer at a time from any iterable (or slices a stacked
array lazily, so a memory-mapped file is never read whole), keeps per slice
only the previous layer's sets, and returns per-layer records and run totals.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from ._xp import Array, array_namespace, index_array
from .ada import ada_normalized
from .assignment import assign_normalized
from .cascade import cascade_normalized, needs_recompute
from .errors import CascadeInputError
from .gram import check_dtype, normalize
from .metrics import LayerRecord, RunTotals, jaccard, summarize
from .options import backend_for, check_tau, check_tile

__all__ = ["RunResult", "run", "iter_layers"]

#: ndim of a stacked input -> its layout (SPEC §1).
LAYOUTS = {2: "TD", 3: "LTD", 4: "LBTD", 5: "LBHTD"}


@dataclass
class RunResult:
    """Everything a run produced.

    Attributes
    ----------
    records
        One :class:`LayerRecord` per (layer, slice), in the order run.
    totals
        The run totals (:class:`RunTotals`).
    sets
        ``sets[slice][layer]``: the run's representative set (token
        positions in the input, increasing), in the input's namespace.
    reference_sets
        The same for the per-layer ADA reference (empty without it).
    params
        The parameters of the run.
    assignments, reference_assignments
        With ``assign=True``: ``assignments[slice][layer]``, the
        representative (a token position) of every valid token, in token order.
    """

    records: list[LayerRecord]
    totals: RunTotals
    sets: dict[tuple[int, ...], list[Array]] = field(default_factory=dict)
    reference_sets: dict[tuple[int, ...], list[Array]] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    assignments: dict[tuple[int, ...], list[Array]] = field(default_factory=dict)
    reference_assignments: dict[tuple[int, ...], list[Array]] = field(default_factory=dict)


def _is_array(obj) -> bool:
    return all(hasattr(obj, name) for name in ("shape", "ndim", "dtype"))


def iter_layers(layers) -> Iterator[Array]:
    """Per-layer arrays ``(*slices, T, d)`` of `layers`, one at a time.

    A stacked array is read along its first axis by the ndim rule of SPEC §1
    (2: one layer; 3: ``(L, T, d)``; 4: ``(L, B, T, d)``; 5:
    ``(L, B, H, T, d)``); anything else is iterated as given, one layer an item.
    """
    if _is_array(layers):
        if layers.ndim not in LAYOUTS:
            raise CascadeInputError(
                f"expected 2 to 5 dimensions (T, d), (L, T, d), (L, B, T, d) or (L, B, H, T, d), "
                f"got shape {tuple(layers.shape)}"
            )
        if layers.ndim == 2:
            yield layers
            return
        for index in range(layers.shape[0]):
            yield layers[index, ...]
        return
    if not isinstance(layers, Iterable):
        raise CascadeInputError(f"expected an array or an iterable of per-layer arrays, got {type(layers).__name__}")
    yield from layers


def _valid_tokens(lengths, mask, slice_shape, n_tokens):
    """Per batch index: None (all tokens), an int (a prefix) or a list of positions."""
    if lengths is not None and mask is not None:
        raise CascadeInputError("give lengths or mask, not both")
    if lengths is None and mask is None:
        return None
    if not slice_shape:
        raise CascadeInputError("lengths and mask need a batch axis: (L, B, T, d) or (L, B, H, T, d)")
    batch = slice_shape[0]
    if lengths is not None:
        values = [int(v) for v in lengths]
        if len(values) != batch:
            raise CascadeInputError(f"lengths has {len(values)} entries, expected one per sequence (B = {batch})")
        for b, n in enumerate(values):
            if not 1 <= n <= n_tokens:
                raise CascadeInputError(f"length {n} outside 1 .. {n_tokens} (T = 0 is an error)", slice=(b,))
        return values
    rows = [[bool(v) for v in row] for row in mask]
    if len(rows) != batch or any(len(row) != n_tokens for row in rows):
        raise CascadeInputError(f"mask must have shape (B, T) = ({batch}, {n_tokens})")
    positions = []
    for b, row in enumerate(rows):
        valid = [t for t, keep in enumerate(row) if keep]
        if not valid:
            raise CascadeInputError("mask marks no valid token (T = 0)", slice=(b,))
        positions.append(valid)
    return positions


def run(
    layers,
    tau: float,
    *,
    center: bool = False,
    reference: bool = True,
    recompute_ratio: float | None = None,
    recompute_every: int | None = None,
    lengths=None,
    mask=None,
    backend: str = "auto",
    tile: int | None = None,
    assign: bool = False,
    progress=None,
) -> RunResult:
    """Run ADA on the first layer and the cascade after it, for every slice.

    Parameters
    ----------
    layers
        A stacked array (ndim 2 to 5, SPEC §1) or any iterable of per-layer
        arrays ``(T, d)``, ``(B, T, d)`` or ``(B, H, T, d)``; read one layer at
        a time.
    tau
        Threshold in ``(0, 1]``.
    center
        Subtract each slice's mean token before normalising.
    reference
        Also run ADA on every layer, for the agreement metric.
    recompute_ratio
        Send a layer back to ADA when ``|D| + |A| > ratio * |R_l|`` (SPEC §5).
    recompute_every
        Run ADA on every layer whose index is a multiple of this.
    lengths
        ``(B,)`` valid lengths of padded sequences (tokens ``0 .. n-1``).
    mask
        ``(B, T)`` boolean mask of valid tokens (instead of `lengths`).
    backend
        ``"auto"`` or a backend name (:func:`cascade_core.backends`).
    tile
        Rows of a Gram tile (default: :func:`cascade_core.gram.tile_rows`,
        about 4 Mi similarities a tile).
    assign
        Also record every set's assignment (SPEC §4), for compressed
        attention; costs ``(T - r) r`` inner products a set, not counted in
        the selection ops.
    progress
        Called with each layer's index once the layer is done.

    Returns
    -------
    RunResult

    Examples
    --------
    >>> import numpy as np
    >>> import cascade_core as cc
    >>> x = np.random.default_rng(0).standard_normal((3, 50, 8))
    >>> result = cc.run(x, 0.5)
    >>> [rec.method for rec in result.records]
    ['ada', 'cascade', 'cascade']
    >>> result.totals.layers, result.totals.ops_ada
    (3, 7500)
    """
    tau = check_tau(tau)
    tile = check_tile(tile)
    if recompute_every is not None and (
        isinstance(recompute_every, bool) or not isinstance(recompute_every, int) or recompute_every < 1
    ):
        raise CascadeInputError(f"recompute_every must be a positive integer, got {recompute_every!r}")
    if recompute_ratio is not None and not (isinstance(recompute_ratio, (int, float)) and recompute_ratio >= 0):
        raise CascadeInputError(f"recompute_ratio must be a number >= 0, got {recompute_ratio!r}")

    records: list[LayerRecord] = []
    sets: dict[tuple[int, ...], list[Array]] = {}
    reference_sets: dict[tuple[int, ...], list[Array]] = {}
    assignments: dict[tuple[int, ...], list[Array]] = {}
    reference_assignments: dict[tuple[int, ...], list[Array]] = {}
    prev: dict[tuple[int, ...], Array] = {}
    prev_ada: dict[tuple[int, ...], Array] = {}
    first_shape = None
    valid = None
    engine = None

    for layer_index, layer in enumerate(iter_layers(layers)):
        if not _is_array(layer) or not 2 <= layer.ndim <= 4:
            shape = tuple(layer.shape) if _is_array(layer) else type(layer).__name__
            raise CascadeInputError(
                f"expected a (T, d), (B, T, d) or (B, H, T, d) layer, got {shape}", layer=layer_index
            )
        xp = array_namespace(layer)
        try:
            check_dtype(xp, layer.dtype)
        except CascadeInputError as err:
            raise err.located(layer=layer_index) from None
        shape = tuple(layer.shape)
        if first_shape is None:
            first_shape = shape
            *slice_shape, n_tokens, n_features = shape
            if n_tokens == 0 or n_features == 0:
                raise CascadeInputError(f"empty activations: T = {n_tokens}, d = {n_features}", layer=layer_index)
            valid = _valid_tokens(lengths, mask, slice_shape, n_tokens)
            engine = backend_for(backend, layer)
            if hasattr(engine, "warm_up"):
                engine.warm_up()
        elif shape != first_shape:
            raise CascadeInputError(
                f"shape {shape} differs from layer 0's {first_shape} (every layer needs the same T and d)",
                layer=layer_index,
            )
        given, layer = layer, engine.native(layer)

        for where, x, positions in _slices(layer, slice_shape, valid):
            try:
                xh = normalize(x, center=center)
                record, reps, ada_reps = _select_layer(
                    xh,
                    layer_index,
                    where,
                    prev.get(where),
                    prev_ada.get(where),
                    tau=tau,
                    reference=reference,
                    engine=engine,
                    tile=tile,
                    recompute_ratio=recompute_ratio,
                    recompute_every=recompute_every,
                )
            except CascadeInputError as err:
                token = err.token
                if token is not None and positions is not None:
                    token = int(positions[token])
                raise CascadeInputError(err.reason, layer=layer_index, slice=where, token=token) from None
            records.append(record)
            prev[where] = reps
            sets.setdefault(where, []).append(engine.export(_to_positions(reps, positions), like=given))
            if reference:
                prev_ada[where] = ada_reps
                reference_sets.setdefault(where, []).append(
                    engine.export(_to_positions(ada_reps, positions), like=given)
                )
            if assign:
                for chosen, store in ((reps, assignments), (ada_reps if reference else None, reference_assignments)):
                    if chosen is not None:
                        nearest = _to_positions(assign_normalized(xh, chosen, tile=tile), positions)
                        store.setdefault(where, []).append(engine.export(nearest, like=given))
            del xh
        if progress is not None:
            progress(layer_index)

    if first_shape is None:
        raise CascadeInputError("no layers in the input")
    layout = LAYOUTS[layers.ndim] if _is_array(layers) else "per layer " + LAYOUTS[len(first_shape) + 1][1:]
    params = {
        "tau": tau,
        "center": center,
        "reference": reference,
        "recompute_ratio": recompute_ratio,
        "recompute_every": recompute_every,
        "backend": engine.name,
        "tile": tile,
        "layout": layout,
    }
    return RunResult(records, summarize(records), sets, reference_sets, params, assignments, reference_assignments)


def _select_layer(xh, layer, where, prev, prev_ada, *, tau, reference, engine, tile, recompute_ratio, recompute_every):
    """Select one layer of one slice (normalised tokens `xh`); return its record, set and ADA reference set."""
    n = xh.shape[0]
    engine.synchronize()  # time the selection only, not queued normalisation
    start = time.perf_counter()
    ada_reps = None
    seconds_ada = None
    removed = added = uncovered = 0
    if prev is None or (recompute_every is not None and layer % recompute_every == 0):
        method = "ada"
        selection = ada_normalized(xh, tau, backend=engine, tile=tile)
        reps, ops = selection.reps, selection.ops
        ada_reps = reps
    else:
        step = cascade_normalized(prev, xh, tau, backend=engine, tile=tile)
        removed, added, uncovered = step.removed, step.added.shape[0], step.uncovered.shape[0]
        reps, ops, method = step.reps, step.ops, "cascade"
        if needs_recompute(step, prev.shape[0], recompute_ratio):
            selection = ada_normalized(xh, tau, backend=engine, tile=tile)
            reps, ops, method = selection.reps, step.ops + selection.ops, "recompute"
            ada_reps = reps
    engine.synchronize()
    seconds = time.perf_counter() - start
    if ada_reps is not None:
        seconds_ada = seconds
    elif reference:
        start = time.perf_counter()
        ada_reps = ada_normalized(xh, tau, backend=engine, tile=tile).reps
        engine.synchronize()
        seconds_ada = time.perf_counter() - start

    record = LayerRecord(
        layer=layer,
        slice=tuple(where),
        method=method,
        T=n,
        r=reps.shape[0],
        removed=removed,
        added=added,
        uncovered=uncovered,
        ops=ops,
        ops_ada=n * n,
        seconds=seconds,
        jaccard_prev=None if prev is None else jaccard(prev, reps),
    )
    if reference:
        record = _with_reference(record, ada_reps, prev_ada, seconds_ada, reps)
    return record, reps, ada_reps


def _slices(layer: Array, slice_shape, valid):
    """``(where, x, positions)`` per (batch, head) slice: its valid tokens, and their positions if not a prefix."""
    xp = array_namespace(layer)
    for where in itertools.product(*(range(n) for n in slice_shape)):
        x = layer[(*where, ...)]
        positions = None
        if valid is not None:
            keep = valid[where[0]]
            if isinstance(keep, int):
                x = x[:keep, :]
            else:
                positions = index_array(keep, like=x)
                x = xp.take(x, positions, axis=0)
        yield where, x, positions


def _to_positions(reps: Array, positions: Array | None) -> Array:
    """Token indices among the valid tokens -> positions in the padded input."""
    if positions is None:
        return reps
    return array_namespace(reps).take(positions, reps)


def _with_reference(record, ada_reps, prev_ada, seconds_ada, reps):
    return replace(
        record,
        r_ada=ada_reps.shape[0],
        agreement=jaccard(reps, ada_reps),
        jaccard_prev_ada=None if prev_ada is None else jaccard(prev_ada, ada_reps),
        seconds_ada=seconds_ada,
    )
