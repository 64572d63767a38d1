"""Gram tiles and the full-Gram ADA scan; one ADA layer and one cascade layer, both ways of computing ADA."""

from __future__ import annotations

import inspect

from array_api_compat import array_namespace, device

from .common import BACKENDS, FEATURES, TAU, TOKENS, XPBenchmark, core, layers, on_backend

gram = core("gram")
ada_normalized = core("ada").ada_normalized
cascade_normalized = core("cascade").cascade_normalized
normalize, similarity_tile, tile_rows, tile_starts = (
    gram.normalize,
    gram.similarity_tile,
    gram.tile_rows,
    gram.tile_starts,
)

#: The ways of computing ADA's set (SPEC §3.1); commits before issue 13 know only the full Gram.
ALGORITHMS = ["chosen-rows", "full-gram"]
RATIOS = [0.45, 0.15]


class Selection(XPBenchmark):
    params = [BACKENDS, TOKENS, FEATURES]
    param_names = ["backend", "T", "d"]

    def setup(self, backend, n_tokens, n_features):
        self._setup_backend(backend)
        pair = layers(2, n_tokens, n_features)
        self.xh = [normalize(on_backend(layer, self.backend)) for layer in pair]
        self.step = tile_rows(None, n_tokens)
        self.xh_t = self.xh[0].T
        self.tiles = [similarity_tile(self.xh[0], self.xh_t, s, self.step) for s in tile_starts(n_tokens, self.step)]
        self.sync()

    def time_gram_tiles(self, backend, n_tokens, n_features):
        for start in tile_starts(n_tokens, self.step):
            similarity_tile(self.xh[0], self.xh_t, start, self.step)
        self.sync()

    def time_ada_scan(self, backend, n_tokens, n_features):
        xp = array_namespace(self.xh[0])
        excluded = xp.zeros((n_tokens,), dtype=xp.bool, device=device(self.xh[0]))
        for start, sims in zip(tile_starts(n_tokens, self.step), self.tiles, strict=True):
            _, excluded = self.backend.scan_tile(sims, TAU, start, excluded)
        self.sync()


class Layer(XPBenchmark):
    """One ADA layer and one cascade layer, ADA computed from the chosen rows or on the full Gram.

    ``d`` is 768 on the CPU and 4096 on the GPU (the sizes of the benchmark
    figures); ``chosen-rows`` is skipped on commits that predate it.
    """

    params = [BACKENDS, [2048, 8192], ALGORITHMS, RATIOS]
    param_names = ["backend", "T", "algorithm", "r/T"]

    def setup(self, backend, n_tokens, algorithm, ratio):
        self.kwargs = {"algorithm": algorithm}
        if "algorithm" not in inspect.signature(ada_normalized).parameters:
            if algorithm != "full-gram":
                raise NotImplementedError("no chosen-rows ADA in this commit")
            self.kwargs = {}  # the full Gram was the only way
        self._setup_backend(backend)
        n_features = 4096 if backend == "cupy" else 768
        pair = layers(2, n_tokens, n_features, rep_ratio=ratio)
        self.xh = [normalize(on_backend(layer, self.backend)) for layer in pair]
        self.prev = ada_normalized(self.xh[0], TAU, backend=self.backend, tile=None, **self.kwargs).reps
        self.sync()

    def time_ada_layer(self, backend, n_tokens, algorithm, ratio):
        ada_normalized(self.xh[1], TAU, backend=self.backend, tile=None, **self.kwargs)
        self.sync()

    def time_cascade_layer(self, backend, n_tokens, algorithm, ratio):
        cascade_normalized(self.prev, self.xh[1], TAU, backend=self.backend, tile=None, **self.kwargs)
        self.sync()


class LayerFloat32(Layer):
    """:class:`Layer` on the float32-only GPU backend (``cupy-float32``, issue 14), the screened default's baseline.

    A class of its own: a new value in :class:`Layer`'s backend parameter would
    make asv drop every result kept for it (their parameters would no longer
    match the suite's).
    """

    params = [["cupy-float32"], [2048, 8192], ALGORITHMS, RATIOS]

    def setup(self, backend, n_tokens, algorithm, ratio):
        # Layer.setup is not edited for this class: asv keys a benchmark's history to its source.
        self.kwargs = {"algorithm": algorithm}
        self._setup_backend(backend)
        pair = layers(2, n_tokens, 4096, rep_ratio=ratio)
        self.xh = [normalize(on_backend(layer, self.backend)) for layer in pair]
        self.prev = ada_normalized(self.xh[0], TAU, backend=self.backend, tile=None, **self.kwargs).reps
        self.sync()
