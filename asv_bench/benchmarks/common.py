"""Shared pieces of the asv suite: backends as parameters, seeded data.

The data recipe here is frozen: it is *only ever appended to, never changed*
(NumPy's rule), so results recorded months apart measure the same inputs.
It deliberately does not call :mod:`cascade_core.synthetic`, which may evolve
with the library. Editing a benchmark's source resets its history in asv.
"""

from __future__ import annotations

import importlib

import numpy as np

BACKENDS = ["numpy", "numba", "cupy"]  # never extended: new values would drop the kept results (a class of its own)
TOKENS = [512, 2048, 8192]
FEATURES = [768, 4096]
TAU = 0.5


def layers(n_layers: int, n_tokens: int, n_features: int, *, rep_ratio: float = 0.45, seed: int = 1234):
    """Frozen recipe: noisy copies of ``rep_ratio * T`` random directions, 5 % of tokens move a layer."""
    rng = np.random.default_rng(seed)
    k = max(1, round(rep_ratio * n_tokens))
    centers = rng.standard_normal((k, n_features), dtype=np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    labels = rng.permutation(np.concatenate([np.arange(k), rng.integers(0, k, n_tokens - k)]))[:n_tokens]
    out = []
    for _ in range(n_layers):
        noise = rng.standard_normal((n_tokens, n_features), dtype=np.float32)
        noise *= 0.5 / np.linalg.norm(noise, axis=1, keepdims=True)
        out.append(centers[labels] + noise)
        moving = rng.random(n_tokens) < 0.05
        labels = np.where(moving, rng.integers(0, k, n_tokens), labels)
    return np.stack(out)


def core(name: str):
    """The library's module `name` (``gram``, ``ada`` ...), private today, public in older commits.

    asv runs today's benchmarks on older commits, so the suite finds what it
    needs under either name.
    """
    try:
        return importlib.import_module(f"cascade_core._{name}")
    except ImportError:
        return importlib.import_module(f"cascade_core.{name}")


def backend_or_skip(name: str):
    """The backend, or NotImplementedError (asv's skip) when it cannot run here."""
    try:
        from cascade_core.backends import get
    except ImportError:  # before the backends became cascade_core.backends
        from cascade_core_backends import get
    try:
        backend = get(name)
    except ImportError:
        raise NotImplementedError(f"backend {name} is not installed") from None
    except ValueError:  # a name this commit does not register (cupy-float32 before issue 14)
        raise NotImplementedError(f"no backend {name} in this commit") from None
    if name.startswith("cupy"):
        import cupy

        if cupy.cuda.runtime.getDeviceCount() == 0:
            raise NotImplementedError("no GPU")
    return backend


def on_backend(array, backend):
    """`array` where `backend` computes (a CuPy array for the GPU)."""
    return backend.native(array)


class XPBenchmark:
    """Base: parametrised over backends; GPU work is synchronised inside the timed call."""

    params = [BACKENDS]
    param_names = ["backend"]

    def _setup_backend(self, name):
        self.backend = backend_or_skip(name)
        if hasattr(self.backend, "warm_up"):
            self.backend.warm_up()
        self.sync = self.backend.synchronize
