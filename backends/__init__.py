"""Backends of cascade-core: the sequential parts the array API lacks.

Installed as the import package ``cascade_core_backends`` (the source folder
is ``backends/``); users never import it, they pass ``backend="name"`` to
:mod:`cascade_core`.

A backend is a module with

``name``
    Its registry name.
``native(x)``
    `x` as an array the backend computes on (zero-copy through DLPack where
    the memory allows; a copy to or from the GPU where it must).
``export(a, like)``
    A result `a` of the backend, in the namespace and on the device of `like`.
``scan_tile(sims, tau, start, excluded) -> (chosen, excluded)``
    One tile of the greedy scan of SPEC §3 (also §5 steps 1 and 3): `sims`
    holds rows ``start .. start + m - 1`` of an ``n x n`` similarity matrix,
    `excluded` is a boolean vector of length ``n`` (tokens linked to a token
    already chosen). Rows are visited in order; a row is chosen iff it is not
    excluded, and choosing it excludes every column ``j`` with
    ``sims[row, j] >= tau`` (compared in the dtype of `sims`). Returns the
    chosen rows (global indices, int64, increasing) and the updated
    `excluded` (the same array where the backend updates in place).
``synchronize()``
    Wait for queued device work (for timing); a no-op on the CPU.
``group_sizes(assignment, reps)`` (optional)
    SPEC §4's counts; the core's array-API version serves otherwise.
``warm_up()`` (optional)
    Compile what is compiled on first use; the runner calls it before timing.

Backends are imported lazily by name, so an optional library (Numba, CuPy)
is needed only when its backend is asked for.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import array_api_compat as compat

__all__ = ["BackendUnavailable", "available", "get", "names", "resolve", "on_gpu"]

_MODULES = {
    "numpy": "cascade_core_backends.numpy",
    "numba": "cascade_core_backends.numba",
    "cupy": "cascade_core_backends.cupy",
    "array_api": "cascade_core_backends.array_api",
}

_INSTALL = {
    "numba": "Numba: pip install numba",
    "cupy": "CuPy: pip install 'cascade-core[cuda]' (NVIDIA, CUDA 12/13) or 'cascade-core[rocm]' (AMD, ROCm 7)",
}

#: DLPack device types of GPU memory (CUDA, ROCm, CUDA managed).
_GPU_DEVICES = {2, 10, 13}


class BackendUnavailable(ImportError):
    """A backend was named that is unknown, not installed, or cannot take the input."""


def names() -> list[str]:
    """Registered backend names, installed or not."""
    return list(_MODULES)


def get(name: str) -> ModuleType:
    """The backend module registered as `name`; a one-line error says what to install."""
    try:
        module = _MODULES[name]
    except KeyError:
        raise BackendUnavailable(f"unknown backend {name!r}; choose one of {', '.join(['auto', *_MODULES])}") from None
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise BackendUnavailable(f"backend {name!r} is not available ({err}); install {_INSTALL[name]}") from None


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


def on_gpu(x) -> bool:
    """Whether `x` lives in GPU memory (by its DLPack device)."""
    try:
        return x.__dlpack_device__()[0] in _GPU_DEVICES
    except (AttributeError, TypeError, RuntimeError, BufferError):
        return False


def _first_available(*choices: str) -> ModuleType:
    for choice in choices:
        try:
            return get(choice)
        except BackendUnavailable:
            continue
    return get(choices[-1])


def resolve(name: str, x) -> ModuleType:
    """The backend for array `x`: `name`, or for ``"auto"`` the best one for where `x` lives.

    ``auto``: NumPy arrays, and PyTorch or JAX arrays on the CPU, go to
    ``numba`` (``numpy`` without Numba); CuPy arrays, and PyTorch or JAX
    arrays on a GPU, go to ``cupy`` (``array_api`` without CuPy); arrays of
    any other namespace run on the pure array-API backend.
    """
    if name != "auto":
        backend = get(name)
        if name in ("numpy", "numba") and on_gpu(x):
            raise BackendUnavailable(
                f"backend {name!r} runs on the CPU but the input lives on a GPU; use backend='cupy' or 'auto'"
            )
        return backend
    known = compat.is_numpy_array(x) or compat.is_cupy_array(x) or compat.is_torch_array(x) or compat.is_jax_array(x)
    if not known:
        return get("array_api")
    if on_gpu(x):
        return _first_available("cupy", "array_api")
    return _first_available("numba", "numpy")
