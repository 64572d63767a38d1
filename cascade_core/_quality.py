"""What the representative sets cost in attention accuracy, layer by layer (SPEC §8).

Given a selection run (with ``assign=True``) and the per-layer ``q, k, v``
of the same model run, :func:`attention_layers` scores ``rr`` and ``tr``
attention on the cascade's sets and on ADA's against full attention.

Layers line up as the exporter writes them: attention layer ``i`` reads the
hidden states ``hidden_states[i]`` (its input), so its sets are those of
hidden layer ``i``; with selection on ``k`` or ``q`` they are those of
``k[i]`` or ``q[i]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ._attention import attention_heads
from ._errors import CascadeInputError
from ._params import backend_for
from ._xp import array_namespace

__all__ = ["AttentionRecord", "attention_layers", "head_sets", "query_heads", "slice_of", "spans_of"]


@dataclass(frozen=True)
class AttentionRecord:
    """Attention quality at one layer, summed over sequences and heads.

    ``entries_*`` are score entries (``T**2`` for full, ``r**2`` for rr,
    ``T r`` for tr); ``*_error`` is the relative Frobenius error against full
    attention and ``*_cosine`` the mean per-token cosine similarity, for the
    cascade's sets and (``*_ada``) for ADA's.
    """

    layer: int
    entries_full: int
    entries_rr: int
    entries_tr: int
    rr_error: float
    rr_cosine: float
    tr_error: float
    tr_cosine: float
    entries_rr_ada: int | None = None
    entries_tr_ada: int | None = None
    rr_error_ada: float | None = None
    rr_cosine_ada: float | None = None
    tr_error_ada: float | None = None
    tr_cosine_ada: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _fields(score: dict, suffix: str) -> dict:
    """One source's entries, errors and cosines as AttentionRecord fields (``suffix`` "" or "_ada")."""
    out = {}
    for method in ("rr", "tr"):
        out[f"entries_{method}{suffix}"] = score[f"{method}_entries"]
        out[f"{method}_error{suffix}"] = score[method].relative_error
        out[f"{method}_cosine{suffix}"] = score[method].mean_cosine
    return out


def spans_of(n_batch: int, n_tokens: int, lengths=None, mask=None) -> list[tuple[int, int]]:
    """``(start, stop)`` of the valid tokens of each sequence, from lengths or a contiguous mask."""
    if lengths is not None:
        return [(0, int(n)) for n in lengths]
    if mask is None:
        return [(0, n_tokens)] * n_batch
    spans = []
    for b, row in enumerate(mask):
        valid = [t for t, keep in enumerate(row) if bool(keep)]
        if not valid or valid != list(range(valid[0], valid[-1] + 1)):
            raise CascadeInputError("attention needs each sequence's valid tokens to be contiguous", slice=(b,))
        spans.append((valid[0], valid[-1] + 1))
    return spans


def slice_of(select_on: str, b: int, h: int, group: int) -> tuple[int, ...]:
    """The selection slice whose set query head `h` of sequence `b` uses.

    One set per sequence on hidden states, per key/value head on ``k`` (query
    head ``h`` reads key/value head ``h // group`` under grouped-query
    attention), per query head on ``q``.
    """
    return (b,) if select_on == "hidden" else (b, h // group) if select_on == "k" else (b, h)


def query_heads(select_on: str, where: tuple[int, ...], n_heads: int, group: int) -> list[int]:
    """The query heads that use the set of slice `where` (the inverse of :func:`slice_of`)."""
    b = where[0]
    return [h for h in range(n_heads) if slice_of(select_on, b, h, group) == tuple(where)]


def head_sets(picks: dict, *, select_on: str, group: int, spans, engine, layer: int):
    """``fn(b, h) -> (reps, assignment)`` for :func:`attention_heads`, from one layer's sets.

    `picks` maps each slice to its set and assignment as token positions of
    the input; `fn` returns them as indices among the sequence's valid
    tokens (``spans[b]``), in the namespace of `engine`.
    """

    def fn(b, h):
        key = slice_of(select_on, b, h, group)
        if key not in picks:
            raise CascadeInputError(f"no representative set for slice {key}", layer=layer)
        start = spans[b][0]
        reps, assignment = (engine.native(a) for a in picks[key])
        xp = array_namespace(reps)
        return xp.astype(reps - start, xp.int64), xp.astype(assignment - start, xp.int64)

    return fn


def attention_layers(
    q_layers,
    k_layers,
    v_layers,
    result,
    *,
    select_on: str = "hidden",
    causal: bool = False,
    proportional: bool = True,
    lengths=None,
    mask=None,
    backend: str = "auto",
    tile: int | None = None,
) -> tuple[list[AttentionRecord], dict]:
    """Score compressed attention at every layer of `q_layers` (see the module docstring).

    Parameters
    ----------
    q_layers, k_layers, v_layers : sequence of arrays
        Per-layer arrays ``(B, H, T, d_h)`` (``k``, ``v`` may have fewer
        heads); read one layer at a time.
    result : RunResult
        A run made with ``assign=True``, on hidden states ``(L, B, T, d)`` or
        on ``k``/``q`` ``(L, B, H, T, d_h)``. Attention layer ``i`` is scored
        with the sets of the run's layer ``i``; layers the run skipped (its
        `layers` selection) are skipped here too.
    select_on : {"hidden", "k", "q"}
        ``"hidden"`` (one set per sequence, shared by its heads), ``"k"``
        (per key/value head) or ``"q"`` (per query head).
    causal, proportional : bool
        As in :func:`rr_attention`.
    lengths, mask : optional
        Valid tokens of padded sequences, as in :func:`cascade_core.run`.
    backend : str
        Where attention is computed (``"auto"``: where `q` lives).
    tile : int, optional
        Query and key tile of the online softmax.

    Returns
    -------
    records : list of AttentionRecord
        One per layer scored.
    overall : dict
        ``{"cascade": {"rr": (error, cosine), "tr": ...}, "ada": ...}`` over
        every layer: the Frobenius error of all outputs together and the mean
        cosine over all tokens.
    """
    if select_on not in ("hidden", "k", "q"):
        raise CascadeInputError(f"select_on must be 'hidden', 'k' or 'q', got {select_on!r}", param="select_on")
    if not result.assignments:
        raise CascadeInputError("attention needs a run made with assign=True")
    n_layers = len(q_layers)
    if not len(k_layers) == len(v_layers) == n_layers:
        raise CascadeInputError(f"q, k and v have {n_layers}, {len(k_layers)} and {len(v_layers)} layers")
    run_ids = result.layer_ids or list(range(len(next(iter(result.sets.values())))))
    position_of = {layer: position for position, layer in enumerate(run_ids)}
    scored = [layer for layer in range(n_layers) if layer in position_of]
    if "layers" not in result.params and len(scored) < n_layers:
        raise CascadeInputError(f"selection covers {len(run_ids)} layers but attention has {n_layers}")
    if not scored:
        raise CascadeInputError(f"the run's layers {run_ids} include none of attention's 0 .. {n_layers - 1}")
    has_ada = bool(result.reference_assignments)
    records = []
    totals: dict = {}
    for layer in scored:
        q, k, v = q_layers[layer], k_layers[layer], v_layers[layer]
        if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
            raise CascadeInputError("q, k and v layers must be (B, H, T, d_h)", layer=layer)
        engine = backend_for(backend, q)
        q, k, v = engine.native(q), engine.native(k), engine.native(v)
        n_batch, n_heads, n_tokens = q.shape[0], q.shape[1], q.shape[2]
        group = n_heads // k.shape[1] if k.shape[1] else 1
        spans = spans_of(n_batch, n_tokens, lengths, mask)

        def lookup(sets, assignments, layer=layer, spans=spans, engine=engine, group=group):
            position = position_of[layer]
            picks = {key: (sets[key][position], assignments[key][position]) for key in sets}
            return head_sets(picks, select_on=select_on, group=group, spans=spans, engine=engine, layer=layer)

        sources = {"cascade": lookup(result.sets, result.assignments)}
        if has_ada:
            sources["ada"] = lookup(result.reference_sets, result.reference_assignments)
        scores = attention_heads(q, k, v, sources, causal=causal, proportional=proportional, spans=spans, tile=tile)
        for name in sources:
            for method in ("rr", "tr"):
                mine = totals.setdefault(name, {}).get(method)
                totals[name][method] = scores[name][method] if mine is None else mine + scores[name][method]
        fields = {"layer": layer, "entries_full": scores["entries"], **_fields(scores["cascade"], "")}
        if has_ada:
            fields.update(_fields(scores["ada"], "_ada"))
        records.append(AttentionRecord(**fields))
    overall = {
        name: {method: (q.relative_error, q.mean_cosine) for method, q in methods.items()}
        for name, methods in totals.items()
    }
    return records, overall
