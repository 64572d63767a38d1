"""The one error the library raises for bad input (SPEC §9)."""

from __future__ import annotations

__all__ = ["CascadeInputError"]

_WHERE = ("path", "layer", "slice", "token")


class CascadeInputError(ValueError):
    """Bad input: a parameter out of range, a malformed array, a bad file.

    A subclass of :class:`ValueError`, so ``except ValueError`` catches it.
    The message names where the problem is (file, layer, slice, token) and
    what was expected; the same facts are kept as attributes.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    layer : int, optional
        The layer index, when known.
    slice : tuple of int, optional
        The slice (batch and head indices; ``()`` for a single sequence).
    token : int, optional
        The token position.
    path : str, optional
        The file the data came from.
    param : str, optional
        The parameter at fault (``"tau"``, ``"backend"``, ...), named as the
        library names it; the command line shows its flag instead.
    """

    def __init__(
        self,
        message: str,
        *,
        layer: int | None = None,
        slice: tuple[int, ...] | None = None,
        token: int | None = None,
        path: str | None = None,
        param: str | None = None,
    ) -> None:
        self.reason = message
        self.layer = layer
        self.slice = slice
        self.token = token
        self.path = path
        self.param = param
        super().__init__(self.message_for(message))

    def message_for(self, reason: str) -> str:
        """The message with another wording of the reason (the command line names flags, not parameters)."""
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.layer is not None:
            where.append(f"layer {self.layer}")
        if self.slice is not None and self.slice != ():
            where.append("slice (" + ", ".join(str(i) for i in self.slice) + ")")
        if self.token is not None:
            where.append(f"token {self.token}")
        return (", ".join(where) + ": " if where else "") + reason

    def __reduce__(self):
        # Rebuilt with every field, so the error crosses processes (Dask workers) whole.
        return _rebuild, (self.reason, {k: getattr(self, k) for k in (*_WHERE, "param")})

    def located(self, **where) -> CascadeInputError:
        """Return a copy with more of the location filled in (existing fields win)."""
        fields = {k: getattr(self, k) for k in _WHERE}
        for key, value in where.items():
            if fields[key] is None:
                fields[key] = value
        return CascadeInputError(self.reason, param=self.param, **fields)


def _rebuild(reason: str, fields: dict) -> CascadeInputError:
    return CascadeInputError(reason, **fields)
