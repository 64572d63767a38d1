"""Corpus throughput: documents per second in this process, and on Dask with 1 and 2 workers (CPU or GPU).

    python asv_bench/corpus_throughput.py --cpu --json docs/benchmarks/corpus/cpu-2core.json  # 64 x (12, 1024, 768)
    python asv_bench/corpus_throughput.py --gpu --json gpu.json     # 2 GPUs: dask-cuda workers on 1 GPU, then on 2
    python asv_bench/corpus_throughput.py --cpu --small             # a smoke test (8 x (4, 256, 64))

The corpus is seeded synthetic activations (:mod:`cascade_core.synthetic`,
r/T about 0.45 at tau = 0.5), one float32 ``.npy`` file ``(L, T, d)`` per
document, written to ``--data`` (a temporary folder by default; 64 full-size
documents take 2.4 GB) and read back by every run, so a run reads its files
as a user's would (from the page cache after the first run).

What is timed is :func:`cascade_core.analyze_corpus` over the whole corpus,
default parameters (so the per-layer ADA reference runs too), after the
cluster has started and every worker has run one small document (imports,
compiled kernels, CuPy's kernel build): throughput, not start-up.

Threads: this script pins BLAS (OpenMP, OpenBLAS, MKL) and Numba to one
thread before NumPy loads (``--threads`` changes it), so the sequential
loop uses one core, and each Dask worker process is started with the same
pinning (``cascade_core._corpus.ONE_THREAD``), so two workers on two cores do
not oversubscribe them. ``--cpu`` runs: in this process (``workers=0``), a
LocalCluster of 1 worker, of 2 workers. ``--gpu`` runs ``LocalCUDACluster``
on GPU 0, then on GPUs 0 and 1 (the ``cupy`` backend), and the in-process
CuPy loop for reference.
"""

from __future__ import annotations

import argparse
import os
import sys


def _pin_threads(count: int) -> None:
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = str(count)


if __name__ == "__main__":  # before NumPy loads its BLAS
    _args = " ".join(sys.argv[1:]).replace("--threads=", "--threads ").split()
    _pin_threads(int(_args[_args.index("--threads") + 1]) if "--threads" in _args else 1)

import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import cascade_core as cc  # noqa: E402
from cascade_core import synthetic  # noqa: E402

FULL = {"documents": 64, "layers": 12, "tokens": 1024, "features": 768}
SMALL = {"documents": 8, "layers": 4, "tokens": 256, "features": 64}
TAU = 0.5


def write_corpus(folder: Path, documents: int, layers: int, tokens: int, features: int) -> list[Path]:
    """One ``(L, T, d)`` float32 ``.npy`` per document, seeded by its index; existing files are kept."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(documents):
        path = folder / f"doc{i:04d}_L{layers}_T{tokens}_d{features}.npy"
        if not path.exists():
            np.save(path, synthetic.stacked(layers, tokens, features, seed=i))
        paths.append(path)
    return paths


def _warm(backend: str) -> str:
    """Run one small document in this process: imports, compiled kernels, CuPy's kernel build."""
    x = synthetic.stacked(2, 64, 16, seed=0)
    if backend == "cupy":
        import cupy

        x = cupy.asarray(x)
    return cc.run(x, TAU, backend=backend).params["backend"]


def _timed(paths, analysis, **where) -> float:
    start = time.perf_counter()
    result = cc.analyze_corpus(paths, analysis, **where)
    elapsed = time.perf_counter() - start
    if result.failed:
        raise RuntimeError(f"{len(result.failed)} documents failed: {result.failed[0].reason}")
    return elapsed


def _best(repeat: int, fn) -> float:
    return min(fn() for _ in range(repeat))


def cpu_figures(paths, repeat: int) -> dict:
    from distributed import Client

    from cascade_core._corpus import local_cluster

    analysis = cc.Analysis(tau=TAU)
    _warm("auto")
    runs = {"sequential": _best(repeat, lambda: _timed(paths, analysis, workers=0))}
    for n in (1, 2):
        with local_cluster(n) as cluster:
            with Client(cluster) as client:
                client.run(_warm, "auto")
                runs[f"{n} worker{'s' if n > 1 else ''}"] = _best(
                    repeat, lambda client=client: _timed(paths, analysis, client=client)
                )
    return runs


def gpu_figures(paths, repeat: int) -> dict:
    from distributed import Client

    from cascade_core._corpus import local_cluster

    analysis = cc.Analysis(tau=TAU, backend="cupy")
    _warm("cupy")
    runs = {"sequential (cupy, this process)": _best(repeat, lambda: _timed(paths, analysis, workers=0))}
    for devices in ("0", "0,1"):
        n = len(devices.split(","))
        with local_cluster(None, gpus=True, devices=devices) as cluster:
            with Client(cluster) as client:
                client.run(_warm, "cupy")
                runs[f"{n} GPU worker{'s' if n > 1 else ''}"] = _best(
                    repeat, lambda client=client: _timed(paths, analysis, client=client)
                )
    return runs


def report(runs: dict, documents: int, config: dict, kind: str) -> dict:
    names = list(runs)
    base, one = runs[names[0]], runs[names[1]]
    rows = [
        {
            "run": name,
            "seconds": seconds,
            "documents_per_second": documents / seconds,
            "speedup_vs_sequential": base / seconds,
            "speedup_vs_1_worker": one / seconds,
        }
        for name, seconds in runs.items()
    ]
    return {
        "kind": kind,
        "config": config,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "threads_per_process": os.environ.get("OMP_NUM_THREADS"),
        "rows": rows,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--cpu", action="store_true", help="in this process, then 1 and 2 CPU workers")
    mode.add_argument("--gpu", action="store_true", help="in this process, then 1 and 2 GPU workers (dask-cuda)")
    parser.add_argument("--small", action="store_true", help=f"a smoke test: {SMALL}")
    for name, value in FULL.items():
        parser.add_argument(f"--{name}", type=int, help=f"default {value}")
    parser.add_argument("--repeat", type=int, default=1, help="best of this many runs of each (default 1)")
    parser.add_argument("--threads", default="1", help="BLAS/Numba threads of each process (default 1)")
    parser.add_argument("--data", type=Path, help="keep the corpus here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    config = dict(SMALL if args.small else FULL)
    config.update({k: getattr(args, k) for k in FULL if getattr(args, k) is not None})
    folder = args.data or Path(tempfile.mkdtemp(prefix="cascade-corpus-"))
    try:
        paths = write_corpus(folder, **config)
        runs = gpu_figures(paths, args.repeat) if args.gpu else cpu_figures(paths, args.repeat)
    finally:
        if args.data is None:
            shutil.rmtree(folder, ignore_errors=True)
    figures = report(runs, config["documents"], config, "gpu" if args.gpu else "cpu")
    print(f"corpus: {config}, tau {TAU}, threads per process {figures['threads_per_process']}")
    print(f"{'run':<34}{'seconds':>9}{'docs/s':>9}{'vs seq':>8}{'vs 1':>7}")
    for row in figures["rows"]:
        print(
            f"{row['run']:<34}{row['seconds']:>9.2f}{row['documents_per_second']:>9.2f}"
            f"{row['speedup_vs_sequential']:>7.2f}x{row['speedup_vs_1_worker']:>6.2f}x"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
