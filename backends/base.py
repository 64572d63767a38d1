"""The backend contract: a typed :class:`Backend` protocol and :class:`BaseBackend` with its defaults.

A backend supplies what the array API lacks (the sequential greedy scan of
SPEC §3, fast counts) and decides where arrays live. Everything else in the
core is array-API code that gets its namespace from the arrays.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

from array_api_compat import array_namespace

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

    def group_sizes(self, assignment: Array, reps: Array) -> Array:
        """``c_j = |{i : a(i) = j}|`` for each ``j`` of the increasing `reps` (SPEC §4)."""


class BaseBackend:
    """Defaults of the :class:`Backend` protocol, in pure array-API code.

    A backend subclasses this and overrides :meth:`scan_tile` (required) and
    whatever it does faster than the defaults.
    """

    name: ClassVar[str] = ""

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

    def group_sizes(self, assignment: Array, reps: Array) -> Array:
        xp = array_namespace(assignment, reps)
        ordered = xp.sort(assignment)
        return xp.searchsorted(ordered, reps, side="right") - xp.searchsorted(ordered, reps, side="left")

    def __repr__(self) -> str:
        return f"<cascade-core backend {self.name!r}>"
