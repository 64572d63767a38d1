"""Screened similarities: the proven error bound ``delta`` of a low-precision product, and the three-way split.

A GPU computes Gram tiles fastest from rows rounded to a low precision
(float16 on tensor cores, float32 accumulation). Such a similarity ``s`` is
within :func:`delta` of the exact similarity of the float32 unit rows, so:

* ``|s| >= tau + delta``: the pair is linked, whatever float32 would say;
* ``|s| < tau - delta``: the pair is not linked;
* otherwise the pair is *ambiguous* and is re-computed in float32.

The decisions are then those of the float32 path (up to SPEC §9's margin,
which covers the float32 path's own rounding). The derivation is in
``docs/backends.rst`` ("Screened similarities"); :func:`delta` is its formula
term by term. Pure Python, no array library: the CPU tests check it against
rounding emulated in NumPy.
"""

from __future__ import annotations

import math

__all__ = ["PRECISIONS", "UNIT_ROUNDOFF", "SUBNORMAL_HALF_SPACING", "delta", "split"]

#: The precisions a Gram tile can be computed in (float32: no screening).
PRECISIONS = ("float32", "float16")

#: Unit roundoff ``u`` of each input precision: a component rounded to nearest has relative error <= u.
UNIT_ROUNDOFF = {"float16": 2.0**-11, "float32": 0.0}

#: Half the spacing of each precision's subnormal numbers: the absolute error of a tiny component.
SUBNORMAL_HALF_SPACING = {"float16": 2.0**-25, "float32": 0.0}

#: Unit roundoff of the float32 accumulation, doubled: tensor cores may truncate instead of rounding.
ACCUMULATION_ROUNDOFF = 2.0**-23

#: Bound on the norm of a float32-normalised row (its norm is 1 up to float32 rounding of d terms).
_NORM_SLACK = 2.0**-16


def delta(n_features: int, precision: str) -> float:
    """Largest difference between a screened similarity and the exact one of the float32 unit rows.

    With ``u`` the input unit roundoff, ``eta`` half the subnormal spacing,
    ``N`` a bound on the rows' norms and ``g = d e / (1 - d e)`` the
    accumulation bound (``e = 2**-23``, any summation order)::

        rounding  = 2 u N^2 + u^2 N^2 + 2 eta sqrt(d) N (1 + u) + eta^2 d
        summation = g (N (1 + u) + eta sqrt(d))^2
        delta     = rounding + summation

    Parameters
    ----------
    n_features : int
        ``d``, the length of the rows.
    precision : {"float32", "float16"}
        The precision the rows are rounded to before the product.

    Returns
    -------
    float
        ``delta``; 0.0 for ``"float32"`` (nothing is screened).

    Examples
    --------
    >>> from cascade_core.backends.screening import delta
    >>> round(delta(128, "float16"), 7), round(delta(4096, "float16"), 7)
    (0.0009928, 0.0014697)
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "float32":
        return 0.0
    u = UNIT_ROUNDOFF[precision]
    eta = SUBNORMAL_HALF_SPACING[precision]
    d = int(n_features)
    norm = 1.0 + _NORM_SLACK
    root = math.sqrt(d)
    rounding = (2 * u + u * u) * norm * norm + 2 * eta * root * norm * (1 + u) + eta * eta * d
    e = d * ACCUMULATION_ROUNDOFF
    if e >= 1:
        raise ValueError(f"d = {d} is too long for a float32 accumulation bound")
    summation = e / (1 - e) * (norm * (1 + u) + eta * root) ** 2
    return rounding + summation


def split(similarity: float, tau: float, bound: float) -> str:
    """The screening decision of one screened similarity: ``"linked"``, ``"not linked"`` or ``"recheck"``.

    Examples
    --------
    >>> from cascade_core.backends.screening import split
    >>> split(0.52, 0.5, 0.01), split(-0.48, 0.5, 0.01), split(0.495, 0.5, 0.01)
    ('linked', 'not linked', 'recheck')
    """
    s = abs(similarity)
    if s >= tau + bound:
        return "linked"
    if s < tau - bound:
        return "not linked"
    return "recheck"
