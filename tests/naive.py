"""Plain, slow references of SPEC §2-§6, written without the code under test.

Everything here is float64 NumPy on a full Gram matrix and Python loops, so
a test can compare the library against an independent reading of the spec.
"""

from __future__ import annotations

import numpy as np

#: Backends may disagree, and invariants may fail, only within this margin of tau (SPEC §9).
MARGIN = 1e-5


def similarity(x, center: bool = False, dtype=np.float64) -> np.ndarray:
    """|cos| of every pair of rows (float64 unless told), zero rows have similarity 0 (SPEC §2)."""
    x = np.asarray(x, dtype=dtype)
    if center:
        x = x - x.mean(axis=0)
    norms = np.sqrt((x * x).sum(axis=1))
    unit = np.divide(x, norms[:, None], out=np.zeros_like(x), where=norms[:, None] > 0)
    return np.abs(unit @ unit.T)


def check_representative(x, reps, tau: float, center: bool = False, margin: float = MARGIN) -> None:
    """Assert that `reps` is decorrelated and covering for `x` at `tau` (SPEC §2)."""
    s = similarity(x, center)
    reps = [int(i) for i in np.asarray(reps).tolist()]
    n = s.shape[0]
    assert reps == sorted(set(reps)), f"representatives not increasing and unique: {reps}"
    assert all(0 <= i < n for i in reps), f"representative outside 0..{n - 1}: {reps}"
    for a_pos, i in enumerate(reps):
        for j in reps[a_pos + 1 :]:
            assert s[i, j] < tau + margin, f"representatives {i} and {j} are linked: s = {s[i, j]:.7f} >= {tau}"
    rep_set = set(reps)
    for i in range(n):
        if i not in rep_set:
            best = max(s[i, j] for j in reps)
            assert best >= tau - margin, f"token {i} is covered by no representative: max s = {best:.7f} < {tau}"


def near_threshold(x, tau: float, center: bool = False, margin: float = MARGIN) -> bool:
    """Whether some pair i != j has |s_ij - tau| < margin (decisions may then differ)."""
    s = similarity(x, center)
    off = ~np.eye(s.shape[0], dtype=bool)
    return bool(np.any(np.abs(s[off] - tau) < margin))


def greedy(s: np.ndarray, tau: float, order: list[int]) -> list[int]:
    """Visit `order`; keep a token iff it is linked to no token kept before (SPEC §3, §5)."""
    kept: list[int] = []
    for i in order:
        if all(s[i, j] < tau for j in kept):
            kept.append(i)
    return kept


def ada(x, tau: float, center: bool = False, dtype=np.float64) -> list[int]:
    """SPEC §3 on the full Gram matrix (float64 unless told): the naive method the benchmarks time."""
    s = similarity(x, center, dtype)
    return greedy(s, tau, list(range(s.shape[0])))


def count_before(scanned, chosen) -> int:
    """Needed ledger of a scan (SPEC §6): each scanned token against every chosen token before it."""
    return sum(1 for k in scanned for j in chosen if j < k)


def ada_needed(reps, n_tokens: int) -> int:
    """Needed ledger of an ADA layer: every token against the representatives before it."""
    return count_before(range(n_tokens), [int(j) for j in reps])


def cascade(prev, x, tau: float, center: bool = False) -> dict:
    """SPEC §5 step by step, with both ledgers of §6."""
    s = similarity(x, center)
    n = s.shape[0]
    prev = sorted(int(i) for i in prev)
    kept = greedy(s, tau, prev)
    removed = [i for i in prev if i not in kept]
    others = [i for i in range(n) if i not in kept]
    uncovered = [i for i in others if i not in removed and not any(s[i, j] >= tau for j in kept)]
    added = greedy(s, tau, uncovered)
    r, rk, u = len(prev), len(kept), len(uncovered)
    return {
        "reps": sorted(kept + added),
        "kept": kept,
        "removed": removed,
        "uncovered": uncovered,
        "added": added,
        "ops": r * r + (n - rk) * rk + u * u,
        "needed": count_before(prev, kept)
        + sum(1 for i in range(n) if i not in prev for _ in kept)  # validation: tokens outside R_l against R'
        + count_before(uncovered, added),
    }


def assign(x, reps, center: bool = False) -> tuple[list[int], list[int]]:
    """SPEC §4: nearest representative (lowest index on ties), and group sizes."""
    s = similarity(x, center)
    reps = [int(i) for i in reps]
    out = []
    for i in range(s.shape[0]):
        if i in reps:
            out.append(i)
        else:
            best = max(reps, key=lambda j: (s[i, j], -j))
            out.append(best)
    sizes = [out.count(j) for j in reps]
    return out, sizes


def jaccard(a, b) -> float:
    a, b = set(int(i) for i in a), set(int(i) for i in b)
    return len(a & b) / len(a | b) if a | b else 1.0


def softmax_attention(q, k, v, bias=None, allowed=None) -> np.ndarray:
    """Dense float64 softmax(q k^T / sqrt(d) + bias) v, with disallowed keys removed."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    scores = q @ k.T / np.sqrt(q.shape[1])
    if bias is not None:
        scores = scores + bias
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    scores = scores - scores.max(axis=1, keepdims=True)
    weights = np.exp(scores)
    return (weights / weights.sum(axis=1, keepdims=True)) @ v


def _one_query(q, k, v, reps, assignment, p, causal):
    """Row of SPEC §8's compressed attention for the query at position p, with visible group counts."""
    keys = [j for j in reps if not causal or j <= p]
    counts = [sum(1 for i, a in enumerate(assignment) if a == j and (not causal or i <= p)) for j in keys]
    keys = [j for j, c in zip(keys, counts, strict=True) if c > 0]
    counts = [c for c in counts if c > 0]
    bias = np.log(np.array(counts, dtype=np.float64))[None, :]
    return softmax_attention(np.asarray(q)[[p]], np.asarray(k)[keys], np.asarray(v)[keys], bias)[0]


def rr_attention(q, k, v, reps, assignment, causal=False) -> np.ndarray:
    """SPEC §8 rr, proportional: representatives' queries only, then each token takes its group's row."""
    reps = [int(j) for j in reps]
    assignment = [int(a) for a in assignment]
    out_r = np.array([_one_query(q, k, v, reps, assignment, p, causal) for p in reps])
    return out_r[[reps.index(a) for a in assignment]]


def tr_attention(q, k, v, reps, assignment, causal=False) -> np.ndarray:
    """SPEC §8 tr, proportional: every query against the representatives."""
    reps = [int(j) for j in reps]
    assignment = [int(a) for a in assignment]
    return np.array([_one_query(q, k, v, reps, assignment, p, causal) for p in range(len(assignment))])
