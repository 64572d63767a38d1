"""Benchmark report: the figures of the backends issue, measured in one run.

    python -m cascade_core.bench --cpu            # this machine, Numba against NumPy/Python
    python -m cascade_core.bench --gpu            # a CUDA GPU, CuPy against cuBLAS
    python -m cascade_core.bench --cpu --quick    # small sizes, a smoke test

Every figure is a ratio of two times measured in the same run (the machines
are shared and noisy); absolute times are printed for the GPU. Timings are
the best of ``--repeat`` runs; GPU work is synchronised inside each timed
region.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from . import synthetic
from .ada import ada_normalized
from .gram import normalize, similarity_tile, tile_rows, tile_starts
from .runner import run

__all__ = ["cpu_figures", "gpu_figures", "main"]


class _TimedScans:
    """A backend whose scans are timed (synchronised before and after each)."""

    def __init__(self, engine):
        self._engine = engine
        self.seconds = 0.0

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def scan_tile(self, *args):
        self._engine.synchronize()
        start = time.perf_counter()
        out = self._engine.scan_tile(*args)
        self._engine.synchronize()
        self.seconds += time.perf_counter() - start
        return out


def _best(fn, repeat: int, sync) -> float:
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def _cascade_ratios(layers, tau, backend, repeat, lengths=None) -> dict:
    """Per cascade layer: wall-clock savings against op savings, best of `repeat` runs."""
    best_c: dict[int, float] = {}
    best_a: dict[int, float] = {}
    records = None
    for _ in range(repeat):
        result = run(layers() if callable(layers) else layers, tau, backend=backend, reference=True)
        records = result.records
        for rec in records:
            best_c[rec.layer] = min(best_c.get(rec.layer, float("inf")), rec.seconds)
            best_a[rec.layer] = min(best_a.get(rec.layer, float("inf")), rec.seconds_ada)
    later = [rec for rec in records if rec.method == "cascade"]
    t_c = sum(best_c[rec.layer] for rec in later)
    t_a = sum(best_a[rec.layer] for rec in later)
    ops_c = sum(rec.ops for rec in later)
    ops_a = sum(rec.ops_ada for rec in later)
    wall, ops = 1 - t_c / t_a, 1 - ops_c / ops_a
    per_layer = [
        (1 - best_c[rec.layer] / best_a[rec.layer]) / (1 - rec.ops / rec.ops_ada)
        for rec in later
        if rec.ops < rec.ops_ada
    ]
    return {
        "cascade_layers": len(later),
        "mean_r_over_T": sum(rec.r / rec.T for rec in records) / len(records),
        "op_savings": ops,
        "wall_savings": wall,
        "wall_over_op_savings": wall / ops if ops else float("nan"),
        "wall_over_op_savings_per_layer_min": min(per_layer) if per_layer else float("nan"),
        "seconds_cascade_layers": t_c,
        "seconds_ada_same_layers": t_a,
    }


def cpu_figures(n_layers=12, n_tokens=4096, n_features=768, tau=0.5, repeat=3, python_scan=True) -> dict:
    """The CPU figures: Numba scan vs Python, ADA layer vs one product, cascade savings."""
    import numpy as np

    from cascade_core_backends import get

    numba_backend = get("numba")
    data = synthetic.stacked(n_layers, n_tokens, n_features, rep_ratio=0.45, seed=0)
    xh = normalize(data[0])
    nothing = lambda: None  # noqa: E731
    ada_normalized(xh, tau, backend=numba_backend, tile=None)  # warm-up: compile the kernels
    t_product = _best(lambda: xh @ xh.T, repeat, nothing)
    t_ada = _best(lambda: ada_normalized(xh, tau, backend=numba_backend, tile=None), repeat, nothing)
    timed = _TimedScans(numba_backend)
    ada_normalized(xh, tau, backend=timed, tile=None)
    t_scan_share = timed.seconds

    step = tile_rows(None, n_tokens)
    xh_t = xh.T
    tiles = [similarity_tile(xh, xh_t, s, step) for s in tile_starts(n_tokens, step)]

    def scan(kernel):
        excluded = np.zeros(n_tokens, dtype=bool)
        out = np.empty(n_tokens, dtype=np.int64)
        total = 0
        for s, sims in zip(tile_starts(n_tokens, step), tiles, strict=True):
            total += kernel(sims, sims.dtype.type(tau), s, excluded, out)
        return total

    scan(numba_backend._scan_tile)  # compile outside the timing
    t_numba_scan = _best(lambda: scan(numba_backend._scan_tile), repeat, nothing)
    t_python_scan = _best(lambda: scan(numba_backend._scan_tile.py_func), 1, nothing) if python_scan else None

    figures = {
        "machine": f"{platform.processor() or platform.machine()}, {_cpu_count()} cores, NumPy {np.__version__}",
        "shape": {"L": n_layers, "T": n_tokens, "d": n_features, "tau": tau, "dtype": "float32"},
        "seconds_product": t_product,
        "seconds_ada_layer": t_ada,
        "ada_layer_over_product": t_ada / t_product,
        "scan_share_of_ada_layer": t_scan_share / t_ada,
        "seconds_numba_scan": t_numba_scan,
        "seconds_python_scan": t_python_scan,
        "numba_scan_speedup": (t_python_scan / t_numba_scan) if t_python_scan else None,
    }
    figures.update(_cascade_ratios(data, tau, "numba", repeat))
    return figures


def gpu_figures(n_layers=28, n_tokens=8192, n_features=4096, tau=0.5, repeat=10) -> dict:
    """The GPU figures: ADA layer vs the cuBLAS product, cascade savings, scan share, TFLOP/s."""
    import cupy

    from cascade_core_backends import get

    backend = get("cupy")
    sync = backend.synchronize
    first = next(synthetic.layers(1, n_tokens, n_features, rep_ratio=0.45, seed=0))
    xh = normalize(cupy.asarray(first))
    xh_t = xh.T
    xh @ xh_t  # warm-up: cuBLAS handle and kernels
    ada_normalized(xh, tau, backend=backend, tile=None)
    t_product = _best(lambda: xh @ xh_t, repeat, sync)
    t_ada = _best(lambda: ada_normalized(xh, tau, backend=backend, tile=None), repeat, sync)
    timed = _TimedScans(backend)
    ada_normalized(xh, tau, backend=timed, tile=None)
    flops = 2.0 * n_tokens * n_tokens * n_features

    def layers():
        for layer in synthetic.layers(n_layers, n_tokens, n_features, rep_ratio=0.45, seed=0):
            yield cupy.asarray(layer)

    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    figures = {
        "machine": f"{props['name'].decode()}, CuPy {cupy.__version__}",
        "shape": {"L": n_layers, "T": n_tokens, "d": n_features, "tau": tau, "dtype": "float32"},
        "seconds_product": t_product,
        "seconds_ada_layer": t_ada,
        "ada_layer_over_product": t_ada / t_product,
        "tflops_product": flops / t_product / 1e12,
        "tflops_ada_layer": flops / t_ada / 1e12,
        "scan_share_of_ada_layer": timed.seconds / t_ada,
    }
    figures.update(_cascade_ratios(layers, tau, "cupy", repeat=2))
    return figures


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _print(title: str, figures: dict) -> None:
    print(f"\n{title}")
    for key, value in figures.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        print(f"  {key:<38} {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cascade_core.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not a measurement")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    args = parser.parse_args(argv)
    report = {}
    if args.cpu or not args.gpu:
        sizes = dict(n_layers=3, n_tokens=512, n_features=64, repeat=1) if args.quick else {}
        report["cpu"] = cpu_figures(**sizes)
        _print("CPU", report["cpu"])
    if args.gpu:
        sizes = dict(n_layers=3, n_tokens=1024, n_features=256, repeat=2) if args.quick else {}
        report["gpu"] = gpu_figures(**sizes)
        _print("GPU", report["gpu"])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
