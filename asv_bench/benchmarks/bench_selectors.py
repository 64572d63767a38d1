"""One layer of each selector of SPEC §10 (``cascade_core.selectors``) at ADA's budget, on the CPU and the GPU."""

from __future__ import annotations

import numpy as np

from .common import TAU, XPBenchmark, core, layers, on_backend

SELECTORS = ["ada", "cascade", "ada-degree", "tome", "divprune", "pivoted-qr", "topk-reuse", "norm-topk", "random"]


def _selectors():
    try:
        import cascade_core.selectors as selectors
    except ImportError:  # commits before issue 15
        raise NotImplementedError("no cascade_core.selectors at this commit") from None
    return selectors


class Selectors(XPBenchmark):
    params = [["numba", "cupy"], SELECTORS, [512]]
    param_names = ["backend", "selector", "T"]

    def setup(self, backend, name, n_tokens):
        selectors = _selectors()
        self._setup_backend(backend)
        self.selector = selectors.make(name)
        try:
            self.selector.check(self.backend)
        except ValueError:
            raise NotImplementedError(f"{name} does not run on {backend}") from None
        pair = layers(2, n_tokens, 768)
        x = [on_backend(layer, self.backend) for layer in pair]
        xh = [core("gram").normalize(layer) for layer in x]
        r = core("ada").ada_normalized(xh[1], TAU, backend=self.backend, tile=None).reps.shape[0]
        rng = np.random.default_rng(1234)
        q, k = (on_backend(rng.standard_normal((4, n_tokens, 64), dtype=np.float32), self.backend) for _ in range(2))
        self.layer = selectors.LayerInput(xh=xh[1], x=x[1], tau=TAU, r=r, position=0, q=q, k=k, backend=self.backend)
        first = selectors.LayerInput(xh=xh[0], x=x[0], tau=TAU, r=r, q=q, k=k, backend=self.backend)
        self.state = self.selector.select(first, None).state  # the cascade repairs the previous layer's set

    def time_select(self, backend, name, n_tokens):
        """The selection step alone (topk-reuse: an anchor layer; the cascade: a repair)."""
        self.selector.select(self.layer, self.state)
        self.sync()
