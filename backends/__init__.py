"""Backends of cascade-core: the sequential parts the array API lacks.

Installed as the import package ``cascade_core_backends`` (the source folder
is ``backends/``); users never import it, they pass ``backend="name"`` to
:mod:`cascade_core`.

A backend is a module with

``name``
    Its registry name.
``supports(xp) -> bool``
    Whether it runs on arrays of namespace `xp`.
``scan_tile(sims, tau, start, excluded) -> (chosen, excluded)``
    One tile of the greedy scan of SPEC §3 (also §5 steps 1 and 3): `sims`
    holds rows ``start .. start + m - 1`` of an ``n x n`` similarity matrix,
    `excluded` is a boolean vector of length ``n`` (tokens linked to a token
    already chosen). Rows are visited in order; a row is chosen iff it is not
    excluded, and choosing it excludes every column ``j`` with
    ``sims[row, j] >= tau``. Returns the chosen rows (global indices, int64,
    increasing) and the updated `excluded` (the same array where the backend
    updates in place).
``synchronize()``
    Wait for queued device work (for timing); a no-op on the CPU.

Backends are imported lazily by name, so an optional library (Numba, CuPy)
is needed only when its backend is asked for.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["BackendUnavailable", "available", "get", "names", "resolve"]

_MODULES = {
    "numpy": "cascade_core_backends.numpy",
    "array_api": "cascade_core_backends.array_api",
}


class BackendUnavailable(ImportError):
    """A backend was named that is unknown or whose library is not installed."""


def names() -> list[str]:
    """Registered backend names, installed or not."""
    return list(_MODULES)


def get(name: str) -> ModuleType:
    """The backend module registered as `name`."""
    try:
        module = _MODULES[name]
    except KeyError:
        raise BackendUnavailable(f"unknown backend {name!r}; choose one of {', '.join(['auto', *_MODULES])}") from None
    return importlib.import_module(module)


def available() -> list[str]:
    """Names of the backends whose libraries import on this machine."""
    found = []
    for name in _MODULES:
        try:
            get(name)
        except ImportError:
            continue
        found.append(name)
    return found


def resolve(name: str, xp) -> ModuleType:
    """The backend for arrays of namespace `xp`: `name`, or the best one for ``"auto"``."""
    if name == "auto":
        numpy_like = getattr(xp, "__name__", "").endswith("numpy")
        return get("numpy" if numpy_like else "array_api")
    backend = get(name)
    if not backend.supports(xp):
        raise BackendUnavailable(f"backend {name!r} cannot run on arrays of {getattr(xp, '__name__', xp)}")
    return backend
