"""Token views built directly (no selection run), for size bounds and large pages."""

from __future__ import annotations

import random

from cascade_core import TokenView


def random_view(n_tokens: int, n_layers: int, *, share: float = 0.45, differ: float = 0.05, seed: int = 0):
    """A valid view of `n_tokens` x `n_layers` with random sets (about `share` of the tokens), random groups
    (each token in a random member's group: the least compressible case) and ADA sets that differ in about
    `differ` of their members. Token text: short random words."""
    rng = random.Random(seed)
    positions = list(range(n_tokens))
    letters = "abcdefghijklmnopqrstuvwxyz"
    tokens = [("" if i % 5 else " ") + "".join(rng.choices(letters, k=rng.randint(1, 8))) for i in positions]

    def layer_sets(chosen: set[int]):
        members = sorted(chosen) or [0]
        groups = [p if p in chosen else rng.choice(members) for p in positions]
        return members, groups

    cascade, groups, ada, ada_groups = [], [], [], []
    for _ in range(n_layers):
        chosen = {p for p in positions if rng.random() < share}
        members, group = layer_sets(chosen)
        cascade.append(members)
        groups.append(group)
        flipped = {p for p in positions if rng.random() < differ * share}
        members, group = layer_sets(chosen ^ flipped)
        ada.append(members)
        ada_groups.append(group)
    return TokenView(
        path="synthetic",
        slice=(0,),
        positions=positions,
        tokens=tokens,
        layers=list(range(n_layers)),
        cascade=cascade,
        ada=ada,
        groups=groups,
        ada_groups=ada_groups,
    )
