"""cascade-core: Cascade Token Selection (Thomas, arXiv 2605.03110, 2026).

ADA picks representative tokens at every layer by a threshold on the
absolute-cosine Gram matrix (``O(T**2 d)``); the cascade inherits the set of
the layer before and repairs it (``O(T r d)``). The algorithm is written
once against the Python array API: NumPy, CuPy, PyTorch or JAX arrays in,
results out, in the same namespace. The rules live in ``SPEC.md``; each
section has one module here:

=========  ===========================================
SPEC §2    :mod:`cascade_core.gram`
SPEC §3    :mod:`cascade_core.ada`
SPEC §4    :mod:`cascade_core.assignment`
SPEC §5    :mod:`cascade_core.cascade`
SPEC §6    :mod:`cascade_core.accounting`
SPEC §7    :mod:`cascade_core.metrics`
SPEC §1    :mod:`cascade_core.runner`
SPEC §9    :mod:`cascade_core.errors`, :mod:`cascade_core.gram`
=========  ===========================================
"""

from __future__ import annotations

import cascade_core_backends as _backends

from .ada import Selection, ada
from .assignment import assign
from .cascade import CascadeStep, cascade
from .errors import CascadeInputError
from .metrics import LayerRecord, RunTotals, jaccard
from .runner import RunResult, run

__version__ = "0.1.0"

__all__ = [
    "CascadeInputError",
    "CascadeStep",
    "LayerRecord",
    "RunResult",
    "RunTotals",
    "Selection",
    "ada",
    "assign",
    "backends",
    "cascade",
    "jaccard",
    "run",
]


def backends() -> list[str]:
    """Names of the backends usable on this machine (besides ``"auto"``)."""
    return _backends.available()
