"""The backend contract: a typed :class:`Backend` protocol and :class:`BaseBackend` with its defaults.

A backend supplies what the array API lacks (the sequential greedy scan of
SPEC §3, fast counts) and decides where arrays live. Everything else in the
core is array-API code that gets its namespace from the arrays.

The greedy scan has two forms. :meth:`Backend.greedy` is the whole scan from
the chosen rows only (SPEC §3.1, the default); a backend may replace it
entirely (a compiled loop, a device-resident GPU scan). The full-Gram form
(``algorithm="full-gram"``) is driven by the core, which hands the backend one
row tile of the Gram matrix at a time (:meth:`Backend.scan_tile`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

from array_api_compat import array_namespace, device

Array = Any

__all__ = ["Array", "Backend", "BaseBackend"]


@runtime_checkable
class Backend(Protocol):
    """What the core asks of a backend.

    Attributes
    ----------
    name : str
        The name it is registered under.
    """

    name: str
    #: Tokens per tile of the chosen-rows scan (``B`` of SPEC §3.1) when the caller names none.
    block: int

    def native(self, x: Array) -> Array:
        """`x` as an array this backend computes on (zero-copy through DLPack where memory allows)."""

    def export(self, a: Array, like: Array) -> Array:
        """A result `a` of this backend, in the namespace and on the device of `like`."""

    def synchronize(self) -> None:
        """Wait for queued device work (for timing); a no-op on the CPU."""

    def warm_up(self) -> None:
        """Compile what is compiled on first use, so no timed layer pays for it."""

    def similarity(self, rows: Array, cols_t: Array) -> Array:
        """``|rows @ cols_t|``: absolute cosines of normalised rows (SPEC §2), one tile."""

    def scan_tile(self, sims: Array, tau: float, start: int, excluded: Array) -> tuple[Array, Array]:
        """One tile of the greedy scan of SPEC §3 (also §5 steps 1 and 3).

        `sims` holds rows ``start .. start + m - 1`` of an ``n x n``
        similarity matrix and `excluded` is a boolean vector of length ``n``
        (tokens linked to a token already chosen). Rows are visited in order;
        a row is chosen iff it is not excluded, and choosing it excludes every
        column ``j`` with ``sims[row, j] >= tau`` (compared in the dtype of
        `sims`). Returns the chosen rows (global indices, int64, increasing)
        and the updated `excluded` (the same array where updated in place).
        """

    def greedy(self, xh: Array, tau: float, block: int) -> Array:
        """The greedy scan of SPEC §3 over the rows of `xh`, from the chosen rows only (SPEC §3.1).

        Rows are visited in order; a row is kept iff ``|xh_i . xh_j| < tau``
        for every row ``j`` kept before it. For each tile of `block` rows:
        one cross-Gram against the rows kept so far excludes every linked
        row, then the Gram block of the tile's remaining rows is scanned in
        order. Every pair is decided once, from one computed similarity,
        so the result is a maximal independent set of the graph those
        similarities define. Returns the kept rows' indices (int64,
        increasing). This is the one scan of ADA and of the cascade's
        removal and addition steps (SPEC §5).
        """

    def uncovered(self, xh: Array, rows: Array, kept: Array, tau: float, tile: int | None) -> Array:
        """Validation of SPEC §5 step 2: for each token of `rows`, whether no token of `kept` links to it.

        `rows` and `kept` index the normalised tokens `xh`. Returns a boolean
        vector of the length of `rows` (True: uncovered). `tile` bounds the
        rows compared at once (None: about 4 Mi similarities a tile).
        """

    def greedy_slices(self, xh: Array, tau: float, block: int | None = None) -> Array:
        """The greedy scan of SPEC §3 in every slice of `xh` ``(S, n, d)``; ``(S, n)`` booleans, True: kept.

        A backend may scan all slices in batched launches; the result is
        that of :meth:`greedy` on each slice. `block` is the tile of
        :meth:`greedy` for a backend that scans slice by slice (None: its
        :attr:`block`); a batched scan may ignore it. The runner
        (:func:`cascade_core.run`) selects the ADA layers of a batched or
        per-head input through this hook, a group of slices of equal valid
        length at a time.
        """

    def group_sizes(self, assignment: Array, reps: Array) -> Array:
        """``c_j = |{i : a(i) = j}|`` for each ``j`` of the increasing `reps` (SPEC §4)."""


class BaseBackend:
    """Defaults of the :class:`Backend` protocol, in pure array-API code.

    A backend subclasses this and overrides :meth:`scan_tile` (required) and
    whatever it does faster than the defaults. The default :meth:`greedy` is
    array-API code built on the backend's own :meth:`similarity` and
    :meth:`scan_tile`.
    """

    name: ClassVar[str] = ""
    block: ClassVar[int] = 256

    def native(self, x: Array) -> Array:
        return x

    def export(self, a: Array, like: Array) -> Array:
        return a

    def synchronize(self) -> None:
        return None

    def warm_up(self) -> None:
        return None

    def similarity(self, rows: Array, cols_t: Array) -> Array:
        xp = array_namespace(rows, cols_t)
        return xp.abs(rows @ cols_t)

    def scan_tile(self, sims: Array, tau: float, start: int, excluded: Array) -> tuple[Array, Array]:
        raise NotImplementedError(f"backend {self.name!r} has no scan_tile")

    def greedy(self, xh: Array, tau: float, block: int) -> Array:
        xp = array_namespace(xh)
        dev = device(xh)
        n = xh.shape[0]
        kept_rows = xh[:0, :]  # the rows kept so far, in order
        kept = [xp.zeros((0,), dtype=xp.int64, device=dev)]
        for start in range(0, n, block):
            tile = xh[start : min(start + block, n), :]
            left = xp.arange(tile.shape[0], dtype=xp.int64, device=dev)
            if kept_rows.shape[0]:
                # (a) the tile against every row kept before it: a linked row is out.
                linked = xp.any(self.similarity(tile, xp.matrix_transpose(kept_rows)) >= tau, axis=1)
                left = xp.nonzero(~linked)[0]
                if left.shape[0] == 0:
                    continue
                tile = xp.take(tile, left, axis=0)
            # (b) the block among the tile's remaining rows, scanned in order.
            sims = self.similarity(tile, xp.matrix_transpose(tile))
            picked, _ = self.scan_tile(sims, tau, 0, xp.zeros((tile.shape[0],), dtype=xp.bool, device=dev))
            kept_rows = xp.concat([kept_rows, xp.take(tile, picked, axis=0)], axis=0)
            kept.append(xp.take(left, picked) + start)
        return xp.concat(kept)

    def uncovered(self, xh: Array, rows: Array, kept: Array, tau: float, tile: int | None) -> Array:
        xp = array_namespace(xh, rows, kept)
        n, r = rows.shape[0], kept.shape[0]
        if r == 0 or n == 0:
            return xp.ones((n,), dtype=xp.bool, device=device(xh))
        kept_t = xp.matrix_transpose(xp.take(xh, kept, axis=0))
        step = tile or max(64, min(4096, (1 << 22) // r))
        parts = []
        for start in range(0, n, step):
            block = xp.take(xh, rows[start : min(start + step, n)], axis=0)
            parts.append(xp.max(self.similarity(block, kept_t), axis=1) < tau)
        return xp.concat(parts)

    def greedy_slices(self, xh: Array, tau: float, block: int | None = None) -> Array:
        xp = array_namespace(xh)
        n = xh.shape[1]
        flags = []
        for s in range(xh.shape[0]):
            kept = self.greedy(xh[s, ...], tau, block or self.block)
            flags.append(xp.any(xp.arange(n, dtype=xp.int64, device=device(xh))[:, None] == kept[None, :], axis=1))
        return xp.stack(flags)

    def group_sizes(self, assignment: Array, reps: Array) -> Array:
        xp = array_namespace(assignment, reps)
        ordered = xp.sort(assignment)
        return xp.searchsorted(ordered, reps, side="right") - xp.searchsorted(ordered, reps, side="left")

    def __repr__(self) -> str:
        return f"<cascade-core backend {self.name!r}>"
