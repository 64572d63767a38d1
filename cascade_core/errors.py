"""The one error the library raises for bad input (SPEC §9)."""

from __future__ import annotations

__all__ = ["CascadeInputError"]


class CascadeInputError(ValueError):
    """Bad input: a threshold out of range, a malformed array, a bad file.

    A subclass of :class:`ValueError`, so ``except ValueError`` catches it.
    The message names where the problem is (file, layer, slice, token) and
    what was expected; the same facts are kept as attributes.

    Parameters
    ----------
    message
        What is wrong and what was expected.
    layer, slice, token
        Where, when known: the layer index, the slice (a tuple of batch and
        head indices; ``()`` for a single sequence) and the token position.
    path
        The file the data came from, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        layer: int | None = None,
        slice: tuple[int, ...] | None = None,
        token: int | None = None,
        path: str | None = None,
    ) -> None:
        self.reason = message
        self.layer = layer
        self.slice = slice
        self.token = token
        self.path = path
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.layer is not None:
            where.append(f"layer {self.layer}")
        if self.slice is not None and self.slice != ():
            where.append("slice (" + ", ".join(str(i) for i in self.slice) + ")")
        if self.token is not None:
            where.append(f"token {self.token}")
        return (", ".join(where) + ": " if where else "") + self.reason

    def located(self, **where) -> CascadeInputError:
        """Return a copy with more of the location filled in (existing fields win)."""
        fields = {k: getattr(self, k) for k in ("layer", "slice", "token", "path")}
        for key, value in where.items():
            if fields[key] is None:
                fields[key] = value
        return CascadeInputError(self.reason, **fields)
