"""Whole runs: time, memory, and the quality figures (tracked, so regressions show in asv)."""

from __future__ import annotations

import cascade_core as cc

from .common import BACKENDS, TAU, TOKENS, XPBenchmark, core, layers


class Run(XPBenchmark):
    params = [BACKENDS, TOKENS]
    param_names = ["backend", "T"]

    def setup(self, backend, n_tokens):
        self._setup_backend(backend)
        self.data = [self.backend.native(layer) for layer in layers(6, n_tokens, 768)]
        self.sync()

    def time_run(self, backend, n_tokens):
        cc.run(self.data, TAU, backend=backend, reference=False)
        self.sync()


class Quality:
    """Gram savings, mean consecutive Jaccard and r/T: synthetic data and the bundled sample."""

    params = [["synthetic", "sample"]]
    param_names = ["data"]

    def setup_cache(self):
        load, sample_path = core("io").load, core("io").sample_path

        out = {}
        synthetic = cc.run(layers(8, 2048, 768), TAU, backend="numpy")
        out["synthetic"] = synthetic.totals
        sample = load(sample_path())
        out["sample"] = cc.run(sample.layers, 0.7, lengths=sample.lengths, backend="numpy").totals
        return out

    def track_gram_savings(self, totals, data):
        return 100 * totals[data].savings

    track_gram_savings.unit = "%"

    def track_mean_jaccard(self, totals, data):
        return totals[data].mean_jaccard

    track_mean_jaccard.unit = "Jaccard"

    def track_mean_r_over_T(self, totals, data):
        return totals[data].mean_r_over_T

    track_mean_r_over_T.unit = "r/T"

    def track_mean_agreement(self, totals, data):
        return totals[data].mean_agreement

    track_mean_agreement.unit = "Jaccard"


class NeededLedger:
    """Savings on the needed ledger (SPEC §6), ``1 - needed / needed_ada``, beside the paper ledger's.

    The needed ledger arrived with issue 13; on older commits the benchmark is
    skipped (asv records n/a) rather than failed, so the history stays honest.
    """

    params = [["synthetic", "sample"]]
    param_names = ["data"]

    def setup_cache(self):
        load, sample_path = core("io").load, core("io").sample_path

        synthetic = cc.run(layers(8, 2048, 768), TAU, backend="numpy").totals
        sample = load(sample_path())
        sample_totals = cc.run(sample.layers, 0.7, lengths=sample.lengths, backend="numpy").totals
        pairs = (("synthetic", synthetic), ("sample", sample_totals))
        return {name: getattr(totals, "needed_savings", None) for name, totals in pairs}

    def setup(self, savings, data):
        if savings[data] is None:
            raise NotImplementedError("no needed ledger in this commit")

    def track_needed_savings(self, savings, data):
        return 100 * savings[data]

    track_needed_savings.unit = "%"


class PeakMemory:
    """Peak memory of an ADA run at large T: tiles, never a T x T matrix (about 256 MB at T = 8192)."""

    params = [[8192, 16384]]
    param_names = ["T"]

    def setup(self, n_tokens):
        self.data = layers(2, n_tokens, 768)

    def peakmem_ada_run(self, n_tokens):
        cc.run(self.data, TAU, backend="numpy", reference=False, recompute_every=1)

    def peakmem_cascade_run(self, n_tokens):
        cc.run(self.data, TAU, backend="numpy", reference=False)
