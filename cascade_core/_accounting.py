"""Operation accounting (SPEC §6), in inner products of length ``d``: two ledgers.

The **paper ledger** counts what the paper counts: ``T**2`` for an ADA layer
(the full Gram matrix) and ``r**2 + (T - r') * r' + u**2`` for a cascade
layer. The **needed ledger** counts what an exact algorithm must compute
(SPEC §3.1): each token against every representative chosen before it, no
early exit. FLOPs are ``2 * d`` times these counts.
"""

from __future__ import annotations

from ._xp import Array, array_namespace

__all__ = ["ada_ops", "cascade_ops", "ada_needed", "cascade_needed", "assign_ops", "gram_savings"]


def ada_ops(n_tokens: int) -> int:
    """Paper ledger: ADA forms the full ``T x T`` Gram matrix, ``T**2`` (SPEC §3, §6)."""
    return n_tokens * n_tokens


def cascade_ops(n_tokens: int, r_prev: int, r_kept: int, n_uncovered: int) -> int:
    """Paper ledger of a cascade layer: ``r**2 + (T - r') * r' + u**2`` (SPEC §6).

    ``r`` is the inherited set's size (removal Gram), ``r'`` the size kept
    after removal (validation cross-Gram), ``u`` the number of uncovered
    tokens (addition Gram).
    """
    return r_prev * r_prev + (n_tokens - r_kept) * r_kept + n_uncovered * n_uncovered


def _pairs_below(scanned: Array, chosen: Array) -> int:
    """``sum_{k in scanned} |{j in chosen : j < k}|`` for increasing index arrays."""
    if scanned.shape[0] == 0 or chosen.shape[0] == 0:
        return 0
    xp = array_namespace(scanned, chosen)
    return int(xp.sum(xp.astype(xp.searchsorted(chosen, scanned, side="left"), xp.int64)))


def ada_needed(reps: Array, n_tokens: int) -> int:
    """Needed ledger of an ADA layer: ``sum_i |{j in R : j < i}|`` (SPEC §6).

    Each token is compared with every representative chosen before it. A
    representative ``j`` is counted once by each later token, so the sum is
    ``sum_{j in R} (T - 1 - j)``.

    Parameters
    ----------
    reps : array of int
        ADA's set ``R`` of the layer (token indices ``0 .. T-1``).
    n_tokens : int
        ``T``.

    Examples
    --------
    >>> import numpy as np
    >>> from cascade_core import ada_needed
    >>> ada_needed(np.array([0, 2, 4]), 6)   # tokens 1, 2: 1 each; 3, 4: 2 each; 5: 3
    9
    """
    if reps.shape[0] == 0:
        return 0
    xp = array_namespace(reps)
    return reps.shape[0] * (n_tokens - 1) - int(xp.sum(xp.astype(reps, xp.int64)))


def cascade_needed(n_tokens: int, prev: Array, kept: Array, uncovered: Array, added: Array) -> int:
    """Needed ledger of a cascade layer (SPEC §6): removal, validation and addition.

    * removal: ``sum_{k in R_l} |{j in R' : j < k}|``, each inherited token
      against the kept tokens before it;
    * validation: ``(T - r) * r'``, the tokens outside ``R_l`` against ``R'``
      (removed tokens are covered by the removal scan);
    * addition: ``sum_{k in U} |{j in A : j < k}|``.

    Parameters
    ----------
    n_tokens : int
        ``T``.
    prev, kept, uncovered, added : arrays of int, increasing
        ``R_l``, ``R'``, ``U`` and ``A``.

    Examples
    --------
    >>> import numpy as np
    >>> from cascade_core import cascade_needed
    >>> # R_l = {0, 2, 4} keeps {0, 4}; U = {3}, A = {3}: removal 0 + 1 + 1, validation 3 * 2, addition 0
    >>> cascade_needed(6, np.array([0, 2, 4]), np.array([0, 4]), np.array([3]), np.array([3]))
    8
    """
    removal = _pairs_below(prev, kept)
    validation = (n_tokens - prev.shape[0]) * kept.shape[0]
    return removal + validation + _pairs_below(uncovered, added)


def assign_ops(n_tokens: int, r: int) -> int:
    """Inner products of the assignment pass, beyond selection (SPEC §4).

    This library assigns in one pass of the ``T - r`` other tokens against
    the final set, whichever method selected it.
    """
    return (n_tokens - r) * r


def gram_savings(ops: int, ops_ada: int) -> float:
    """``1 - sum ops_cascade / sum ops_ADA`` (SPEC §6), from the two sums of either ledger.

    On the needed ledger it can be negative: the cascade then costs more
    than an exact ADA. 0.0 when ADA costs nothing (every slice has one token).
    """
    return 1.0 - ops / ops_ada if ops_ada else 0.0
