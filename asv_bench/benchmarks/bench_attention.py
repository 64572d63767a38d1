"""Compressed attention: full (tiled, online softmax), rr and tr."""

from __future__ import annotations

import numpy as np

from .common import BACKENDS, XPBenchmark, core

full_attention, rr_attention, tr_attention = (
    getattr(core("attention"), name) for name in ("full_attention", "rr_attention", "tr_attention")
)


class Attention(XPBenchmark):
    params = [BACKENDS, [2048, 8192], [False, True]]
    param_names = ["backend", "T", "causal"]

    def setup(self, backend, n_tokens, causal):
        self._setup_backend(backend)
        rng = np.random.default_rng(99)
        q, k, v = (rng.standard_normal((n_tokens, 128), dtype=np.float32) for _ in range(3))
        r = int(0.4 * n_tokens)
        reps = np.sort(rng.choice(n_tokens, r, replace=False)).astype(np.int64)
        reps[0] = 0
        reps = np.unique(reps)
        assignment = reps[rng.integers(0, reps.size, n_tokens)]
        assignment[reps] = reps
        self.args = [self.backend.native(a) for a in (q, k, v, reps, assignment)]
        self.sync()

    def time_full(self, backend, n_tokens, causal):
        full_attention(*self.args[:3], causal=causal)
        self.sync()

    def time_rr(self, backend, n_tokens, causal):
        rr_attention(*self.args, causal=causal)
        self.sync()

    def time_tr(self, backend, n_tokens, causal):
        tr_attention(*self.args, causal=causal)
        self.sync()
