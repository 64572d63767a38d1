"""Similarity of tokens (SPEC §2): normalisation, optional centring, |cos|, row tiles.

Nothing here forms a ``T x T`` matrix when ``T`` exceeds the tile size: the
Gram matrix is produced in row tiles of ``tile x n`` and consumed tile by tile.
"""

from __future__ import annotations

from collections.abc import Iterator

from ._xp import Array, array_namespace, device
from .errors import CascadeInputError

__all__ = ["DEFAULT_TILE", "compute_dtype", "normalize", "similarity_tiles", "max_similarity"]

#: Rows of the Gram matrix computed at once. Peak extra memory of a selection
#: is about ``tile * T`` similarities plus ``T * r`` for the representatives.
DEFAULT_TILE = 1024


def compute_dtype(xp, dtype):
    """The floating dtype similarities are computed in (SPEC §9).

    float64 input stays float64; every other floating dtype (float16,
    bfloat16, float32) is computed in float32.
    """
    if dtype == xp.float64:
        return xp.float64
    return xp.float32


def check_dtype(xp, dtype) -> None:
    """Refuse integer, boolean and complex activations (SPEC §9)."""
    if not xp.isdtype(dtype, "real floating"):
        raise CascadeInputError(
            f"activations must be floating point (float16, bfloat16, float32, float64), got {dtype}"
        )


def normalize(x: Array, *, center: bool = False) -> Array:
    """Rows of `x` scaled to unit length, after optional centring (SPEC §2).

    Parameters
    ----------
    x
        Activations of one slice, shape ``(T, d)``, valid tokens only.
    center
        Subtract the mean token before normalising.

    Returns
    -------
    Array
        ``(T, d)`` in the compute dtype of SPEC §9. A token of zero norm
        becomes a zero row, so its similarity to every token is 0.

    Raises
    ------
    CascadeInputError
        Non-floating dtype, ``T = 0``, ``d = 0``, or a non-finite value
        (the message names the first token affected).
    """
    xp = array_namespace(x)
    check_dtype(xp, x.dtype)
    if x.ndim != 2:
        raise CascadeInputError(f"expected a (T, d) matrix, got shape {tuple(x.shape)}")
    n_tokens, n_features = x.shape
    if n_tokens == 0:
        raise CascadeInputError("no tokens (T = 0)")
    if n_features == 0:
        raise CascadeInputError("no features (d = 0)")
    x = xp.astype(x, compute_dtype(xp, x.dtype))
    finite = xp.all(xp.isfinite(x), axis=1)
    if not bool(xp.all(finite)):
        token = int(xp.nonzero(~finite)[0][0])
        raise CascadeInputError("non-finite activation (NaN or Inf)", token=token)
    if center:
        x = x - xp.mean(x, axis=0)
    norms = xp.sqrt(xp.sum(x * x, axis=1))
    safe = xp.where(norms > 0, norms, xp.ones_like(norms))
    return x / safe[:, None]


def similarity_tiles(rows: Array, cols: Array, tile: int) -> Iterator[tuple[int, Array]]:
    """Yield ``(start, S)`` with ``S = |rows[start:start+tile] @ cols.T|``.

    Both inputs are normalised ``(n, d)`` and ``(m, d)`` matrices; each tile
    is ``(<= tile, m)``.
    """
    xp = array_namespace(rows, cols)
    cols_t = xp.matrix_transpose(cols)
    n = rows.shape[0]
    for start in range(0, n, tile):
        yield start, xp.abs(rows[start : min(start + tile, n), :] @ cols_t)


def max_similarity(rows: Array, cols: Array, tile: int) -> Array:
    """Largest similarity of each row of `rows` to any row of `cols` (0 if `cols` is empty), in tiles."""
    xp = array_namespace(rows, cols)
    if cols.shape[0] == 0 or rows.shape[0] == 0:
        return xp.zeros((rows.shape[0],), dtype=rows.dtype, device=device(rows))
    return xp.concat([xp.max(s, axis=1) for _, s in similarity_tiles(rows, cols, tile)])
