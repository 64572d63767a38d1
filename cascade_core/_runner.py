"""A whole run (SPEC §1, §5, §7): layers one at a time, every slice, ADA and the cascade.

An ADA layer's slices of equal valid length are selected together through the
backend's :meth:`~cascade_core.backends.Backend.greedy_slices`; cascade layers
slice by slice.

The runner reads one layer at a time from any iterable (or slices a stacked
array lazily, so a memory-mapped file is never read whole), keeps per slice
only the previous layer's sets, and returns per-layer records and run totals.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from ._accounting import ada_ops
from ._ada import Selection, ada_normalized
from ._assignment import assign_normalized
from ._cascade import RecomputePolicy, cascade_normalized
from ._errors import CascadeInputError
from ._gram import check_extent, check_floating, normalize
from ._layout import STACKED, layer_indices
from ._metrics import LayerRecord, RunTotals, jaccard, summarize
from ._params import ALGORITHMS, backend_for, check_algorithm, check_tau, check_tile
from ._slices import ada_stacked
from ._xp import Array, array_namespace, index_array

__all__ = ["RunResult", "run", "iter_layers"]


@dataclass
class RunResult:
    """Everything a run produced.

    Attributes
    ----------
    records : list of LayerRecord
        One per (layer, slice), in the order run.
    totals : RunTotals
        The run totals.
    sets : dict
        ``sets[slice][i]``: the representative set of the ``i``-th layer run
        (token positions in the input, increasing), in the input's namespace.
    reference_sets : dict
        The same for the per-layer ADA reference (empty without it).
    params : dict
        The parameters of the run.
    assignments, reference_assignments : dict
        With ``assign=True``: ``assignments[slice][i]``, the representative
        (a token position) of every valid token, in token order.
    layer_ids : list of int
        The input's index of each layer run (``0 .. L-1`` unless `layers`
        selected some).
    """

    records: list[LayerRecord]
    totals: RunTotals
    sets: dict[tuple[int, ...], list[Array]] = field(default_factory=dict)
    reference_sets: dict[tuple[int, ...], list[Array]] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    assignments: dict[tuple[int, ...], list[Array]] = field(default_factory=dict)
    reference_assignments: dict[tuple[int, ...], list[Array]] = field(default_factory=dict)
    layer_ids: list[int] = field(default_factory=list)

    def to_frame(self):
        """One row per (slice, layer): the records as a pandas DataFrame (``cascade-core[tables]``).

        Returns
        -------
        pandas.DataFrame
            The :class:`LayerRecord` fields as columns (see :mod:`cascade_core.report.frame`).
        """
        from .report.frame import run_frame

        return run_frame(self)


def _is_array(obj) -> bool:
    return all(hasattr(obj, name) for name in ("shape", "ndim", "dtype"))


def iter_layers(activations, layers=None) -> Iterator[tuple[int, Array]]:
    """``(index, layer)`` pairs of `activations`, one layer at a time.

    A stacked array is read along its first axis by the layout table of
    SPEC §1 (:data:`cascade_core._layout.STACKED`); anything else is iterated
    as given, one layer an item. `layers` selects some of them (see
    :func:`run`).
    """
    if _is_array(activations):
        if activations.ndim not in STACKED:
            raise CascadeInputError(
                "expected "
                + ", ".join(f"{n} dimensions ({layout})" for n, layout in STACKED.items())
                + f", got shape {tuple(activations.shape)}"
            )
        if STACKED[activations.ndim][0] != "L":
            if layer_indices(layers, 1) not in (None, [0]):
                raise CascadeInputError("layers: a single (T, d) layer has only layer 0", param="layers")
            yield 0, activations
            return
        chosen = layer_indices(layers, activations.shape[0]) or range(activations.shape[0])
        for index in chosen:
            yield index, activations[index, ...]
        return
    if hasattr(activations, "select") and hasattr(activations, "ids"):  # a LayerStack read from a file
        stack = activations.select(layers)
        yield from zip(stack.ids, stack, strict=True)
        return
    if not isinstance(activations, Iterable):
        raise CascadeInputError(
            f"expected an array or an iterable of per-layer arrays, got {type(activations).__name__}"
        )
    size = len(activations) if hasattr(activations, "__len__") else None
    chosen = layer_indices(layers, size)
    wanted = None if chosen is None else set(chosen)
    for index, layer in enumerate(activations):
        if wanted is None or index in wanted:
            yield index, layer


def _valid_tokens(lengths, mask, slice_shape, n_tokens):
    """Per batch index: None (all tokens), an int (a prefix) or a list of positions."""
    if lengths is not None and mask is not None:
        raise CascadeInputError("give lengths or mask, not both", param="lengths")
    if lengths is None and mask is None:
        return None
    if not slice_shape:
        raise CascadeInputError(
            "lengths and mask need a batch axis: (L, B, T, d) or (L, B, H, T, d)",
            param="lengths" if lengths is not None else "mask",
        )
    batch = slice_shape[0]
    if lengths is not None:
        values = [int(v) for v in lengths]
        if len(values) != batch:
            raise CascadeInputError(
                f"lengths has {len(values)} entries, expected one per sequence (B = {batch})", param="lengths"
            )
        for b, n in enumerate(values):
            if not 1 <= n <= n_tokens:
                raise CascadeInputError(f"length {n} outside 1 .. {n_tokens} (T = 0 is an error)", slice=(b,))
        return values
    rows = [[bool(v) for v in row] for row in mask]
    if len(rows) != batch or any(len(row) != n_tokens for row in rows):
        raise CascadeInputError(f"mask must have shape (B, T) = ({batch}, {n_tokens})", param="mask")
    positions = []
    for b, row in enumerate(rows):
        valid = [t for t, keep in enumerate(row) if keep]
        if not valid:
            raise CascadeInputError("mask marks no valid token (T = 0)", slice=(b,))
        positions.append(valid)
    return positions


def run(
    activations,
    tau: float,
    *,
    center: bool = False,
    reference: bool = True,
    recompute_ratio: float | None = None,
    recompute_every: int | None = None,
    lengths=None,
    mask=None,
    layers=None,
    backend: str = "auto",
    tile: int | None = None,
    algorithm: str = "chosen-rows",
    assign: bool = False,
    progress=None,
) -> RunResult:
    """Run ADA on the first layer and the cascade after it, for every slice.

    Parameters
    ----------
    activations : array or iterable of arrays
        A stacked array (ndim 2 to 5, SPEC §1), a :class:`LayerStack` from
        :func:`cascade_core.load`, or any iterable of per-layer arrays
        ``(T, d)``, ``(B, T, d)`` or ``(B, H, T, d)``; read one layer at a time.
    tau : float
        Threshold in ``(0, 1]``.
    center : bool, default False
        Subtract each slice's mean token before normalising.
    reference : bool, default True
        Also run ADA on every layer, for the agreement metric, the needed
        ledger of ADA (SPEC §6) and wall times of ADA computed both ways
        (full Gram and chosen rows), each timed on its own.
    recompute_ratio : float, optional
        Send a layer back to ADA when ``|D| + |A| > ratio * |R_l|`` (SPEC §5).
    recompute_every : int, optional
        Run ADA on every ``recompute_every``-th layer of the run.
    lengths : sequence of int, optional
        ``(B,)`` valid lengths of padded sequences (tokens ``0 .. n-1``).
    mask : array of bool, optional
        ``(B, T)`` mask of valid tokens (instead of `lengths`).
    layers : str, slice, int or sequence of int, optional
        Run only these layers of the input: ``"1:"`` (all but the first, as
        for hidden states whose layer 0 is the embedding output), ``":-1"``,
        ``"0:12:2"``, ``[1, 3]``, ``slice(1, None)``. Records keep the
        input's layer index. Default: every layer.
    backend : str, default "auto"
        ``"auto"`` or a backend name (:func:`cascade_core.backends.names`).
    tile : int, optional
        Tokens per tile: ``B`` of SPEC §3.1 for the chosen-rows scans
        (default: the backend's measured block), rows of a Gram tile for the
        full Gram and the validation products (default: about 4 Mi
        similarities a tile).
    algorithm : {"chosen-rows", "full-gram"}, default "chosen-rows"
        How ADA and the cascade's removal and addition scans compute their
        set (SPEC §3.1); the sets are the same either way.
    assign : bool, default False
        Also record every set's assignment (SPEC §4), for compressed
        attention; costs ``(T - r) r`` inner products a set, not counted in
        the selection ops.
    progress : callable, optional
        Called with the position of each layer in the run once it is done.

    Returns
    -------
    RunResult

    Notes
    -----
    On an input with slice axes (``(B, T, d)`` or ``(B, H, T, d)`` layers),
    a layer that ADA selects outright is selected a group of slices at a
    time: slices with the same number of valid tokens go to the backend's
    :meth:`~cascade_core.backends.Backend.greedy_slices` together (batched
    launches on CuPy), and the call's wall time is divided equally among
    them. Sets, records and ledgers are those of slice by slice. Cascade
    layers, ``"full-gram"`` runs and layers sent back to ADA run slice by
    slice (docs/decisions.md).

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
    >>> result.totals.needed_ada == sum(rec.needed_ada for rec in result.records)
    True
    >>> [rec.layer for rec in cc.run(x, 0.5, layers="1:").records]
    [1, 2]
    """
    tau = check_tau(tau)
    tile = check_tile(tile)
    algorithm = check_algorithm(algorithm)
    policy = RecomputePolicy(recompute_ratio, recompute_every)

    records: list[LayerRecord] = []
    sets: dict[tuple[int, ...], list[Array]] = {}
    reference_sets: dict[tuple[int, ...], list[Array]] = {}
    assignments: dict[tuple[int, ...], list[Array]] = {}
    reference_assignments: dict[tuple[int, ...], list[Array]] = {}
    prev: dict[tuple[int, ...], Array] = {}
    prev_ada: dict[tuple[int, ...], Array] = {}
    layer_ids: list[int] = []
    first_shape = None
    valid = None
    engine = None

    for position, (layer_index, layer) in enumerate(iter_layers(activations, layers)):
        if not _is_array(layer) or not 2 <= layer.ndim <= 4:
            shape = tuple(layer.shape) if _is_array(layer) else type(layer).__name__
            raise CascadeInputError(
                f"expected a (T, d), (B, T, d) or (B, H, T, d) layer, got {shape}", layer=layer_index
            )
        xp = array_namespace(layer)
        try:
            check_floating(xp, layer.dtype)
        except CascadeInputError as err:
            raise err.located(layer=layer_index) from None
        shape = tuple(layer.shape)
        if first_shape is None:
            first_shape = shape
            *slice_shape, n_tokens, n_features = shape
            try:
                check_extent(n_tokens, n_features)
            except CascadeInputError as err:
                raise err.located(layer=layer_index) from None
            valid = _valid_tokens(lengths, mask, slice_shape, n_tokens)
            engine = backend_for(backend, layer)
            engine.warm_up()
        elif shape != first_shape:
            raise CascadeInputError(
                f"shape {shape} differs from layer {layer_ids[0]}'s {first_shape} (every layer needs the same T and d)",
                layer=layer_index,
            )
        layer_ids.append(layer_index)
        given, layer = layer, engine.native(layer)

        scan = {"engine": engine, "tile": tile, "algorithm": algorithm}
        entries = _normalized_slices(layer, slice_shape, valid, center, layer_index)
        batched: dict[tuple[int, ...], tuple[Selection, float]] = {}
        if _batches(slice_shape, algorithm) and policy.runs_ada(position, bool(prev)):
            entries = list(entries)  # a layer's normalised slices, held to be grouped
            entries, batched = _ada_groups(entries, tau, engine, tile, layer_index)
        for where, xh, positions in entries:
            try:
                record, reps, ada_reps = _select_layer(
                    xh,
                    layer_index,
                    position,
                    where,
                    prev.get(where),
                    prev_ada.get(where),
                    tau=tau,
                    reference=reference,
                    policy=policy,
                    batched=batched.get(where),
                    **scan,
                )
            except CascadeInputError as err:
                raise _located(err, layer_index, where, positions) from None
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
                        nearest = assign_normalized(xh, chosen, tile=tile, backend=engine)
                        store.setdefault(where, []).append(engine.export(_to_positions(nearest, positions), like=given))
            del xh
        del entries, batched  # the layer's normalised slices
        if progress is not None:
            progress(position)

    if first_shape is None:
        raise CascadeInputError("no layers in the input")
    params = {
        "tau": tau,
        "center": center,
        "reference": reference,
        "recompute_ratio": policy.ratio,
        "recompute_every": policy.every,
        "backend": engine.name,
        "tile": tile,
        "algorithm": algorithm,
        "layout": _layout_of(activations, first_shape),
    }
    if layers is not None or getattr(activations, "indices", None) is not None:
        params["layers"] = layer_ids
    return RunResult(
        records, summarize(records), sets, reference_sets, params, assignments, reference_assignments, layer_ids
    )


def _layout_of(activations, first_shape) -> str:
    if _is_array(activations):
        return STACKED[activations.ndim]
    return "per layer " + STACKED[len(first_shape) + 1][1:]


def _select_layer(
    xh, layer, position, where, prev, prev_ada, *, tau, reference, engine, tile, algorithm, policy, batched=None
):
    """Select one layer of one slice (normalised tokens `xh`); return its record, set and ADA reference set.

    `batched`: this slice's ADA selection and its share of the wall time,
    already computed with the other slices of its group (:func:`_ada_groups`).
    """
    n = xh.shape[0]
    scan = {"backend": engine, "tile": tile, "algorithm": algorithm}
    ada_selection = None
    removed = added = uncovered = 0
    if batched is not None:
        method = "ada"
        ada_selection, seconds = batched
        reps, ops, needed = ada_selection.reps, ada_selection.ops, ada_selection.needed
    else:
        engine.synchronize()  # time the selection only, not queued normalisation
        start = time.perf_counter()
        if policy.runs_ada(position, prev is not None):
            method = "ada"
            ada_selection = ada_normalized(xh, tau, **scan)
            reps, ops, needed = ada_selection.reps, ada_selection.ops, ada_selection.needed
        else:
            step = cascade_normalized(prev, xh, tau, **scan)
            removed, added, uncovered = step.removed, step.added.shape[0], step.uncovered.shape[0]
            reps, ops, needed, method = step.reps, step.ops, step.needed, "cascade"
            if policy.sends_back(step, prev.shape[0]):
                ada_selection = ada_normalized(xh, tau, **scan)
                reps, method = ada_selection.reps, "recompute"
                ops, needed = step.ops + ada_selection.ops, step.needed + ada_selection.needed
        engine.synchronize()
        seconds = time.perf_counter() - start

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
        ops_ada=ada_ops(n),
        needed=needed,
        seconds=seconds,
        jaccard_prev=None if prev is None else jaccard(prev, reps),
        needed_ada=None if ada_selection is None else ada_selection.needed,
    )
    if reference:
        ada_selection, ada_seconds = _reference_ada(xh, tau, engine, tile, algorithm, method, seconds, ada_selection)
        record = _with_reference(record, ada_selection, prev_ada, ada_seconds, reps)
    return record, reps, None if ada_selection is None else ada_selection.reps


def _reference_ada(xh, tau, engine, tile, algorithm, method, seconds, selection):
    """ADA on this layer computed both ways (SPEC §3.1, §6), each timed on its own.

    An ``"ada"`` layer already ran ADA the run's way: its time is reused.
    The reference set is the run's way's (the same set, SPEC §3.1).
    """
    times = {}
    for way in ALGORITHMS:
        if method == "ada" and way == algorithm:
            times[way] = seconds
            continue
        engine.synchronize()
        start = time.perf_counter()
        fresh = ada_normalized(xh, tau, backend=engine, tile=tile, algorithm=way)
        engine.synchronize()
        times[way] = time.perf_counter() - start
        if way == algorithm and selection is None:
            selection = fresh
    return selection, times


#: Select the ADA layers of a batched or per-head input a group of slices at a time
#: (:meth:`Backend.greedy_slices`). False: slice by slice, as before issue 14 (the tests compare both).
_BATCH_SLICES = True


def _batches(slice_shape, algorithm: str) -> bool:
    """Whether a layer's ADA slices go to the backend in groups: slice axes and the chosen-rows way."""
    return _BATCH_SLICES and bool(slice_shape) and algorithm == "chosen-rows"


def _located(err: CascadeInputError, layer: int, where, positions) -> CascadeInputError:
    """`err` located at `layer` and slice `where`, its token a position in the input."""
    token = err.token
    if token is not None and positions is not None:
        token = int(positions[token])
    return CascadeInputError(err.reason, layer=layer, slice=where, token=token)


def _normalized_slices(layer: Array, slice_shape, valid, center: bool, layer_index: int):
    """``(where, xh, positions)`` per slice: its valid tokens normalised (SPEC §2), lazily."""
    for where, x, positions in _slices(layer, slice_shape, valid):
        try:
            xh = normalize(x, center=center)
        except CascadeInputError as err:
            raise _located(err, layer_index, where, positions) from None
        yield where, xh, positions


def _ada_groups(entries: list, tau: float, engine, tile, layer_index: int):
    """ADA of a layer's slices, grouped by valid length, one :meth:`Backend.greedy_slices` call a group.

    Slices with the same number of valid tokens ``n`` (all of them without
    `lengths` or `mask`) are stacked ``(S, n, d)`` and selected in one
    call; the wall time of the call (synchronised before and after) is
    divided equally among its ``S`` slices, which within a group is also
    in proportion to their ``n**2`` inner products. The ledgers are per
    slice, as slice by slice. Returns the entries with each slice's
    normalised tokens now a view of its group's stack, and ``{where:
    (selection, seconds)}``.
    """
    groups: dict[int, list[int]] = {}
    for index, (_, xh, _) in enumerate(entries):
        groups.setdefault(xh.shape[0], []).append(index)
    batched = {}
    for members in groups.values():
        xp = array_namespace(entries[members[0]][1])
        stack = xp.stack([entries[i][1] for i in members])
        for k, i in enumerate(members):
            where, _, positions = entries[i]
            entries[i] = (where, stack[k, ...], positions)
        engine.synchronize()
        start = time.perf_counter()
        try:
            selections = ada_stacked(stack, tau, backend=engine, block=tile)
        except CascadeInputError as err:
            raise err.located(layer=layer_index) from None
        engine.synchronize()
        share = (time.perf_counter() - start) / len(members)
        for i, selection in zip(members, selections, strict=True):
            batched[entries[i][0]] = (selection, share)
        del stack
    return entries, batched


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


def _with_reference(record, ada_selection: Selection, prev_ada, ada_seconds: dict, reps):
    ada_reps = ada_selection.reps
    return replace(
        record,
        needed_ada=ada_selection.needed,
        r_ada=ada_reps.shape[0],
        agreement=jaccard(reps, ada_reps),
        jaccard_prev_ada=None if prev_ada is None else jaccard(prev_ada, ada_reps),
        seconds_ada_full_gram=ada_seconds["full-gram"],
        seconds_ada_chosen_rows=ada_seconds["chosen-rows"],
    )
