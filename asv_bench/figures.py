"""Benchmark figures measured in one run: the numbers of ``docs/benchmarks/figures.md``.

    python asv_bench/figures.py --cpu --json docs/benchmarks/cpu-2core.json   # this machine
    python asv_bench/figures.py --gpu --json docs/benchmarks/h200.json        # a CUDA GPU
    python asv_bench/figures.py --cpu --quick                                 # a smoke test
    python asv_bench/figures.py --markdown docs/benchmarks/figures.md         # render the JSON reports

Every figure is a ratio of two times measured in the same run (the machines
are shared and noisy); absolute times are printed for the GPU. Timings are
the best of several runs (methods compared with each other are interleaved,
so a burst of load hits both); GPU work is synchronised inside each timed
region. ADA is timed both ways (SPEC §3.1): from the chosen rows only (the
library's default) and on the full Gram matrix (the paper's costing), on the
same backend, and the chosen-rows block ``B`` is swept to justify each
backend's default. Where a layer's time goes is measured through :class:`TimedBackend`,
a wrapper that times the backend's Gram products and scans; nothing in the
library is patched. The naive method is the slow reference of the tests
(``tests/naive.py``), run in float32 like the library.

asv (``asv_bench/benchmarks``) tracks times across commits; this script
measures the one-off comparisons that need several methods in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from cascade_core import backends, run, synthetic
from cascade_core._ada import ada_normalized
from cascade_core._cascade import cascade_normalized
from cascade_core._gram import normalize, similarity_tile, tile_rows, tile_starts

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import naive  # noqa: E402  (the tests' slow reference: the naive method timed here)

__all__ = ["TimedBackend", "cpu_figures", "gpu_figures", "render_markdown", "main"]


class TimedBackend:
    """A backend whose Gram products, tile scans and chosen-rows scans are timed, each synchronised.

    Everything else is the wrapped backend's, so the core runs unchanged;
    ``gram``, ``scan`` and ``greedy`` hold the seconds spent in
    :meth:`~cascade_core.backends.Backend.similarity`, ``scan_tile`` (the
    full-Gram scan) and ``greedy`` (the whole chosen-rows scan, its own
    products included).
    """

    def __init__(self, backend):
        self._backend = backend
        self.gram = 0.0
        self.scan = 0.0
        self.greedy_seconds = 0.0

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def _timed(self, field, fn, *args):
        self._backend.synchronize()
        start = time.perf_counter()
        out = fn(*args)
        self._backend.synchronize()
        setattr(self, field, getattr(self, field) + time.perf_counter() - start)
        return out

    def similarity(self, rows, cols_t):
        return self._timed("gram", self._backend.similarity, rows, cols_t)

    def scan_tile(self, *args):
        return self._timed("scan", self._backend.scan_tile, *args)

    def greedy(self, *args):
        return self._timed("greedy_seconds", self._backend.greedy, *args)

    def uncovered(self, *args):
        return self._timed("gram", self._backend.uncovered, *args)


def _best(fn, repeat: int, sync) -> float:
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def _best_interleaved(fns: dict, repeat: int, sync) -> dict:
    """Best time of each function, the functions taking turns (a burst of load on a shared machine hits all)."""
    best = {name: float("inf") for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            best[name] = min(best[name], _best(fn, 1, sync))
    return best


def _host_list(a) -> list:
    return np.asarray(a.get() if hasattr(a, "get") else a).tolist()


def per_head_run(x, tau, backend, repeat, sync) -> dict:
    """``cc.run`` on one per-head layer ``(B, H, T, d)``: its ADA slices batched (the runner's path) vs one by one.

    ``grouped`` is what users get (:meth:`~cascade_core.backends.Backend.greedy_slices`
    a group of equal-length slices a call); ``one_by_one`` forces the runner's
    slice-by-slice path (``_runner._BATCH_SLICES = False``), the runner before
    issue 14. No reference run: the time is the selection's and the runner's.
    """
    from cascade_core import _runner

    stacked = x[None]  # (L = 1, B, H, T, d)

    def runner(batched):
        def go():
            saved, _runner._BATCH_SLICES = _runner._BATCH_SLICES, batched
            try:
                return run(stacked, tau, backend=backend, reference=False)
            finally:
                _runner._BATCH_SLICES = saved

        return go

    fns = {"grouped": runner(True), "one_by_one": runner(False)}
    results = {name: fn() for name, fn in fns.items()}
    times = _best_interleaved(fns, repeat, sync)
    sets = {name: {k: [_host_list(a) for a in v] for k, v in res.sets.items()} for name, res in results.items()}
    return {
        "shape": dict(zip("BHTd", (int(v) for v in x.shape), strict=True)),
        "backend": backend,
        "same_sets": sets["grouped"] == sets["one_by_one"],
        "seconds": times,
        "speedup": times["one_by_one"] / times["grouped"],
    }


def chosen_rows_figures(n_tokens, n_features, ratios, tau, backend, sync, to_device, repeat, blocks=()) -> dict:
    """One ADA layer from the chosen rows against the full Gram, same backend, at each ``r/T`` (SPEC §3.1).

    With `blocks`, the chosen-rows layer is also timed at each block ``B``
    (the sweep that chose the backend's default). Keys are the ratios.
    """
    out = {}
    for ratio in ratios:
        x = next(synthetic.layers(1, n_tokens, n_features, rep_ratio=ratio, seed=0))
        xh = normalize(to_device(x))
        full = ada_normalized(xh, tau, backend=backend, tile=None, algorithm="full-gram")
        chosen = ada_normalized(xh, tau, backend=backend, tile=None)
        fns = {
            "full-gram": lambda xh=xh: ada_normalized(xh, tau, backend=backend, tile=None, algorithm="full-gram"),
            "chosen-rows": lambda xh=xh: ada_normalized(xh, tau, backend=backend, tile=None),
        }
        for block in blocks:
            fns[f"B={block}"] = lambda xh=xh, block=block: ada_normalized(xh, tau, backend=backend, tile=block)
        times = _best_interleaved(fns, repeat, sync)
        r = chosen.reps.shape[0]
        entry = {
            "T": n_tokens,
            "d": n_features,
            "r_over_T": r / n_tokens,
            "same_set": _host_list(full.reps) == _host_list(chosen.reps),
            "block": backend.block,
            "seconds_full_gram": times["full-gram"],
            "seconds_chosen_rows": times["chosen-rows"],
            "speedup": times["full-gram"] / times["chosen-rows"],
            "needed_over_T2": chosen.needed / n_tokens**2,
        }
        if blocks:
            entry["block_seconds"] = {str(block): times[f"B={block}"] for block in blocks}
        out[f"{ratio:g}"] = entry
        xh = fns = None  # release the layer (a GPU's memory) before the next
    return out


def naive_figures(n_tokens, n_features, ratio, tau, backend, repeat) -> dict:
    """The library's ADA (chosen rows, normalisation included) against the naive method, on one layer."""
    x = next(synthetic.layers(1, n_tokens, n_features, rep_ratio=ratio, seed=0))
    expected = naive.ada(x, tau, dtype=np.float32)
    start = time.perf_counter()
    naive.ada(x, tau, dtype=np.float32)
    t_naive = time.perf_counter() - start
    library = ada_normalized(normalize(x), tau, backend=backend, tile=None)
    t_library = _best(lambda: ada_normalized(normalize(x), tau, backend=backend, tile=None), repeat, lambda: None)
    return {
        "T": n_tokens,
        "d": n_features,
        "r_over_T": len(expected) / n_tokens,
        "same_set": library.reps.tolist() == expected,
        "seconds_naive": t_naive,
        "seconds_library": t_library,
        "speedup": t_naive / t_library,
    }


def _cascade_ratios(layers, tau, backend, repeat, lengths=None) -> dict:
    """Per cascade layer: wall-clock savings against op savings, best of `repeat` runs."""
    best_c: dict[int, float] = {}
    best_a: dict[int, float] = {}
    best_ac: dict[int, float] = {}
    records = None
    for _ in range(repeat):
        result = run(layers() if callable(layers) else layers, tau, backend=backend, reference=True)
        records = result.records
        for rec in records:
            best_c[rec.layer] = min(best_c.get(rec.layer, float("inf")), rec.seconds)
            best_a[rec.layer] = min(best_a.get(rec.layer, float("inf")), rec.seconds_ada_full_gram)
            best_ac[rec.layer] = min(best_ac.get(rec.layer, float("inf")), rec.seconds_ada_chosen_rows)
    later = [rec for rec in records if rec.method == "cascade"]
    t_c = sum(best_c[rec.layer] for rec in later)
    t_a = sum(best_a[rec.layer] for rec in later)
    t_ac = sum(best_ac[rec.layer] for rec in later)
    ops_c = sum(rec.ops for rec in later)
    ops_a = sum(rec.ops_ada for rec in later)
    needed_c = sum(rec.needed for rec in later)
    needed_a = sum(rec.needed_ada for rec in later)
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
        "needed_savings": 1 - needed_c / needed_a,
        "wall_savings_vs_chosen_rows": 1 - t_c / t_ac,
        "seconds_ada_chosen_rows_same_layers": t_ac,
    }


def _time_shares(xh_prev, xh, tau, backend, sync, repeat) -> dict:
    """Share of an ADA layer (both ways) and a cascade layer spent in products, scans and the rest.

    Gram time is that of every similarity product the core asks for (the
    full-Gram tiles, the validation); scans are the backend's ``scan_tile``;
    chosen-rows scans are whole ``greedy`` calls (ADA, removal, addition;
    their own products included); bookkeeping is what remains (membership,
    gathers, sorting).
    """
    prev = ada_normalized(xh_prev, tau, backend=backend, tile=None).reps
    works = {
        "ada": lambda engine: ada_normalized(xh, tau, backend=engine, tile=None),
        "ada, full Gram": lambda engine: ada_normalized(xh, tau, backend=engine, tile=None, algorithm="full-gram"),
        "cascade": lambda engine: cascade_normalized(prev, xh, tau, backend=engine, tile=None),
    }
    shares = {}
    for label, work in works.items():
        total = _best(lambda work=work: work(backend), repeat, sync)
        timed = TimedBackend(backend)
        work(timed)
        parts = timed.gram + timed.scan + timed.greedy_seconds
        measured = max(parts, total)
        shares[label] = {
            "seconds": total,
            "gram": timed.gram / measured,
            "scan": timed.scan / measured,
            "chosen_rows": timed.greedy_seconds / measured,
            "bookkeeping": 1 - parts / measured,
        }
    return shares


def _scaling(tokens, n_features, tau, backend, sync, to_device, repeat) -> dict:
    """Time of one ADA layer at fixed r/T and one cascade layer at fixed r, against T; fitted exponents."""
    ada_times, cascade_times = [], []
    for n in tokens:
        _, layer = (normalize(to_device(x)) for x in synthetic.layers(2, n, n_features, rep_ratio=0.45))
        ada_times.append(
            _best(
                lambda x=layer: ada_normalized(x, tau, backend=backend, tile=None, algorithm="full-gram"), repeat, sync
            )
        )
        fixed = min(0.5, 256 / n)  # r = 256 representatives whatever T
        first, second = (normalize(to_device(x)) for x in synthetic.layers(2, n, n_features, rep_ratio=fixed))
        prev = ada_normalized(first, tau, backend=backend, tile=None).reps

        def step(prev=prev, second=second):
            return cascade_normalized(prev, second, tau, backend=backend, tile=None)

        cascade_times.append(_best(step, repeat, sync))

    def slope(times):
        return _fit(tokens, times)

    def slope_large(times):  # the three largest T: past launch overheads on a GPU
        return _fit(tokens[-3:], times[-3:])

    return {
        "tokens": list(tokens),
        "ada_seconds": ada_times,
        "cascade_seconds_fixed_r256": cascade_times,
        "ada_exponent": slope(ada_times),
        "cascade_exponent": slope(cascade_times),
        "ada_exponent_large_T": slope_large(ada_times),
        "cascade_exponent_large_T": slope_large(cascade_times),
    }


def _fit(tokens, times) -> float:
    """Least-squares slope of log(time) against log(T)."""
    import math

    xs = [math.log(n) for n in tokens]
    ys = [math.log(t) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


#: The chosen-rows blocks B swept on each kind of machine (the backend's default is one of them).
CPU_BLOCKS = (128, 256, 512, 768, 1024)
GPU_BLOCKS = (128, 256, 512, 1024, 2048)


def cpu_figures(
    n_layers=12,
    n_tokens=4096,
    n_features=768,
    tau=0.5,
    repeat=3,
    python_scan=True,
    scaling=True,
    chosen_tokens=8192,
    naive_tokens=4096,
    blocks=CPU_BLOCKS,
    heads=(8, 32, 128, 64),
) -> dict:
    """The CPU figures: ADA from the chosen rows vs the full Gram, Numba vs Python, vs naive, cascade savings.

    ADA layer over one product, the scan share and the scaling exponents are
    those of the full-Gram ADA (what the paper costs); the naive comparisons
    time the library's default (chosen rows).
    """
    from cascade_core.backends import numba as numba_module

    numba_backend = backends.get("numba")
    numba_backend.warm_up()  # compile the kernels outside every timing
    data = synthetic.stacked(n_layers, n_tokens, n_features, rep_ratio=0.45, seed=0)
    xh = normalize(data[0])
    nothing = lambda: None  # noqa: E731
    t_product = _best(lambda: xh @ xh.T, repeat, nothing)
    t_ada = _best(
        lambda: ada_normalized(xh, tau, backend=numba_backend, tile=None, algorithm="full-gram"), repeat, nothing
    )
    timed = TimedBackend(numba_backend)
    ada_normalized(xh, tau, backend=timed, tile=None, algorithm="full-gram")
    t_scan_share = timed.scan

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

    kernel = numba_module._scan_tile
    scan(kernel)  # compile outside the timing
    t_numba_scan = _best(lambda: scan(kernel), repeat, nothing)
    t_python_scan = _best(lambda: scan(kernel.py_func), 1, nothing) if python_scan else None
    tiles = None  # release the Gram tiles

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

    naive_x = data[1]
    t_naive = _best(lambda: naive.ada(naive_x, tau, dtype=np.float32), 1, nothing)
    t_library = _best(
        lambda: ada_normalized(normalize(naive_x), tau, backend=numba_backend, tile=None), repeat, nothing
    )
    figures["seconds_naive_ada"] = t_naive
    figures["library_speedup_over_naive"] = t_naive / t_library
    figures["naive_015"] = naive_figures(naive_tokens, n_features, 0.15, tau, numba_backend, repeat)
    figures["library_speedup_over_naive_015"] = figures["naive_015"]["speedup"]
    figures["chosen_rows"] = {}
    for name in ("numba", "numpy"):
        engine = backends.get(name)
        rows = chosen_rows_figures(
            chosen_tokens, n_features, (0.45, 0.15), tau, engine, nothing, lambda x: x, repeat, blocks
        )
        figures["chosen_rows"][name] = rows
    for ratio in ("0.45", "0.15"):
        figures[f"chosen_rows_speedup_{ratio.replace('.', '')}"] = figures["chosen_rows"]["numba"][ratio]["speedup"]
    figures["shares"] = _time_shares(normalize(data[0]), normalize(data[1]), tau, numba_backend, nothing, repeat)
    tokens = (512, 1024, 2048, 4096, 8192, 16384) if scaling else (256, 512, 1024)
    figures["scaling"] = _scaling(tokens, n_features, tau, numba_backend, nothing, lambda x: x, repeat)
    b, h, n, d = heads
    per_head = synthetic.stacked(1, b * h * n, d, rep_ratio=0.45, seed=4)[0].reshape(b, h, n, d)
    figures["per_head_run"] = per_head_run(per_head, tau, "numba", repeat, nothing)
    return figures


def gpu_figures(
    n_layers=28,
    n_tokens=8192,
    n_features=4096,
    tau=0.5,
    repeat=10,
    scaling=True,
    chosen_tokens=(8192, 32768),
    blocks=GPU_BLOCKS,
    screening=None,
) -> dict:
    """The GPU figures: ADA layer vs the cuBLAS product, chosen rows vs full Gram, cascade savings, TFLOP/s."""
    import cupy

    backend = backends.get("cupy")
    backend.warm_up()
    sync = backend.synchronize
    first = next(synthetic.layers(1, n_tokens, n_features, rep_ratio=0.45, seed=0))
    xh = normalize(cupy.asarray(first))
    xh_t = xh.T
    xh @ xh_t  # warm-up: cuBLAS handle and kernels
    ada_normalized(xh, tau, backend=backend, tile=None, algorithm="full-gram")
    ada_normalized(xh, tau, backend=backend, tile=None)
    t_product = _best(lambda: xh @ xh_t, repeat, sync)
    t_ada = _best(lambda: ada_normalized(xh, tau, backend=backend, tile=None, algorithm="full-gram"), repeat, sync)
    timed = TimedBackend(backend)
    ada_normalized(xh, tau, backend=timed, tile=None, algorithm="full-gram")
    flops = 2.0 * n_tokens * n_tokens * n_features

    stack = [cupy.asarray(x) for x in synthetic.layers(n_layers, n_tokens, n_features, rep_ratio=0.45, seed=0)]

    def layers():  # made once, kept on the GPU: both repeats read the same layers
        yield from stack

    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    figures = {
        "machine": f"{props['name'].decode()}, CuPy {cupy.__version__}",
        "shape": {"L": n_layers, "T": n_tokens, "d": n_features, "tau": tau, "dtype": "float32"},
        "seconds_product": t_product,
        "seconds_ada_layer": t_ada,
        "ada_layer_over_product": t_ada / t_product,
        "tflops_product": flops / t_product / 1e12,
        "tflops_ada_layer": flops / t_ada / 1e12,
        "scan_share_of_ada_layer": timed.scan / t_ada,
    }
    xh = xh_t = None  # release the layer before the larger ones
    figures.update(_cascade_ratios(layers, tau, "cupy", repeat=2))
    print("gpu: 28-layer stack measured", file=sys.stderr)
    stack = None
    rows = {}
    for count in chosen_tokens:
        sweep = blocks if count == chosen_tokens[0] else ()
        for ratio, entry in chosen_rows_figures(
            count, n_features, (0.45, 0.15), tau, backend, sync, cupy.asarray, max(2, repeat // 3), sweep
        ).items():
            rows[f"T={count}, r/T={ratio}"] = entry
        cupy.get_default_memory_pool().free_all_blocks()
    figures["chosen_rows"] = {"cupy": rows}
    largest = f"T={chosen_tokens[-1]}, r/T=0.45"
    figures["chosen_rows_speedup_largest_045"] = rows[largest]["speedup"]
    second = normalize(cupy.asarray(next(synthetic.layers(2, n_tokens, n_features, rep_ratio=0.45, seed=1))))
    figures["shares"] = _time_shares(normalize(cupy.asarray(first)), second, tau, backend, sync, 3)
    tokens = (512, 1024, 2048, 4096, 8192, 16384) if scaling else (256, 512, 1024)
    figures["scaling"] = _scaling(tokens, n_features, tau, backend, sync, cupy.asarray, 3)
    cupy.get_default_memory_pool().free_all_blocks()
    figures["screening"] = screening_figures(**(screening or {}))
    figures.update(_headline(figures["screening"]))
    return figures


def _main_cupy():
    """The CuPy backend as main computed ADA before screening: float32 tiles, a host read per tile.

    Its chosen-rows scan is :meth:`BaseBackend.greedy` (array-API code on
    CuPy, the code of main before this change), its validation
    :meth:`BaseBackend.uncovered`: the "one by one, today" baseline.
    """
    from cascade_core.backends.base import BaseBackend
    from cascade_core.backends.cupy import CupyBackend

    class MainCupy(CupyBackend):
        greedy = BaseBackend.greedy
        uncovered = BaseBackend.uncovered

    return MainCupy("float32", "cupy (main, float32)")


def screening_figures(
    ada_tokens=(8192, 32768),
    n_features=4096,
    tau=0.5,
    repeat=5,
    cascade_features=(64, 4096),
    heads=(8, 32, 1024, 128),
    sample_taus=(0.5, 0.7, 0.9),
) -> dict:
    """Issue 14's figures: screened float16 selection against float32, full Gram, cuBLAS and slice by slice.

    All on synthetic data from :mod:`cascade_core.synthetic` (r/T about
    0.45) and the bundled sample; every ratio is of two times of this run.
    """
    import cupy

    from cascade_core import ada_slices
    from cascade_core.backends.cupy import _gram

    f16, f32 = backends.get("cupy"), backends.get("cupy-float32")
    for engine in (f16, f32):
        engine.warm_up()
    sync = f16.synchronize
    out: dict = {"ada": {}}
    for n in ada_tokens:
        xh = normalize(cupy.asarray(next(synthetic.layers(1, n, n_features, rep_ratio=0.45, seed=0))))
        xh_t = xh.T
        low = xh.astype(cupy.float16)
        xh @ xh_t
        fns = {
            "full_gram_float32": lambda xh=xh: ada_normalized(xh, tau, backend=f32, tile=None, algorithm="full-gram"),
            "chosen_rows_float32": lambda xh=xh: ada_normalized(xh, tau, backend=f32, tile=None),
            "chosen_rows_float16": lambda xh=xh: ada_normalized(xh, tau, backend=f16, tile=None),
            "product_float32": lambda xh=xh, xh_t=xh_t: xh @ xh_t,
            "product_float16": lambda low=low: _gram(low, low),
        }
        sets = {name: _host_list(fn().reps) for name, fn in fns.items() if name.startswith(("full", "chosen"))}
        times = _best_interleaved(fns, repeat if n < 20000 else max(2, repeat // 2), sync)
        f16.reset_counts()
        ada_normalized(xh, tau, backend=f16, tile=None)
        flops = 2.0 * n * n * n_features
        out["ada"][str(n)] = {
            "T": n,
            "d": n_features,
            "r_over_T": len(sets["full_gram_float32"]) / n,
            "same_sets": all(v == sets["full_gram_float32"] for v in sets.values()),
            "seconds": times,
            "screened_speedup_over_full_gram": times["full_gram_float32"] / times["chosen_rows_float16"],
            "float16_speedup_over_float32_chosen_rows": times["chosen_rows_float32"] / times["chosen_rows_float16"],
            "screened_over_product_float32": times["chosen_rows_float16"] / times["product_float32"],
            "tflops_product_float32": flops / times["product_float32"] / 1e12,
            "tflops_product_float16": flops / times["product_float16"] / 1e12,
            "recheck_fraction": f16.rechecked / max(f16.screened, 1),
        }
        print(f"screening: ADA at T = {n} measured", file=sys.stderr)
        xh = xh_t = low = fns = None
        cupy.get_default_memory_pool().free_all_blocks()

    out["cascade"] = {}
    for d in cascade_features:
        n = 8192
        first, second = (normalize(cupy.asarray(x)) for x in synthetic.layers(2, n, d, rep_ratio=256 / n, seed=2))
        prev = ada_normalized(first, tau, backend=f16, tile=None).reps
        fns = {
            name: lambda engine=engine, prev=prev, second=second: cascade_normalized(
                prev, second, tau, backend=engine, tile=None
            )
            for name, engine in (("float16", f16), ("float32", f32))
        }
        steps = {name: fn() for name, fn in fns.items()}
        times = _best_interleaved(fns, 3 * repeat, sync)
        out["cascade"][str(d)] = {
            "T": n,
            "d": d,
            "r": int(prev.shape[0]),
            "r_next": int(steps["float16"].reps.shape[0]),
            "same_sets": _host_list(steps["float16"].reps) == _host_list(steps["float32"].reps),
            "seconds": times,
        }
    by_d = {d: out["cascade"][str(d)]["seconds"]["float16"] for d in cascade_features}
    small, large = by_d[min(by_d)], by_d[max(by_d)]
    out["cascade_time_ratio_large_over_small_d"] = large / small

    print("screening: cascade layers measured", file=sys.stderr)
    b, h, n, d = heads
    x = cupy.asarray(synthetic.stacked(1, b * h * n, d, rep_ratio=0.45, seed=4)[0].reshape(b, h, n, d))
    main = _main_cupy()

    def one_by_one(engine):
        return [ada_normalized(normalize(x[i, j]), tau, backend=engine, tile=None) for i in range(b) for j in range(h)]

    batched = ada_slices(x, tau, backend="cupy")
    reference = one_by_one(main)
    same = all(_host_list(a.reps) == _host_list(c.reps) for a, c in zip(batched, reference, strict=True))
    times = {
        "one_by_one_main": _best(lambda: one_by_one(main), 2, sync),
        "one_by_one_screened": _best(lambda: one_by_one(f16), 2, sync),
        "batched_screened": _best(lambda: ada_slices(x, tau, backend="cupy"), repeat, sync),
        "batched_float32": _best(lambda: ada_slices(x, tau, backend="cupy-float32"), repeat, sync),
    }
    through_run = per_head_run(x, tau, "cupy", repeat, sync)
    times["run_grouped"] = through_run["seconds"]["grouped"]
    times["run_one_by_one"] = through_run["seconds"]["one_by_one"]
    grouped = run(x[None], tau, backend="cupy", reference=False).sets
    same_run = all(
        _host_list(grouped[where][0]) == _host_list(sel.reps)
        for where, sel in zip(np.ndindex(b, h), batched, strict=True)
    )
    out["per_head"] = {
        "shape": {"B": b, "H": h, "T": n, "d": d},
        "same_sets": same and same_run and through_run["same_sets"],
        "seconds": times,
        "speedup_over_one_by_one_main": times["one_by_one_main"] / times["batched_screened"],
        "run_speedup_over_one_by_one": through_run["speedup"],
    }
    x = None
    print("screening: per-head layer measured", file=sys.stderr)

    out["recheck"] = {}
    with np.load(_sample_path()) as data:
        sample, lengths = data["hidden_states"].astype(np.float32), [int(v) for v in data["lengths"]]
    for t in sample_taus:
        f16.reset_counts()
        run(cupy.asarray(sample), t, backend="cupy", lengths=lengths, reference=True)
        exact = run(sample, t, backend="numba", lengths=lengths, reference=True)
        screened = run(cupy.asarray(sample), t, backend="cupy", lengths=lengths, reference=False)
        out["recheck"][f"sample, tau={t:g}"] = {
            "fraction": f16.rechecked / max(f16.screened, 1),
            "rechecked": f16.rechecked,
            "screened": f16.screened,
            "same_sets": all(
                [_host_list(a) for a in screened.sets[k]] == [_host_list(e) for e in exact.sets[k]] for k in exact.sets
            ),
        }
    f16.reset_counts()
    run(cupy.asarray(synthetic.stacked(4, 4096, 1024, rep_ratio=0.45, seed=6)), tau, backend="cupy", reference=False)
    out["recheck"]["synthetic, T=4096, d=1024"] = {
        "fraction": f16.rechecked / max(f16.screened, 1),
        "rechecked": f16.rechecked,
        "screened": f16.screened,
    }
    return out


def _sample_path():
    from cascade_core import sample_path

    return sample_path()


def _headline(screening: dict) -> dict:
    """The issue's ratios, top level, for :data:`TARGETS`."""
    ada = screening["ada"]
    largest, smallest = ada[max(ada, key=int)], ada[min(ada, key=int)]
    cascade = screening["cascade"][max(screening["cascade"], key=int)]
    return {
        "screened_ada_speedup_largest": largest["screened_speedup_over_full_gram"],
        "screened_ada_over_product": smallest["screened_over_product_float32"],
        "cascade_ms_r256": 1e3 * cascade["seconds"]["float16"],
        "cascade_time_large_over_small_d": screening["cascade_time_ratio_large_over_small_d"],
        "per_head_speedup": screening["per_head"]["speedup_over_one_by_one_main"],
    }


TARGETS = {
    "cpu": [
        ("numba_scan_speedup", "Numba ADA scan vs the same scan in pure Python", ">=", 50, "x"),
        ("ada_layer_over_product", "ADA layer (tiles + scan) vs one float32 X^ X^T product", "<=", 1.5, "x"),
        ("wall_over_op_savings", "cascade wall-clock savings / op savings", ">=", 0.8, ""),
        ("library_speedup_over_naive", "library ADA vs naive (NumPy Gram + Python loop)", ">=", 20, "x"),
        ("chosen_rows_speedup_045", "chosen-rows vs full-Gram ADA, Numba, T = 8192, r/T ≈ 0.45", ">=", 3, "x"),
        ("chosen_rows_speedup_015", "chosen-rows vs full-Gram ADA, Numba, T = 8192, r/T ≈ 0.15", ">=", 5, "x"),
        ("library_speedup_over_naive_015", "library ADA vs naive, T = 4096, r/T ≈ 0.15", ">=", 20, "x"),
    ],
    "gpu": [
        ("ada_layer_over_product", "ADA layer vs the cuBLAS float32 product X^ X^T", "<=", 2.0, "x"),
        ("wall_over_op_savings", "cascade wall-clock savings / op savings", ">=", 0.9, ""),
        ("chosen_rows_speedup_largest_045", "chosen-rows vs full-Gram ADA, largest T, r/T ≈ 0.45", ">=", 2, "x"),
        ("screened_ada_speedup_largest", "screened ADA vs full-Gram float32 ADA, largest T, r/T ≈ 0.45", ">=", 6, "x"),
        ("screened_ada_over_product", "screened ADA layer vs one float32 cuBLAS product, T = 8192", "<=", 0.5, "x"),
        ("cascade_ms_r256", "cascade layer, T = 8192, r = 256, d = 4096", "<=", 1.0, " ms"),
        ("cascade_time_large_over_small_d", "cascade layer time at d = 4096 over d = 64 (must grow)", ">", 1.0, "x"),
        ("per_head_speedup", "per-head layer (8, 32, 1024, 128): batched vs slices one by one (main)", ">=", 10, "x"),
    ],
}


def render_markdown(reports: dict[str, dict]) -> str:
    """``docs/benchmarks/figures.md`` from the JSON reports of each machine (name -> report)."""
    lines = [
        "<!-- Written by `python asv_bench/figures.py --markdown docs/benchmarks/figures.md`; do not edit. -->",
        "",
    ]
    for name, report in sorted(reports.items()):
        for kind, fig in report.items():
            shape = fig["shape"]
            lines += [
                f"### {name}: {fig['machine']}",
                "",
                f"L = {shape['L']}, T = {shape['T']}, d = {shape['d']}, tau = {shape['tau']}, {shape['dtype']}; "
                f"mean r/T = {fig['mean_r_over_T']:.3f}.",
                "",
                "| figure | measured | target | |",
                "| --- | ---: | ---: | --- |",
            ]
            for key, label, sense, target, unit in TARGETS[kind]:
                if fig.get(key) is None:
                    continue
                value = fig[key]
                met = {">=": value >= target, "<=": value <= target, ">": value > target}[sense]
                lines.append(f"| {label} | {value:.3g}{unit} | {sense} {target}{unit} | {'met' if met else 'MISSED'} |")
            lines += [
                f"| cascade op savings (layers 1..L-1) | {100 * fig['op_savings']:.1f} % | | |",
                f"| cascade wall-clock savings | {100 * fig['wall_savings']:.1f} % | | |",
                f"| worst single layer: wall / op savings | {fig['wall_over_op_savings_per_layer_min']:.3g} | | |",
                f"| share of an ADA layer in scans | {100 * fig['scan_share_of_ada_layer']:.1f} % | | |",
            ]
            if kind == "gpu":
                lines += [
                    f"| float32 product (cuBLAS) | {1e3 * fig['seconds_product']:.2f} ms, "
                    f"{fig['tflops_product']:.1f} TFLOP/s | | |",
                    f"| ADA layer | {1e3 * fig['seconds_ada_layer']:.2f} ms, "
                    f"{fig['tflops_ada_layer']:.1f} TFLOP/s | | |",
                ]
            else:
                lines.append(
                    f"| Numba scan / pure-Python scan (one layer) | {1e3 * fig['seconds_numba_scan']:.2f} ms / "
                    f"{fig['seconds_python_scan']:.2f} s | | |"
                )
            if "per_head_run" in fig:
                ph = fig["per_head_run"]
                shape_ph = ph["shape"]
                lines.append(
                    f"| `cc.run`, per-head layer ({shape_ph['B']}, {shape_ph['H']}, {shape_ph['T']}, {shape_ph['d']}), "
                    f"{ph['backend']}: grouped / slice by slice | {1e3 * ph['seconds']['grouped']:.1f} ms / "
                    f"{1e3 * ph['seconds']['one_by_one']:.1f} ms (same sets: {'yes' if ph['same_sets'] else 'NO'}) "
                    "| | |"
                )
            if "needed_savings" in fig:
                lines += [
                    f"| cascade needed savings (layers 1..L-1, exact ADA's ledger) | "
                    f"{100 * fig['needed_savings']:.1f} % | | |",
                    f"| cascade wall-clock savings vs chosen-rows ADA | "
                    f"{100 * fig['wall_savings_vs_chosen_rows']:.1f} % | | |",
                ]
            if "naive_015" in fig:
                n15 = fig["naive_015"]
                lines.append(
                    f"| naive / library ADA at T = {n15['T']}, r/T = {n15['r_over_T']:.3f} | "
                    f"{1e3 * n15['seconds_naive']:.0f} ms / {1e3 * n15['seconds_library']:.1f} ms | | |"
                )
            shares = fig.get("shares")
            if shares:
                with_chosen = any("chosen_rows" in share for share in shares.values())
                lines += [
                    "",
                    "Where a layer's time goes:",
                    "",
                    "| layer | time | Gram products | scans |"
                    + (" chosen-rows scans |" if with_chosen else "")
                    + " bookkeeping |",
                ]
                lines.append("| --- | ---: | ---: | ---: | ---: |" + (" ---: |" if with_chosen else ""))
                for label, share in shares.items():
                    lines.append(
                        f"| {label} | {1e3 * share['seconds']:.2f} ms | {100 * share['gram']:.1f} % | "
                        f"{100 * share['scan']:.1f} % | "
                        + (f"{100 * share.get('chosen_rows', 0.0):.1f} % | " if with_chosen else "")
                        + f"{100 * share['bookkeeping']:.1f} % |"
                    )
            lines += _chosen_rows_lines(fig.get("chosen_rows"))
            lines += _screening_lines(fig.get("screening"))
            scaling = fig.get("scaling")
            if scaling:
                lines += [
                    "",
                    f"Scaling with T (d = {shape['d']}): ADA at r/T = 0.45, the cascade at fixed r = 256. Fitted "
                    f"exponents over all T: ADA {scaling['ada_exponent']:.2f} (expected about 2), cascade "
                    f"{scaling['cascade_exponent']:.2f} (expected about 1); over the three largest T: ADA "
                    f"{_large(scaling, 'ada')}, cascade {_large(scaling, 'cascade')}.",
                    "",
                    "| T | ADA layer | cascade layer (r = 256) |",
                    "| ---: | ---: | ---: |",
                ]
                for n, a, c in zip(
                    scaling["tokens"], scaling["ada_seconds"], scaling["cascade_seconds_fixed_r256"], strict=True
                ):
                    lines.append(f"| {n} | {1e3 * a:.2f} ms | {1e3 * c:.2f} ms |")
            lines.append("")
    return "\n".join(lines)


def _chosen_rows_lines(chosen: dict | None) -> list[str]:
    """Tables of ADA from the chosen rows against the full Gram, and of the block sweep, per backend."""
    if not chosen:
        return []
    lines = [
        "",
        "ADA from the chosen rows (SPEC §3.1) against ADA on the full Gram, same backend, one layer "
        "(needed/T²: the needed ledger of the layer over the paper's):",
        "",
        "| backend | T | d | r/T | full Gram | chosen rows (B) | speed-up | needed / T² | same set |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    sweeps = []
    for backend, rows in chosen.items():
        for entry in rows.values():
            lines.append(
                f"| {backend} | {entry['T']} | {entry['d']} | {entry['r_over_T']:.3f} | "
                f"{1e3 * entry['seconds_full_gram']:.1f} ms | {1e3 * entry['seconds_chosen_rows']:.1f} ms "
                f"({entry['block']}) | {entry['speedup']:.2f}x | {entry['needed_over_T2']:.3f} | "
                f"{'yes' if entry['same_set'] else 'NO'} |"
            )
            if "block_seconds" in entry:
                sweeps.append((backend, entry))
    if sweeps:
        blocks = list(sweeps[0][1]["block_seconds"])
        lines += [
            "",
            "Chosen-rows ADA against the block B (the sweep behind each backend's default):",
            "",
            "| backend | T | r/T | " + " | ".join(f"B = {b}" for b in blocks) + " |",
            "| --- | ---: | ---: | " + " | ".join("---:" for _ in blocks) + " |",
        ]
        for backend, entry in sweeps:
            best = min(entry["block_seconds"].values())
            cells = [
                f"**{1e3 * t:.1f} ms**" if t == best else f"{1e3 * t:.1f} ms" for t in entry["block_seconds"].values()
            ]
            lines.append(f"| {backend} | {entry['T']} | {entry['r_over_T']:.3f} | " + " | ".join(cells) + " |")
    return lines


def _screening_lines(screening: dict | None) -> list[str]:
    """Tables of the screened (float16) selection against float32 (issue 14)."""
    if not screening:
        return []
    lines = [
        "",
        "Screened float16 selection (float32 rechecks) against float32, one ADA layer, r/T ≈ 0.45 "
        "(same sets: every way gave the full-Gram float32 set):",
        "",
        "| T | d | full Gram f32 | chosen rows f32 | chosen rows f16 (screened) | product f32 | product f16 "
        "| speed-up over full Gram | rechecked | same sets |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for e in screening["ada"].values():
        t = e["seconds"]
        lines.append(
            f"| {e['T']} | {e['d']} | {1e3 * t['full_gram_float32']:.2f} ms | {1e3 * t['chosen_rows_float32']:.2f} ms "
            f"| {1e3 * t['chosen_rows_float16']:.2f} ms | {1e3 * t['product_float32']:.2f} ms "
            f"({e['tflops_product_float32']:.0f} TFLOP/s) | {1e3 * t['product_float16']:.2f} ms "
            f"({e['tflops_product_float16']:.0f} TFLOP/s) | {e['screened_speedup_over_full_gram']:.1f}x "
            f"| {100 * e['recheck_fraction']:.4f} % | {'yes' if e['same_sets'] else 'NO'} |"
        )
    lines += ["", "Cascade layer, T = 8192, r = 256:", "", "| d | float16 (screened) | float32 | same sets |"]
    lines.append("| ---: | ---: | ---: | --- |")
    for e in screening["cascade"].values():
        t = e["seconds"]
        lines.append(
            f"| {e['d']} | {1e3 * t['float16']:.3f} ms | {1e3 * t['float32']:.3f} ms | "
            f"{'yes' if e['same_sets'] else 'NO'} |"
        )
    p = screening["per_head"]
    shape, t = p["shape"], p["seconds"]
    lines += [
        "",
        f"Per-head layer (B, H, T, d) = ({shape['B']}, {shape['H']}, {shape['T']}, {shape['d']}): "
        f"slices one by one as on main {1e3 * t['one_by_one_main']:.1f} ms, one by one screened "
        f"{1e3 * t['one_by_one_screened']:.1f} ms, batched screened {1e3 * t['batched_screened']:.2f} ms, batched "
        f"float32 {1e3 * t['batched_float32']:.2f} ms"
        + (
            f"; through `cc.run` (the runner) grouped {1e3 * t['run_grouped']:.2f} ms, slice by slice "
            f"{1e3 * t['run_one_by_one']:.1f} ms"
            if "run_grouped" in t
            else ""
        )
        + f"; same sets: {'yes' if p['same_sets'] else 'NO'}.",
        "",
        "Pairs re-computed in float32, of the screened similarities computed (ADA and cascade layers):",
        "",
        "| data | re-checked | of | fraction | same sets as float32 (CPU) |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for label, e in screening["recheck"].items():
        same = {True: "yes", False: "NO"}.get(e.get("same_sets"), "")
        lines.append(f"| {label} | {e['rechecked']} | {e['screened']} | {100 * e['fraction']:.4f} % | {same} |")
    return lines


def _large(scaling: dict, name: str) -> str:
    if f"{name}_exponent_large_T" in scaling:
        return f"{scaling[f'{name}_exponent_large_T']:.2f}"
    return f"{_fit(scaling['tokens'][-3:], scaling[_SCALING_KEYS[name]][-3:]):.2f}"


_SCALING_KEYS = {"ada": "ada_seconds", "cascade": "cascade_seconds_fixed_r256"}


#: ``--quick``: small sizes, a smoke test of every figure, not a measurement.
QUICK = {
    "cpu": dict(
        n_layers=3, n_tokens=512, n_features=64, repeat=1, scaling=False,
        chosen_tokens=600, naive_tokens=500, blocks=(64, 128), heads=(2, 4, 64, 16),
    ),
    "gpu": dict(n_layers=3, n_tokens=1024, n_features=256, repeat=2, scaling=False, chosen_tokens=(1000, 2000),
                blocks=(128, 512), screening=dict(ada_tokens=(1024, 2048), n_features=256, repeat=2,
                                                  heads=(2, 4, 256, 64))),
}  # fmt: skip


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _print(title: str, figures: dict, indent: str = "  ") -> None:
    if title:
        print(f"\n{title}")
    for key, value in figures.items():
        if isinstance(value, dict) and key != "shape":
            print(f"{indent}{key}:")
            _print("", value, indent + "  ")
            continue
        if isinstance(value, float):
            value = f"{value:.4g}"
        print(f"{indent}{key:<38} {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python asv_bench/figures.py", description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not a measurement")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    parser.add_argument(
        "--markdown", metavar="PATH", help="render every JSON report in PATH's folder to PATH, and stop"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        folder = Path(args.markdown).parent
        reports = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
        Path(args.markdown).write_text(render_markdown(reports))
        print(f"wrote {args.markdown} from {len(reports)} reports in {folder}")
        return 0
    report = {}
    if args.cpu or not args.gpu:
        sizes = dict(QUICK["cpu"]) if args.quick else {}
        report["cpu"] = cpu_figures(**sizes)
        _print("CPU", report["cpu"])
    if args.gpu:
        sizes = dict(QUICK["gpu"]) if args.quick else {}
        report["gpu"] = gpu_figures(**sizes)
        _print("GPU", report["gpu"])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
