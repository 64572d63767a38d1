"""Peak resident memory of a run on synthetic data, for `/usr/bin/time -v`.

    /usr/bin/time -v python asv_bench/peak_memory.py --tokens 8192 --features 768 --layers 4 --ada-only
    /usr/bin/time -v python asv_bench/peak_memory.py --baseline   # interpreter, imports, compiled kernels

Layers are generated one at a time, so the data held is one layer (plus the
generator's own state), and the figure shows what the selection adds.
"""

from __future__ import annotations

import argparse
import time

import cascade_core as cc
from cascade_core import backends, synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--features", type=int, default=768)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--tau", type=float, default=0.5)
    parser.add_argument("--tile", type=int, default=None)
    parser.add_argument("--ada-only", action="store_true", help="ADA on every layer (recompute_every=1)")
    parser.add_argument("--algorithm", default="chosen-rows", choices=["chosen-rows", "full-gram"])
    parser.add_argument("--baseline", action="store_true", help="import and load the kernels, run nothing")
    args = parser.parse_args()
    if args.baseline:  # what any run pays before its data: imports and the backend's compiled kernels
        import numpy as np

        backends.resolve("auto", np.zeros(1)).warm_up()
        return
    data = synthetic.layers(args.layers, args.tokens, args.features)
    start = time.perf_counter()
    result = cc.run(
        data,
        args.tau,
        reference=False,
        tile=args.tile,
        algorithm=args.algorithm,
        recompute_every=1 if args.ada_only else None,
    )
    seconds = time.perf_counter() - start
    t = result.totals
    print(
        f"T={args.tokens} d={args.features} L={args.layers}: mean r/T {t.mean_r_over_T:.3f}, "
        f"savings {t.savings:.3f}, {seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
