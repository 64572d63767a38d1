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


# ---- SPEC §10: other selectors, and the figures of any set ------------------------------------------
#
# Each reference returns its result and whether some decision was a near tie (two candidates within
# TIE of each other): there the float32 or vectorised library may break the tie the other way, and a
# test compares only the properties every answer has.

TIE = 1e-9


def unit_rows(x, center: bool = False) -> np.ndarray:
    """SPEC §2's normalised rows in float64 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    if center:
        x = x - x.mean(axis=0)
    norms = np.sqrt((x * x).sum(axis=1))
    return np.divide(x, norms[:, None], out=np.zeros_like(x), where=norms[:, None] > 0)


def _linked(s, tau, i, j) -> bool:
    """SPEC §2's link, read from the earlier token's row."""
    return i != j and s[min(i, j), max(i, j)] >= tau


def ada_degree(x, tau: float) -> list[int]:
    """SPEC §10 ada-degree: the uncovered token with the most uncovered linked tokens, until none is uncovered."""
    s = similarity(x)
    n = s.shape[0]
    uncovered = set(range(n))
    chosen = []
    while uncovered:
        best, best_degree = None, -1
        for i in range(n):
            if i in uncovered:
                degree = sum(1 for j in uncovered if _linked(s, tau, i, j))
                if degree > best_degree:
                    best, best_degree = i, degree
        chosen.append(best)
        uncovered -= {best} | {j for j in uncovered if _linked(s, tau, best, j)}
    return sorted(chosen)


def _group_vector(xh, group):
    total = xh[list(group)].sum(axis=0)
    norm = np.sqrt(total @ total)
    return total / norm if norm > 0 else total


def tome(x, r: int) -> dict:
    """SPEC §10 tome, round by round on lists of tokens: members, every token's member, cost, near ties."""
    xh = unit_rows(x)
    groups = [[i] for i in range(xh.shape[0])]
    cost, ties, rounds = 0, False, 0
    while len(groups) > r:
        groups.sort(key=min)
        side_a, side_b = groups[0::2], groups[1::2]
        vb = [_group_vector(xh, b) for b in side_b]
        picks = []
        for a in side_a:
            va = _group_vector(xh, a)
            sims = [abs(float(va @ v)) for v in vb]
            best = max(range(len(sims)), key=lambda j: (sims[j], -j))
            ties |= any(j != best and abs(sims[j] - sims[best]) < TIE for j in range(len(sims)))
            picks.append((sims[best], best))
        k = min(len(side_a), len(groups) - r)
        order = sorted(range(len(side_a)), key=lambda p: (-picks[p][0], p))
        if k < len(order):
            ties |= abs(picks[order[k - 1]][0] - picks[order[k]][0]) < TIE
        merging = set(order[:k])
        new_b = [list(b) for b in side_b]
        for p in sorted(merging):
            new_b[picks[p][1]] += side_a[p]
        groups = [side_a[p] for p in range(len(side_a)) if p not in merging] + new_b
        cost += len(side_a) * len(side_b)
        rounds += 1
    member_of = {}
    for group in groups:
        for i in group:
            member_of[i] = min(group)
    members = sorted(min(group) for group in groups)
    return {
        "reps": members,
        "groups": [member_of[i] for i in range(xh.shape[0])],
        "cost": cost,
        "rounds": rounds,
        "ties": ties,
    }


def divprune(x, r: int) -> tuple[list[int], bool]:
    """SPEC §10 divprune: max-min diversity with distance 1 - s_ij, greedily; and whether a pick was a near tie."""
    s = similarity(x)
    n = s.shape[0]
    ties = False

    def argmin(values: dict) -> int:
        nonlocal ties
        best = min(values, key=lambda i: (values[i], i))
        ties |= any(i != best and abs(v - values[best]) < TIE for i, v in values.items())
        return best

    nearest = {i: max((s[i, j] for j in range(n) if j != i), default=-1.0) for i in range(n)}
    chosen = [argmin(nearest)]
    while len(chosen) < r:
        chosen.append(argmin({i: max(s[i, c] for c in chosen) for i in range(n) if i not in chosen}))
    return sorted(chosen), ties


def pivoted_qr(x, r: int) -> tuple[list[int], bool]:
    """Column pivoting (Businger-Golub) on X̂ᵀ with exact residual norms: r pivots, sorted; and near ties.

    Norms equal up to rounding (within 1e-12 relative, as the unit norms of the first step) tie, and the lower
    index wins; norms closer than 1e-6 but not equal are near ties a factorisation may order either way.
    """
    a = unit_rows(x).T.copy()  # d x T: columns are tokens
    chosen, ties = [], False
    for _ in range(r):
        norms = {j: float(a[:, j] @ a[:, j]) for j in range(a.shape[1]) if j not in chosen}
        top = max(norms.values())
        best = min(j for j, v in norms.items() if v >= top * (1 - 1e-12))
        ties |= any(top * (1 - 1e-6) <= v < top * (1 - 1e-12) for v in norms.values())
        chosen.append(best)
        q = a[:, best] / np.sqrt(norms[best])
        a = a - np.outer(q, q @ a)
    return sorted(chosen), ties


def attention_mass(q, k, causal: bool = False) -> list[float]:
    """Post-softmax attention probabilities summed over queries and heads, key by key, in float64 loops."""
    q, k = np.asarray(q, dtype=np.float64), np.asarray(k, dtype=np.float64)
    n_heads, n, d = q.shape
    mass = [0.0] * n
    for h in range(n_heads):
        for i in range(n):
            keys = [j for j in range(n) if not causal or j <= i]
            scores = [float(q[h, i] @ k[h, j]) / np.sqrt(d) for j in keys]
            top = max(scores)
            weights = [np.exp(v - top) for v in scores]
            total = sum(weights)
            for j, w in zip(keys, weights, strict=True):
                mass[j] += w / total
    return mass


def top_r(values, r: int) -> tuple[list[int], bool]:
    """The r largest values' indices (ties: the lower index), sorted; and whether the cut was a near tie."""
    order = sorted(range(len(values)), key=lambda i: (-values[i], i))
    ties = r < len(values) and abs(values[order[r - 1]] - values[order[r]]) < TIE * max(1.0, abs(values[order[r]]))
    return sorted(order[:r]), ties


def norm_topk(x, r: int) -> tuple[list[int], bool]:
    """SPEC §10 norm-topk: the r tokens of largest raw norm."""
    x = np.asarray(x, dtype=np.float64)
    return top_r([float(np.sqrt(row @ row)) for row in x], r)


def coverage(x, reps, tau: float) -> int:
    """Tokens in the set or with similarity >= tau to a member (SPEC §10)."""
    s = similarity(x)
    reps = [int(j) for j in reps]
    return sum(1 for i in range(s.shape[0]) if i in reps or any(s[i, j] >= tau for j in reps))


def largest_inside(x, reps):
    """The largest similarity over pairs of distinct members (None for fewer than two)."""
    s = similarity(x)
    reps = [int(j) for j in reps]
    pairs = [s[i, j] for a, i in enumerate(reps) for j in reps[a + 1 :]]
    return max(pairs) if pairs else None


def residual(x, reps, center: bool = False) -> float:
    """||X̂ - X̂ P_S||_F / ||X̂||_F, the span of the set's rows orthonormalised by Gram-Schmidt (twice)."""
    xh = unit_rows(x, center)
    basis = []
    for j in [int(j) for j in reps]:
        v = xh[j].copy()
        for _ in range(2):
            for b in basis:
                v -= (b @ v) * b
        norm = np.sqrt(v @ v)
        if norm > 1e-9:
            basis.append(v / norm)
    diff = xh.copy()
    for b in basis:
        diff -= np.outer(diff @ b, b)
    total = float((xh * xh).sum())
    return float(np.sqrt((diff * diff).sum() / total)) if total > 0 else 0.0
