"""Backends: the sequential parts the array API lacks, registered by name.

The source folder ``backends/`` is the subpackage ``cascade_core.backends``.
Each backend is one small module holding a :class:`~cascade_core.backends.base.BaseBackend`
subclass and its instance ``backend``; the optional library it needs (Numba,
CuPy) is imported only when the backend is asked for, and a missing one is an
:class:`ImportError` that says what to install.

==================  ==================================================================================
``numpy``           the CPU reference, vectorised per tile
``numba``           compiled scans on the CPU (the CPU default with Numba)
``cupy``            the whole selection on a GPU, CUDA or ROCm, from screened float16 products (float32 decisions)
``cupy-float32``    the same, every product in float32
``array_api``       the scan in pure array-API code, for any namespace
==================  ==================================================================================
"""

from __future__ import annotations

import importlib

import array_api_compat as compat

from .._errors import CascadeInputError
from .base import Backend, BaseBackend

__all__ = ["Backend", "BaseBackend", "BackendUnavailable", "available", "get", "names", "resolve", "on_gpu"]

_MODULES = {
    "numpy": "cascade_core.backends.numpy",
    "numba": "cascade_core.backends.numba",
    "cupy": "cascade_core.backends.cupy",
    "cupy-float32": "cascade_core.backends.cupy",
    "array_api": "cascade_core.backends.array_api",
}

_INSTALL = {
    "numpy": "NumPy: pip install numpy",
    "numba": "Numba: pip install numba",
    "array_api": "array-api-compat: pip install array-api-compat",
    "cupy-float32": "CuPy (see 'cupy')",
    "cupy": "CuPy: pip install 'cascade-core[cuda]' (NVIDIA, CUDA 13), 'cascade-core[cuda12]' (CUDA 12) "
    "or 'cascade-core[rocm]' (AMD, ROCm 7)",
}

#: The module attribute holding each backend (``backend`` unless named here).
_ATTRIBUTES = {"cupy-float32": "backend_float32"}

#: DLPack device types of GPU memory (CUDA, ROCm, CUDA managed).
_GPU_DEVICES = {2, 10, 13}


class BackendUnavailable(ImportError):
    """A backend's library is not installed (the message says what to install)."""


def names() -> list[str]:
    """Registered backend names, installed or not."""
    return list(_MODULES)


def get(name: str) -> Backend:
    """The backend registered as `name`.

    Raises
    ------
    CascadeInputError
        `name` is not a registered backend.
    BackendUnavailable
        Its library is not installed (an :class:`ImportError`).
    """
    if not isinstance(name, str) or name not in _MODULES:
        raise CascadeInputError(
            f"unknown backend {name!r}; choose one of {', '.join(['auto', *_MODULES])}", param="backend"
        )
    try:
        module = importlib.import_module(_MODULES[name])
    except ImportError as err:
        raise BackendUnavailable(f"backend {name!r} is not available ({err}); install {_INSTALL[name]}") from None
    return getattr(module, _ATTRIBUTES.get(name, "backend"))


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


def _first_available(*choices: str) -> Backend:
    for choice in choices[:-1]:
        try:
            return get(choice)
        except BackendUnavailable:
            continue
    return get(choices[-1])


def resolve(name: str, x) -> Backend:
    """The backend for array `x`: `name`, or for ``"auto"`` the best one for where `x` lives.

    ``auto``: NumPy arrays, and PyTorch or JAX arrays on the CPU, go to
    ``numba`` (``numpy`` without Numba); CuPy arrays, and PyTorch or JAX
    arrays on a GPU, go to ``cupy`` (``array_api`` without CuPy); arrays of
    any other namespace run on the pure array-API backend.

    Raises
    ------
    CascadeInputError
        An unknown name, or a CPU backend named for an array on a GPU.
    BackendUnavailable
        The named backend's library is not installed.
    """
    if name != "auto":
        backend = get(name)
        if name in ("numpy", "numba") and on_gpu(x):
            raise CascadeInputError(
                f"backend {name!r} runs on the CPU but the input lives on a GPU; use 'cupy' or 'auto'",
                param="backend",
            )
        return backend
    known = compat.is_numpy_array(x) or compat.is_cupy_array(x) or compat.is_torch_array(x) or compat.is_jax_array(x)
    if not known:
        return get("array_api")
    if on_gpu(x):
        return _first_available("cupy", "array_api")
    return _first_available("numba", "numpy")
