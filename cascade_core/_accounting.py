"""Operation accounting (SPEC §6), in inner products of length ``d``.

FLOPs are ``2 * d`` times these counts.
"""

from __future__ import annotations

__all__ = ["ada_ops", "cascade_ops", "assign_ops", "gram_savings"]


def ada_ops(n_tokens: int) -> int:
    """ADA forms the full ``T x T`` Gram matrix: ``T**2`` (SPEC §3, §6)."""
    return n_tokens * n_tokens


def cascade_ops(n_tokens: int, r_prev: int, r_kept: int, n_uncovered: int) -> int:
    """A cascade layer: ``r**2 + (T - r') * r' + u**2`` (SPEC §6).

    ``r`` is the inherited set's size (removal Gram), ``r'`` the size kept
    after removal (validation cross-Gram), ``u`` the number of uncovered
    tokens (addition Gram).
    """
    return r_prev * r_prev + (n_tokens - r_kept) * r_kept + n_uncovered * n_uncovered


def assign_ops(n_tokens: int, r: int) -> int:
    """Inner products of the assignment pass, beyond selection (SPEC §4).

    This library assigns in one pass of the ``T - r`` other tokens against
    the final set, whichever method selected it.
    """
    return (n_tokens - r) * r


def gram_savings(ops: int, ops_ada: int) -> float:
    """``1 - sum ops_cascade / sum ops_ADA`` (SPEC §6), from the two sums."""
    return 1.0 - ops / ops_ada if ops_ada else 0.0
