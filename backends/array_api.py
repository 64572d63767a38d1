"""The greedy scan in pure array-API code: runs on any conforming namespace.

Slow (one host read per candidate row), but it is the definition written with
nothing outside the standard, so it runs under ``array-api-strict`` and on
frameworks that have no backend of their own.
"""

from __future__ import annotations

from array_api_compat import array_namespace, device

from .base import BaseBackend

__all__ = ["ArrayAPIBackend", "backend"]


class ArrayAPIBackend(BaseBackend):
    """Every default of :class:`BaseBackend` (the chosen-rows scan included), and the tile scan written with the
    standard alone."""

    name = "array_api"
    #: B of SPEC §3.1: the scan reads one value per candidate row from the device, so fewer rows a block
    #: cost nothing; 256 keeps the block's Gram product small.
    block = 256

    def scan_tile(self, sims, tau, start, excluded):
        xp = array_namespace(sims, excluded)
        dev = device(sims)
        m = sims.shape[0]
        # Candidates: rows of this tile that no earlier chosen token excludes.
        candidates = xp.nonzero(~excluded[start : start + m])[0]
        n_cand = candidates.shape[0]
        if n_cand == 0:
            return candidates + start, excluded
        # Links among the candidates, read row-wise (row i decides column j > i).
        among = xp.take(xp.take(sims, candidates, axis=0), candidates + start, axis=1) >= tau
        blocked = xp.zeros((n_cand,), dtype=xp.bool, device=dev)
        taken = []
        for k in range(n_cand):
            if not bool(blocked[k]):
                taken.append(k)
                blocked = blocked | among[k, :]
        chosen = xp.take(candidates, xp.asarray(taken, dtype=candidates.dtype, device=dev))
        links = xp.take(sims, chosen, axis=0) >= tau
        excluded = excluded | xp.any(links, axis=0)
        return chosen + start, excluded


backend = ArrayAPIBackend()
