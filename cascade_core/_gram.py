"""Similarity of tokens (SPEC §2): normalisation, optional centring, ``|cos|``, row tiles.

Nothing here forms a ``T x T`` matrix when ``T`` exceeds the tile size: the
Gram matrix is produced in row tiles of ``tile x n`` and consumed tile by tile.
The products themselves are the backend's (:meth:`Backend.similarity`), so a
backend decides how they run and a timing wrapper can measure them.
"""

from __future__ import annotations

from . import backends
from ._dtypes import FLOAT_NAMES
from ._errors import CascadeInputError
from ._xp import Array, array_namespace, device

__all__ = [
    "TILE_ENTRIES",
    "check_floating",
    "check_extent",
    "compute_dtype",
    "normalize",
    "scale_by_power_of_two",
    "tile_rows",
    "tile_starts",
    "similarity_tile",
    "max_similarity",
]

#: Similarities per tile when the caller names no tile size: 4 Mi entries
#: (16 MiB in float32). A tile of an ``(n, m)`` similarity matrix then has
#: ``TILE_ENTRIES // m`` rows (at least 64, at most 4096).
TILE_ENTRIES = 1 << 22

_DEFAULT = backends.BaseBackend()


def compute_dtype(xp, dtype):
    """The floating dtype similarities are computed in (SPEC §9).

    float64 input stays float64; every other floating dtype (float16,
    bfloat16, float32) is computed in float32.
    """
    if dtype == xp.float64:
        return xp.float64
    return xp.float32


def check_floating(xp, dtype) -> None:
    """Refuse integer, boolean and complex activations (SPEC §9)."""
    if not xp.isdtype(dtype, "real floating"):
        raise CascadeInputError(f"activations must be floating point ({', '.join(FLOAT_NAMES)}), got {dtype}")


def check_extent(n_tokens: int, n_features: int) -> None:
    """Refuse ``T = 0`` and ``d = 0`` (SPEC §9)."""
    if n_tokens == 0:
        raise CascadeInputError("no tokens (T = 0)")
    if n_features == 0:
        raise CascadeInputError("no features (d = 0)")


def normalize(x: Array, *, center: bool = False) -> Array:
    """Rows of `x` scaled to unit length, after optional centring (SPEC §2).

    Parameters
    ----------
    x : array of shape (T, d)
        Activations of one slice, valid tokens only, any array-API namespace.
    center : bool
        Subtract the mean token before normalising.

    Returns
    -------
    array of shape (T, d)
        In the compute dtype of SPEC §9. A token of zero norm becomes a zero
        row, so its similarity to every token is 0. Each row is first scaled
        by a power of two near its largest ``|value|``
        (:func:`scale_by_power_of_two`), so the result does not depend on the
        scale of a finite row: rows of size 1e19 (float32) neither overflow
        the norm nor do rows of size 1e-25 underflow to zero rows.

    Raises
    ------
    CascadeInputError
        Non-floating dtype, ``T = 0``, ``d = 0``, or a non-finite value
        (the message names the first token affected).
    """
    xp = array_namespace(x)
    check_floating(xp, x.dtype)
    if x.ndim != 2:
        raise CascadeInputError(f"expected a (T, d) matrix, got shape {tuple(x.shape)}")
    check_extent(*x.shape)
    x = xp.astype(x, compute_dtype(xp, x.dtype), copy=True)  # our own buffer: updated in place below
    finite = xp.all(xp.isfinite(x), axis=1)
    if not bool(xp.all(finite)):
        token = int(xp.nonzero(~finite)[0][0])
        raise CascadeInputError("non-finite activation (NaN or Inf)", token=token)
    if center:
        x = scale_by_power_of_two(x, xp.max(xp.abs(x)))  # so the mean cannot overflow either
        x -= xp.mean(x, axis=0)
    x = scale_by_power_of_two(x, xp.max(xp.abs(x), axis=1))
    norms = xp.sqrt(xp.vecdot(x, x, axis=-1))
    x /= xp.where(norms > 0, norms, xp.ones_like(norms))[:, None]
    return x


def scale_by_power_of_two(x: Array, peak: Array) -> Array:
    """`x` (updated in place) times ``2**-e`` with ``2**e`` near `peak`, per row (`peak` of shape (T,)) or overall.

    Scaling before the norm, as robust norms do (LAPACK ``nrm2``), keeps
    ``sum(x_i ** 2)`` from overflowing (float32 rows of size 1e19) or
    underflowing to 0 (rows of size 1e-25): the largest ``|x_ij|`` of a row
    becomes about 1, so ``|cos|`` does not depend on the scale of a finite row.
    A power of two scales exactly (no rounding; a subnormal row is scaled up
    exactly too, and only an entry below the smallest normal number times its
    row's largest is rounded), so rows scaled by ``2**k`` give bit-identical
    normalised rows. A row of zeros (`peak` 0) is left as it is: it stays the
    zero row of SPEC §2.

    Parameters
    ----------
    x : array of shape (T, d)
        Floating activations, finite; modified in place where the namespace
        allows it (use the returned array).
    peak : array of shape (T,) or ()
        The largest ``|x_ij|`` of each row (or of the whole matrix).

    Returns
    -------
    array of shape (T, d)
        `x`, scaled.
    """
    xp = array_namespace(x, peak)
    exponent = xp.floor(xp.log2(xp.where(peak > 0, peak, xp.ones_like(peak))))
    half = xp.floor(exponent / 2)  # two steps: 2**-e alone overflows for subnormal rows (e down to -1074)
    two = xp.full_like(exponent, 2.0)
    for step in (half, exponent - half):
        factor = xp.pow(two, -step)
        x *= factor[:, None] if factor.ndim else factor
    return x


def tile_rows(tile: int | None, n_cols: int) -> int:
    """Rows per tile of a similarity matrix with `n_cols` columns: `tile`, or the default.

    Peak extra memory of a selection is then about ``rows * n_cols``
    similarities (two such arrays while a tile is made: the product and its
    absolute value), never a ``T x T`` matrix when ``T`` exceeds the tile.
    """
    if tile is not None:
        return tile
    return max(64, min(4096, TILE_ENTRIES // max(n_cols, 1)))


def tile_starts(n: int, tile: int) -> range:
    """First rows of the tiles of an ``n``-row matrix."""
    return range(0, n, tile)


def similarity_tile(rows: Array, cols_t: Array, start: int, tile: int, *, backend=None) -> Array:
    """``|rows[start : start + tile] @ cols_t|``: one row tile of the similarity matrix.

    `rows` is a normalised ``(n, d)`` matrix, `cols_t` the transpose of a
    normalised ``(m, d)`` matrix; the tile is ``(<= tile, m)``. Callers
    release each tile before computing the next, so at most one tile (and the
    product it is made from) is alive at a time.
    """
    return (backend or _DEFAULT).similarity(rows[start : min(start + tile, rows.shape[0]), :], cols_t)


def max_similarity(xh: Array, rows: Array, cols: Array, tile: int | None, *, backend=None) -> Array:
    """Largest similarity of each token of `rows` to any token of `cols` (0 if `cols` is empty).

    `rows` and `cols` index the normalised tokens `xh`; the rows are gathered
    a tile at a time, so only ``tile x |cols|`` similarities exist at once.
    """
    xp = array_namespace(xh, rows, cols)
    n = rows.shape[0]
    if cols.shape[0] == 0 or n == 0:
        return xp.zeros((n,), dtype=xh.dtype, device=device(xh))
    cols_t = xp.matrix_transpose(xp.take(xh, cols, axis=0))
    step = tile_rows(tile, cols.shape[0])
    similarity = (backend or _DEFAULT).similarity
    parts = []
    for start in tile_starts(n, step):
        block = xp.take(xh, rows[start : min(start + step, n)], axis=0)
        parts.append(xp.max(similarity(block, cols_t), axis=1))
    return xp.concat(parts)
