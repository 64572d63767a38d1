"""Compressed attention (SPEC §8): full, rr and tr, and their error against full.

All three are written once against the array API and take one attention
head: ``q, k, v`` of shape ``(T, d_h)``, a representative set ``reps``
(increasing token positions) and its assignment (SPEC §4).

* ``full``: ``softmax(Q K^T / sqrt(d_h) + M) V``, computed in tiles with an
  online softmax, so no ``T x T`` score matrix exists.
* ``rr``: the ``r x r`` problem of the paper, queries and keys restricted to
  the representatives, each key weighted by its group size (``log c``), and
  every token given its representative's output.
* ``tr``: all ``T`` queries against the representatives' keys and values.

With ``causal=True`` keys after a query's position are masked, and a group
counts only the members the query may see: ``c_j(p) = |{i <= p : a(i) = j}|``
(a key whose visible group is empty is masked).

:func:`attention_heads` applies them over ``(B, H, T, d_h)`` inputs, with
grouped-query attention (fewer key/value heads) and padded sequences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._assignment import group_sizes
from ._errors import CascadeInputError
from ._xp import Array, array_namespace, device

__all__ = [
    "full_attention",
    "rr_attention",
    "tr_attention",
    "attention_quality",
    "AttentionQuality",
    "attention_heads",
]


def _tile(tile: int | None, n: int) -> int:
    return tile if tile is not None else min(max(n, 1), 1024)


def full_attention(q: Array, k: Array, v: Array, *, causal: bool = False, tile: int | None = None) -> Array:
    """``softmax(Q K^T / sqrt(d_h) + M) V`` in query and key tiles, with an online softmax.

    Peak extra memory is ``O(tile**2 + T * d_h)``: the ``T x T`` scores are
    never formed.
    """
    return _attend(q, k, v, None, None, causal=causal, tile=tile)


def _attend(q, k, v, q_pos, k_pos, *, causal, tile, bias=None):
    """softmax(q k^T / sqrt(d) + bias + causal mask) v, online over key tiles.

    `q_pos` and `k_pos` are the token positions of the rows (None: 0..n-1);
    `bias(q_rows, k_cols)` returns the additive bias of a block, or None.
    """
    xp = array_namespace(q, k, v)
    dev = device(q)
    n_q, n_k = q.shape[0], k.shape[0]
    scale = 1.0 / math.sqrt(q.shape[1])
    step = _tile(tile, max(n_q, n_k))
    if q_pos is None:
        q_pos = xp.arange(n_q, dtype=xp.int64, device=dev)
    if k_pos is None:
        k_pos = xp.arange(n_k, dtype=xp.int64, device=dev)
    k_t = xp.matrix_transpose(k)
    masked = xp.asarray(-math.inf, dtype=q.dtype, device=dev)
    out = []
    for i0 in range(0, n_q, step):
        i1 = min(i0 + step, n_q)
        qi = q[i0:i1, :]
        running_max = xp.full((i1 - i0,), -math.inf, dtype=q.dtype, device=dev)
        total = xp.zeros((i1 - i0,), dtype=q.dtype, device=dev)
        acc = xp.zeros((i1 - i0, v.shape[1]), dtype=q.dtype, device=dev)
        last_query = int(q_pos[i1 - 1]) if causal else None
        for j0 in range(0, n_k, step):
            j1 = min(j0 + step, n_k)
            if causal and int(k_pos[j0]) > last_query:
                break  # key positions increase: every later key is after every query of this tile
            scores = (qi @ k_t[:, j0:j1]) * scale
            if bias is not None:
                scores = scores + bias(i0, i1, j0, j1)
            if causal:
                future = k_pos[None, j0:j1] > q_pos[i0:i1, None]
                scores = xp.where(future, masked, scores)
            block_max = xp.max(scores, axis=1)
            new_max = xp.maximum(running_max, block_max)
            safe_max = xp.where(xp.isfinite(new_max), new_max, xp.zeros_like(new_max))
            weights = xp.exp(scores - safe_max[:, None])
            rescale = xp.exp(running_max - safe_max)
            total = total * rescale + xp.sum(weights, axis=1)
            acc = acc * rescale[:, None] + weights @ v[j0:j1, :]
            running_max = new_max
        out.append(acc / xp.where(total > 0, total, xp.ones_like(total))[:, None])
    return xp.concat(out, axis=0)


def _group_bias(xp, assignment, reps, q_pos, *, causal, proportional, dtype):
    """``log c`` of SPEC §8 as a block function ``(i0, i1, j0, j1) -> bias``, or None.

    Non-causal: one row of ``log c_j``. Causal: ``log c_j(p)`` for the query
    positions ``p = q_pos[i0:i1]``, counted per block from the members'
    positions sorted by group (``searchsorted``), so no ``T x r`` count matrix
    is formed. ``-inf`` where a visible group is empty.
    """
    if not proportional:
        return None
    dev = device(assignment)
    n, r = assignment.shape[0], reps.shape[0]
    slot = xp.searchsorted(reps, assignment)  # group of every token, as an index into reps

    def logs(counts):
        counts = xp.astype(counts, dtype)
        visible = counts > 0
        values = xp.log(xp.where(visible, counts, xp.ones_like(counts)))
        return xp.where(visible, values, xp.full_like(values, -math.inf))

    if not causal:
        row = logs(group_sizes(assignment, reps))[None, :]
        return lambda i0, i1, j0, j1: row[:, j0:j1]

    keys = xp.sort(slot * n + xp.arange(n, dtype=slot.dtype, device=dev))  # members by group, then position
    first = xp.searchsorted(keys, xp.arange(r, dtype=slot.dtype, device=dev) * n)  # start of each group

    def block(i0, i1, j0, j1):
        groups = xp.arange(j0, j1, dtype=slot.dtype, device=dev)
        targets = groups[None, :] * n + q_pos[i0:i1, None]
        seen = xp.searchsorted(keys, xp.reshape(targets, (-1,)), side="right")
        return logs(xp.reshape(seen, targets.shape) - first[None, j0:j1])

    return block


def rr_attention(
    q: Array,
    k: Array,
    v: Array,
    reps: Array,
    assignment: Array,
    *,
    causal: bool = False,
    proportional: bool = True,
    tile: int | None = None,
) -> Array:
    """The paper's compressed ``r x r`` attention, broadcast to every token (SPEC §8).

    ``O_R = softmax(Q_R K_R^T / sqrt(d_h) + log c_R + M_R) V_R`` and
    ``O_i = O_{a(i)}``.
    """
    xp = array_namespace(q, k, v, reps, assignment)
    q_r, k_r, v_r = (xp.take(a, reps, axis=0) for a in (q, k, v))
    bias = _group_bias(xp, assignment, reps, reps, causal=causal, proportional=proportional, dtype=q.dtype)
    out_r = _attend(q_r, k_r, v_r, reps, reps, causal=causal, tile=tile, bias=bias)
    slot = xp.searchsorted(reps, assignment)  # position of a(i) in reps
    return xp.take(out_r, slot, axis=0)


def tr_attention(
    q: Array,
    k: Array,
    v: Array,
    reps: Array,
    assignment: Array,
    *,
    causal: bool = False,
    proportional: bool = True,
    tile: int | None = None,
) -> Array:
    """All ``T`` queries against the representatives' keys and values (SPEC §8)."""
    xp = array_namespace(q, k, v, reps, assignment)
    k_r, v_r = (xp.take(a, reps, axis=0) for a in (k, v))
    queries = xp.arange(q.shape[0], dtype=xp.int64, device=device(q))
    bias = _group_bias(xp, assignment, reps, queries, causal=causal, proportional=proportional, dtype=q.dtype)
    return _attend(q, k_r, v_r, queries, reps, causal=causal, tile=tile, bias=bias)


@dataclass(frozen=True)
class AttentionQuality:
    """Error of a compressed attention output against full attention (SPEC §8).

    Attributes
    ----------
    diff_sq, ref_sq
        ``||O - O_full||^2`` and ``||O_full||^2`` (Frobenius), to sum over heads.
    cosine_sum, tokens
        Sum of per-token cosine similarities and the number of tokens.
    """

    diff_sq: float
    ref_sq: float
    cosine_sum: float
    tokens: int

    @property
    def relative_error(self) -> float:
        return math.sqrt(self.diff_sq / self.ref_sq) if self.ref_sq > 0 else 0.0

    @property
    def mean_cosine(self) -> float:
        return self.cosine_sum / self.tokens if self.tokens else 1.0

    def __add__(self, other: AttentionQuality) -> AttentionQuality:
        return AttentionQuality(
            self.diff_sq + other.diff_sq,
            self.ref_sq + other.ref_sq,
            self.cosine_sum + other.cosine_sum,
            self.tokens + other.tokens,
        )


def attention_quality(out: Array, full: Array) -> AttentionQuality:
    """Frobenius and per-token cosine agreement of `out` with `full`."""
    xp = array_namespace(out, full)
    diff = out - full
    dots = xp.sum(out * full, axis=1)
    norms = xp.sqrt(xp.sum(out * out, axis=1)) * xp.sqrt(xp.sum(full * full, axis=1))
    cosine = xp.where(norms > 0, dots / xp.where(norms > 0, norms, xp.ones_like(norms)), xp.ones_like(norms))
    return AttentionQuality(
        float(xp.sum(diff * diff)), float(xp.sum(full * full)), float(xp.sum(cosine)), int(full.shape[0])
    )


def attention_heads(
    q: Array,
    k: Array,
    v: Array,
    sets: dict,
    *,
    causal: bool = False,
    proportional: bool = True,
    spans=None,
    tile: int | None = None,
) -> dict:
    """Full, rr and tr attention over every sequence and head, and their quality.

    Parameters
    ----------
    q
        ``(B, H, T, d_h)`` (or ``(T, d_h)`` for one head).
    k, v
        ``(B, H_kv, T, d_h)`` with ``H`` a multiple of ``H_kv`` (grouped-query
        attention: query head ``h`` reads key/value head ``h // (H / H_kv)``).
    sets
        ``{name: fn}`` with ``fn(b, h) -> (reps, assignment)`` for query head
        ``h`` of sequence ``b``, as indices among its valid tokens: the same
        pair for every head when selection ran on hidden states, per head
        when it ran on q or k. Every named source is scored against the same
        full attention.
    spans
        ``[(start, stop), ...]``: the valid tokens of each sequence (left or
        right padding); default all.

    Returns
    -------
    dict
        ``entries``: score entries of ``full`` (``T**2``); and per name,
        ``rr`` and ``tr`` (:class:`AttentionQuality`, summed over heads) and
        ``rr_entries`` (``r**2``) and ``tr_entries`` (``T r``).
    """
    if q.ndim == 2:
        q, k, v = q[None, None, ...], k[None, None, ...], v[None, None, ...]
    n_batch, n_heads, n_tokens = q.shape[0], q.shape[1], q.shape[2]
    n_kv = k.shape[1]
    if n_heads % n_kv:
        raise CascadeInputError(f"{n_heads} query heads do not group over {n_kv} key/value heads")
    group = n_heads // n_kv
    zero = AttentionQuality(0.0, 0.0, 0.0, 0)
    out: dict = {"entries": 0}
    for name in sets:
        out[name] = {"rr": zero, "tr": zero, "rr_entries": 0, "tr_entries": 0}
    for b in range(n_batch):
        start, stop = (0, n_tokens) if spans is None else spans[b]
        n = stop - start
        for h in range(n_heads):
            qh = q[b, h, start:stop, :]
            kh, vh = k[b, h // group, start:stop, :], v[b, h // group, start:stop, :]
            full = full_attention(qh, kh, vh, causal=causal, tile=tile)
            out["entries"] += n * n
            options = dict(causal=causal, proportional=proportional, tile=tile)
            for name, fn in sets.items():
                reps, assignment = fn(b, h)
                mine = out[name]
                mine["rr"] = mine["rr"] + attention_quality(rr_attention(qh, kh, vh, reps, assignment, **options), full)
                mine["tr"] = mine["tr"] + attention_quality(tr_attention(qh, kh, vh, reps, assignment, **options), full)
                mine["rr_entries"] += reps.shape[0] ** 2
                mine["tr_entries"] += n * reps.shape[0]
    return out
