"""``tome`` (SPEC §10): ToMe's bipartite soft matching, repeated in rounds until ``r`` groups remain.

One round: the current groups, ordered by their member (lowest token
index), alternate between A (even positions) and B (odd). A group's vector
is the normalised mean of its tokens' ``x̂``; similarity is ``|cos|`` of group
vectors (SPEC §2). Each A group picks its most similar B group (ties: the
lower B), and the ``k = min(|A|, groups - r)`` A groups with the most similar
picks (ties: the lower A) merge into them; several may merge into one B
group. A round costs ``|A| · |B|`` inner products.

Index work is done with whole-array operations: a round's merges are a
one-hot ``|B| x |A|`` product, and every token's group is one gather through
the round's renumbering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._gram import normalize
from .._xp import Array, array_namespace, device, isin_sorted
from .base import BUDGET, LayerInput, Pick, Selector

__all__ = ["ToMe", "merge_round", "SELECTORS"]


def _interleave(even: Array, odd: Array) -> Array:
    """``[even[0], odd[0], even[1], odd[1], ...]`` (`even` may be one longer)."""
    xp = array_namespace(even, odd)
    n = odd.shape[0]
    pairs = xp.reshape(xp.stack([even[:n], odd], axis=1), (-1,))
    return xp.concat([pairs, even[n:]]) if even.shape[0] > n else pairs


def merge_round(sums: Array, members: Array, r: int, *, backend) -> tuple[Array, Array, Array, int]:
    """One round of bipartite soft matching on ``g > r`` groups ordered by member.

    Parameters
    ----------
    sums : array of shape (g, d)
        Sum of each group's normalised tokens (its direction is the group's vector).
    members : array of int64, shape (g,)
        Each group's member, increasing.
    r : int
        The number of groups to reach.
    backend : Backend
        Computes the ``|A| x |B|`` similarities.

    Returns
    -------
    sums, members : arrays
        The groups after the round, ordered by member.
    renumber : array of int64, shape (g,)
        The new position of each old group.
    cost : int
        ``|A| · |B|``.
    """
    xp = array_namespace(sums, members)
    dev = device(sums)
    g = members.shape[0]
    sums_a, sums_b = sums[0::2, :], sums[1::2, :]
    members_a, members_b = members[0::2], members[1::2]
    n_a, n_b = members_a.shape[0], members_b.shape[0]
    sims = backend.similarity(normalize(sums_a), xp.matrix_transpose(normalize(sums_b)))
    best = xp.argmax(sims, axis=1)  # first maximum: the lower B group
    score = xp.max(sims, axis=1)
    k = min(n_a, g - r)
    merging = xp.argsort(score, descending=True, stable=True)[:k]  # equal scores: the lower A group first
    merged = isin_sorted(xp.arange(n_a, dtype=merging.dtype, device=dev), xp.sort(merging))

    # B groups absorb the A groups that merge into them.
    target = xp.where(merged, best, xp.full_like(best, -1))
    onehot = target[None, :] == xp.arange(n_b, dtype=target.dtype, device=dev)[:, None]  # (|B|, |A|)
    sums_b = sums_b + xp.astype(onehot, sums.dtype) @ sums_a
    members_b = xp.min(xp.where(onehot, members_a[None, :], members_b[:, None]), axis=1)

    # The groups left, ordered by member, and where every old group went.
    stay = xp.nonzero(~merged)[0]
    n_stay = stay.shape[0]
    new_members = xp.concat([xp.take(members_a, stay), members_b])
    new_sums = xp.concat([xp.take(sums_a, stay, axis=0), sums_b], axis=0)
    order = xp.argsort(new_members)
    rank = xp.argsort(order)  # position after sorting of each entry of new_members
    stay_rank = xp.cumulative_sum(xp.astype(~merged, xp.int64)) - 1
    before_a = xp.where(merged, n_stay + xp.astype(best, xp.int64), stay_rank)
    before_b = n_stay + xp.arange(n_b, dtype=xp.int64, device=dev)
    renumber = xp.take(rank, _interleave(before_a, before_b))
    return xp.take(new_sums, order, axis=0), xp.take(new_members, order), renumber, n_a * n_b


@dataclass
class ToMe(Selector):
    """ToMe's bipartite soft matching in rounds until ``r`` groups remain; its groups are the merges (SPEC §10)."""

    name = "tome"
    takes = BUDGET
    cost_unit = "inner products"
    source = (
        "Bolya et al., Token Merging: Your ViT But Faster, ICLR 2023 (arXiv 2210.09461); "
        "github.com/facebookresearch/ToMe, tome/merge.py"
    )

    def select(self, layer: LayerInput, state: Any) -> Pick:
        xh = layer.xh
        xp = array_namespace(xh)
        n = xh.shape[0]
        members = xp.arange(n, dtype=xp.int64, device=device(xh))
        group = members  # every token's group, as a position among the current groups
        sums = xh
        cost = 0
        while members.shape[0] > layer.r:
            sums, members, renumber, spent = merge_round(sums, members, layer.r, backend=layer.backend)
            group = xp.take(renumber, group)
            cost += spent
        return Pick(members, groups=xp.take(members, group), cost=cost)


SELECTORS = (ToMe,)
