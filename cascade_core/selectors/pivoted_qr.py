"""``pivoted-qr`` (SPEC §10): the first ``r`` column pivots of a column-pivoted QR of ``X̂ᵀ``.

Column pivoting (Businger and Golub) takes at each step the column of
largest norm in what the previous columns leave unexplained, so the first
``r`` pivots are ``r`` tokens that span the layer well. The factorisation is
LAPACK's ``geqp3`` through :func:`scipy.linalg.qr` with ``pivoting=True``, on
NumPy arrays only: neither the array API, CuPy nor PyTorch has a pivoted
QR, and moving a GPU layer to the host behind the caller's back would
measure the transfer, so other backends are refused before any work.

The first step is a tie: every column of ``X̂ᵀ`` has norm 1 (or 0), and
``geqp3`` would break it by rounding (which unit row came out a bit longer).
SPEC §10 breaks ties to the lowest index, so the first pivot is the first
nonzero token, and ``geqp3`` runs on the other columns with that token's
direction projected out: the same steps, its first one taken by the rule.

Cost: the FLOPs of Householder QR with pivoting stopped after ``r`` steps,
``sum_{j<r} 4 (d - j)(T - j)`` (Golub and Van Loan, §5.4.2:
``4 d T r - 2 r² (d + T) + 4 r³ / 3``), whatever LAPACK computes beyond.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import is_numpy_namespace

from .._errors import CascadeInputError
from .._xp import array_namespace
from .base import BUDGET, LayerInput, Pick, Selector

__all__ = ["PivotedQR", "qr_flops", "SELECTORS"]


def qr_flops(m: int, n: int, r: int) -> int:
    """FLOPs of the first ``min(r, m, n)`` Householder steps of an ``m x n`` QR: ``sum 4 (m - j)(n - j)``."""
    return sum(4 * (m - j) * (n - j) for j in range(min(r, m, n)))


def _qr():
    """SciPy's QR (imported on first use; :meth:`PivotedQR.check` imports it before any timed step)."""
    try:
        from scipy.linalg import qr
    except ImportError:
        raise ImportError("pivoted-qr needs SciPy: pip install scipy") from None
    return qr


@dataclass
class PivotedQR(Selector):
    """The first ``r`` column pivots of a column-pivoted QR of ``X̂ᵀ``, sorted (SPEC §10)."""

    name = "pivoted-qr"
    takes = BUDGET
    cost_unit = "FLOPs"
    source = (
        "Businger and Golub, Linear least squares solutions by Householder transformations, Numer. Math. 7 "
        "(1965); LAPACK xGEQP3 (Quintana-Ortí, Sun, Bischof 1998) through scipy.linalg.qr(pivoting=True)"
    )

    def check(self, backend) -> None:
        _qr()
        if backend.name not in ("numpy", "numba"):
            raise CascadeInputError(
                f"selector 'pivoted-qr' needs a column-pivoted QR, which backend {backend.name!r} does not have "
                "(only SciPy's LAPACK geqp3 on NumPy arrays); use backend numpy or numba",
                param="backend",
            )

    def select(self, layer: LayerInput, state: Any) -> Pick:
        xh = layer.xh
        xp = array_namespace(xh)
        if not is_numpy_namespace(xp):
            raise CascadeInputError(
                f"selector 'pivoted-qr' runs on NumPy arrays only (SciPy's geqp3), got {xp.__name__}",
                param="backend",
            )
        n, d = xh.shape
        tokens = xp.arange(n, dtype=xp.int64)
        first = int(xp.argmax(xp.vecdot(xh, xh, axis=-1) > 0.5))  # the first unit row (0 if every row is zero)
        rest = xp.take(tokens, xp.nonzero(tokens != first)[0])
        chosen = xp.asarray([first], dtype=xp.int64)
        if layer.r > 1:
            others = xp.take(xh, rest, axis=0)
            others = others - (others @ xh[first, :])[:, None] * xh[first, :][None, :]
            _, pivots = _qr()(xp.matrix_transpose(others), mode="r", pivoting=True, check_finite=False)
            chosen = xp.concat([chosen, xp.take(rest, xp.astype(xp.asarray(pivots[: layer.r - 1]), xp.int64))])
        return Pick(xp.sort(chosen), cost=qr_flops(d, n, layer.r))


SELECTORS = (PivotedQR,)
