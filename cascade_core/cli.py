"""The command line: ``cascade-core analyze | sweep | info | export-hf``.

User errors (bad input, bad options, missing files) print one line to
stderr and exit with status 2; no traceback. Reports reach disk only through
:func:`cascade_core.io.write_atomic`: a temporary file renamed into place,
never over an existing file without ``--force``.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

from cascade_core_backends import BackendUnavailable

from . import __version__
from .errors import CascadeInputError
from .io import Activations, describe, load, sample_path, write_atomic
from .quality import attention_layers
from .report import (
    PAPER,
    FileReport,
    document,
    format_attention,
    format_table,
    format_totals,
    layers_csv,
    markdown,
    sha256_of,
    to_json,
)
from .runner import run

__all__ = ["main", "build_parser"]

#: What ``analyze --out DIR`` writes besides the plots.
REPORT_FILES = ("report.json", "layers.csv", "report.md")
SWEEP_FILES = ("sweep.json", "sweep.csv", "tradeoff.png")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (exit 2) instead of usage + message."""

    def error(self, message):
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``cascade-core`` (the command-line reference is generated from it)."""
    parser = _Parser(
        prog="cascade-core", description="Cascade Token Selection: ADA and the cascade on saved activations."
    )
    parser.add_argument("--version", action="version", version=f"cascade-core {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    analyze = commands.add_parser(
        "analyze",
        help="run ADA and the cascade over the layers of one or more files",
        description="Run ADA on the first layer and the cascade after it, for every sequence (and head), "
        "and print a per-layer table and the run totals beside the paper's ranges. With several files "
        "(or globs), results are aggregated across them. With no FILE, runs on the bundled sample "
        "(all-MiniLM-L6-v2 hidden states).",
    )
    analyze.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="activations: .npy, .npz, .safetensors, .h5, .pt, or a directory of per-layer files; globs are "
        "expanded (default: the bundled sample)",
    )
    analyze.add_argument("--tau", type=float, default=0.7, help="threshold in (0, 1] on |cos| (default 0.7)")
    _add_run_options(analyze)
    attention = analyze.add_argument_group("compressed attention (SPEC §8)")
    attention.add_argument(
        "--attention", action="store_true", help="score rr and tr attention against full (needs q, k, v in FILE)"
    )
    _add_attention_options(attention)
    _add_output_options(analyze, "report.json, layers.csv, report.md and PNG plots")

    sweep = commands.add_parser(
        "sweep",
        help="savings, Jaccard, agreement (and attention error) across a range of tau",
        description="Run analyze at every tau of a range over the same files; print a table and, with --out, "
        "write sweep.json, sweep.csv and the trade-off plot tradeoff.png.",
    )
    sweep.add_argument("files", nargs="*", metavar="FILE", help="activations (default: the bundled sample)")
    sweep.add_argument(
        "--tau",
        default="0.5:0.95:0.05",
        metavar="START:STOP:STEP",
        help="thresholds: START:STOP:STEP (STOP included) or a comma list (default 0.5:0.95:0.05)",
    )
    _add_run_options(sweep)
    attention = sweep.add_argument_group("compressed attention (SPEC §8)")
    attention.add_argument("--attention", action="store_true", help="also score rr and tr attention error")
    _add_attention_options(attention)
    _add_output_options(sweep, "sweep.json, sweep.csv and tradeoff.png")

    info = commands.add_parser(
        "info",
        help="list the tensors of a file and the activations analyze would read, without reading data",
    )
    info.add_argument("file", metavar="FILE")
    _add_selection_options(info)

    export = commands.add_parser(
        "export-hf",
        help="save the activations of a local Hugging Face model on some texts (needs cascade-core[export])",
    )
    export.add_argument("model_dir", metavar="MODEL_DIR", help="a local model directory (no hub access)")
    export.add_argument("--text", action="append", required=True, metavar="FILE", help="a text file; repeat")
    export.add_argument("--out", required=True, metavar="PATH", help="the .safetensors file to write")
    export.add_argument("--qkv", action="store_true", help="also save every layer's queries, keys and values")
    export.add_argument("--max-tokens", type=int, metavar="N", help="truncate each text to N tokens")
    export.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    export.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    return parser


def _add_selection_options(parser) -> None:
    parser.add_argument(
        "--key",
        metavar="NAME",
        help="the tensor to read, or a per-layer name pattern with {l} (e.g. 'blocks.{l}.hook_resid_pre')",
    )
    parser.add_argument("--layout", metavar="AXES", help="storage order of the axes, e.g. LBTD, LBHTD, TDL")
    parser.add_argument("--lengths", metavar="NAME", help="a (B,) tensor of valid lengths (default: 'lengths')")
    parser.add_argument("--mask", metavar="NAME", help="a (B, T) mask of valid tokens (default: 'attention_mask')")


def _add_run_options(parser) -> None:
    parser.add_argument("--center", action="store_true", help="subtract the mean token before normalising")
    _add_selection_options(parser)
    parser.add_argument(
        "--reference",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run ADA on every layer, for the agreement column (default on)",
    )
    parser.add_argument("--recompute-ratio", type=float, metavar="RHO", help="back to ADA when |D|+|A| > RHO*|R|")
    parser.add_argument("--recompute-every", type=int, metavar="K", help="ADA on every K-th layer")
    parser.add_argument("--backend", default="auto", help="numpy, numba, cupy, array_api or auto (default)")
    parser.add_argument("--tile", type=int, default=None, help="rows of a Gram tile (default: about 4 Mi entries)")


def _add_attention_options(group) -> None:
    group.add_argument(
        "--select-on",
        choices=["hidden", "q", "k"],
        default="hidden",
        help="select on hidden states (one set per sequence), or per head on q or k (default hidden)",
    )
    group.add_argument("--causal", action="store_true", help="causal attention (decoder models)")
    group.add_argument(
        "--proportional",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="weight each representative key by its group size, log c (default on)",
    )
    group.add_argument(
        "--qkv-keys", default="q,k,v", metavar="Q,K,V", help="names of the q, k, v tensors (default q,k,v)"
    )


def _add_output_options(parser, what: str) -> None:
    parser.add_argument("--out", metavar="DIR", help=f"write {what} to DIR")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON report to PATH")
    parser.add_argument("--format", choices=["table", "json"], default="table", help="what to print on stdout")
    parser.add_argument("--force", action="store_true", help="overwrite existing report files")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


# ---- shared steps ---------------------------------------------------------


class _Progress:
    """A one-line progress bar on stderr; silent when stderr is not a terminal or with --quiet."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.prefix = ""
        self.total = 0

    def start(self, prefix: str, total: int) -> None:
        self.prefix, self.total = prefix, total
        self.layer(-1)

    def layer(self, index: int) -> None:
        if self.enabled:
            done = index + 1
            width = 24
            filled = width * done // max(self.total, 1)
            bar = "#" * filled + "." * (width - filled)
            sys.stderr.write(f"\r{self.prefix} [{bar}] layer {done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _expand(patterns: list[str]) -> list[Path]:
    """Files named or matched by globs; the bundled sample when none is given."""
    if not patterns:
        return [sample_path()]
    paths: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise CascadeInputError("no file matches this pattern", path=pattern)
            paths.extend(Path(m) for m in matches)
        else:
            paths.append(Path(pattern))
    return paths


def _qkv_keys(text: str) -> list[str]:
    keys = [name.strip() for name in text.split(",")]
    if len(keys) != 3 or not all(keys):
        raise CascadeInputError(f"--qkv-keys needs three names, got {text!r}")
    return keys


def _check_outputs(args, inputs: list[Path], files: tuple[str, ...]) -> None:
    """Refuse, before any work, to overwrite reports without --force or to write over an input."""
    targets = [Path(args.json)] if args.json else []
    if args.out:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise CascadeInputError("exists and is not a directory", path=args.out)
        targets += [out / name for name in files]
    resolved_inputs = {p.resolve() for p in inputs if p.exists()}
    for target in targets:
        if target.exists() and not args.force:
            raise CascadeInputError("exists; not overwritten (use --force)", path=str(target))
        if target.resolve() in resolved_inputs:
            raise CascadeInputError("a report would overwrite an input file", path=str(target))


def _input_description(data: Activations) -> dict:
    return {
        "path": data.path,
        "sha256": sha256_of(data.path),
        "format": data.format,
        "key": data.key,
        "layout": data.layers.layout,
        "shape": list(data.layers.shape),
        "dtype": str(data.layers.dtype),
        "metadata": data.metadata,
    }


def _analyze_file(path: Path, args, tau: float, progress: _Progress, label: str) -> tuple[FileReport, Activations]:
    """Load, select and (with --attention) score attention for one file."""
    qkv_keys = _qkv_keys(args.qkv_keys)
    key = args.key
    if args.attention and args.select_on != "hidden":
        key = qkv_keys["qk".index(args.select_on)]
    data = load(path, key=key, layout=args.layout, lengths=args.lengths, mask=args.mask)
    progress.start(label, len(data.layers))
    try:
        result = run(
            data.layers,
            tau,
            center=args.center,
            reference=args.reference,
            recompute_ratio=args.recompute_ratio,
            recompute_every=args.recompute_every,
            lengths=data.lengths,
            mask=data.mask,
            backend=args.backend,
            tile=args.tile,
            assign=args.attention,
            progress=progress.layer,
        )
        attention = None
        if args.attention:
            q, k, v = (load(path, key=name, lengths=args.lengths, mask=args.mask).layers for name in qkv_keys)
            records, overall = attention_layers(
                q,
                k,
                v,
                result,
                select_on=args.select_on,
                causal=args.causal,
                proportional=args.proportional,
                lengths=data.lengths,
                mask=data.mask,
                backend=args.backend,
                tile=args.tile,
            )
            attention = {
                "select_on": args.select_on,
                "causal": args.causal,
                "proportional": args.proportional,
                "records": [rec.as_dict() for rec in records],
                "overall": overall,
            }
    except CascadeInputError as err:
        raise err.located(path=data.path) from None
    finally:
        progress.close()
    return FileReport(_input_description(data), result, attention), data


def _params(args, tau: float, backend: str) -> dict:
    return {
        "tau": tau,
        "center": args.center,
        "reference": args.reference,
        "recompute_ratio": args.recompute_ratio,
        "recompute_every": args.recompute_every,
        "backend": backend,
        "tile": args.tile,
    }


# ---- analyze --------------------------------------------------------------


def _analyze(args) -> None:
    paths = _expand(args.files)
    _check_outputs(args, paths, REPORT_FILES)
    progress = _Progress(args.quiet or args.format == "json")
    reports = []
    for i, path in enumerate(paths):
        label = f"[{i + 1}/{len(paths)}] {path.name}"
        report, data = _analyze_file(path, args, args.tau, progress, label)
        reports.append(report)
        if args.format == "table":
            if i:
                print()
            _print_file(report, data, args, bundled=not args.files)
    doc = document(reports, _params(args, args.tau, reports[0].result.params["backend"]))
    if args.format == "json":
        print(to_json(doc), end="")
    elif len(reports) > 1:
        print()
        _print_aggregate(doc)
    _write_outputs(args, to_json(doc), lambda: _report_files(doc))


def _print_file(report: FileReport, data: Activations, args, *, bundled: bool) -> None:
    result = report.result
    t = result.totals
    label = "bundled sample: all-MiniLM-L6-v2 hidden states" if bundled else data.path
    print(f"cascade-core analyze: {label}")
    print(
        f"layout {data.layers.layout} {tuple(data.layers.shape)}, "
        f"{t.layers} layers x {t.slices} slices, tau {args.tau:g}, "
        f"center {'on' if args.center else 'off'}, backend {result.params['backend']}"
    )
    print()
    print(format_table(result))
    print()
    print(format_totals(result))
    if report.attention is not None:
        from .quality import AttentionRecord

        print()
        records = [AttentionRecord(**rec) for rec in report.attention["records"]]
        print(format_attention(records, report.attention["overall"]))


def _print_aggregate(doc: dict) -> None:
    agg = doc["aggregate"]
    print(f"across {agg['files']} files       mean     std      min      max")
    for name, label, scale in (
        ("savings", "Gram savings (%)", 100),
        ("mean_jaccard", "mean Jaccard", 1),
        ("mean_agreement", "agreement with ADA", 1),
        ("mean_r_over_T", "mean r/T", 1),
    ):
        stats = agg[name]
        if stats is None:
            print(f"{label:<22}{'-':>8}")
            continue
        print(
            f"{label:<22}{scale * stats['mean']:>8.3f} {scale * stats['std']:>8.3f} "
            f"{scale * stats['min']:>8.3f} {scale * stats['max']:>8.3f}"
        )
    print(f"pooled Gram savings: {100 * agg['pooled_savings']:.1f} %  (paper 22-63 %)")


def _report_files(doc: dict) -> dict[str, str | bytes]:
    """What ``analyze --out DIR`` writes, by file name."""
    from .plots import report_plots

    images = report_plots(doc)
    texts = {"report.json": to_json(doc), "layers.csv": layers_csv(doc), "report.md": markdown(doc, list(images))}
    return {**texts, **images}


def _write_outputs(args, json_text: str, directory_files) -> None:
    """``--json PATH`` and ``--out DIR``; every file is made before the first is written, each atomically."""
    files = directory_files() if args.out else {}
    written = []
    if args.json:
        write_atomic(args.json, json_text, force=args.force)
        written.append(args.json)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            write_atomic(Path(args.out) / name, data, force=args.force)
            written.append(str(Path(args.out) / name))
    if written and args.format == "table":
        print("\nwrote " + ", ".join(written))


# ---- sweep ----------------------------------------------------------------


def parse_taus(text: str) -> list[float]:
    """``"0.5:0.95:0.05"`` (stop included) or ``"0.6,0.7,0.8"`` -> thresholds."""
    try:
        if ":" in text:
            start, stop, step = (float(part) for part in text.split(":"))
            if step <= 0:
                raise ValueError
            count = int(round((stop - start) / step)) + 1
            values = [round(start + i * step, 10) for i in range(max(count, 0))]
            values = [v for v in values if v <= stop + 1e-9]
        else:
            values = [float(part) for part in text.split(",")]
    except ValueError:
        raise CascadeInputError(f"--tau must be START:STOP:STEP or a comma list, got {text!r}") from None
    if not values:
        raise CascadeInputError(f"--tau {text!r} gives no threshold")
    return values


def _sweep(args) -> None:
    from .options import check_tau

    taus = [check_tau(t) for t in parse_taus(args.tau)]
    paths = _expand(args.files)
    _check_outputs(args, paths, SWEEP_FILES)
    progress = _Progress(args.quiet or args.format == "json")
    rows = []
    inputs = None
    backend = None
    for tau in taus:
        reports = []
        for i, path in enumerate(paths):
            label = f"tau {tau:g} [{i + 1}/{len(paths)}] {path.name}"
            reports.append(_analyze_file(path, args, tau, progress, label)[0])
        doc = document(reports, _params(args, tau, reports[0].result.params["backend"]))
        inputs = inputs or [r.input for r in reports]
        backend = backend or reports[0].result.params["backend"]
        agg = doc["aggregate"]
        row = {
            "tau": tau,
            "savings": agg["pooled_savings"],
            "mean_jaccard": _mean_of(agg["mean_jaccard"]),
            "mean_agreement": _mean_of(agg["mean_agreement"]),
            "mean_r_over_T": _mean_of(agg["mean_r_over_T"]),
            "rr_error": None,
            "tr_error": None,
        }
        if args.attention:
            overall = [r.attention["overall"]["cascade"] for r in reports]
            row["rr_error"] = sum(o["rr"][0] for o in overall) / len(overall)
            row["tr_error"] = sum(o["tr"][0] for o in overall) / len(overall)
        rows.append(row)
    sweep = {
        "schema": "cascade-core/sweep/1",
        "library": {"name": "cascade-core", "version": __version__},
        "params": {**_params(args, None, backend), "tau": taus},
        "paper": {k: list(v) for k, v in PAPER.items()},
        "files": inputs,
        "rows": rows,
    }
    if args.format == "json":
        print(json.dumps(sweep, indent=2))
    else:
        _print_sweep(sweep)
    text = json.dumps(sweep, indent=2) + "\n"
    _write_outputs(args, text, lambda: {"sweep.json": text, "sweep.csv": _sweep_csv(rows), **_sweep_images(sweep)})


def _sweep_images(sweep: dict) -> dict[str, bytes]:
    from .plots import sweep_plots

    return sweep_plots(sweep)


def _mean_of(stats: dict | None):
    return None if stats is None else stats["mean"]


def _fmt(value, digits=3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_sweep(sweep: dict) -> None:
    names = ", ".join(Path(f["path"]).name for f in sweep["files"])
    print(f"cascade-core sweep: {names}")
    print(f"{'tau':>6} {'savings':>9} {'Jaccard':>8} {'agree':>7} {'r/T':>7} {'rr err':>8} {'tr err':>8}")
    for row in sweep["rows"]:
        print(
            f"{row['tau']:>6.3g} {100 * row['savings']:>8.1f}% {_fmt(row['mean_jaccard']):>8} "
            f"{_fmt(row['mean_agreement']):>7} {_fmt(row['mean_r_over_T']):>7} "
            f"{_fmt(row['rr_error'], 4):>8} {_fmt(row['tr_error'], 4):>8}"
        )
    print("paper: savings 22-63 %, mean Jaccard 0.83-0.94")


def _sweep_csv(rows: list[dict]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


# ---- entry point ----------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cascade-core``; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "analyze":
            _analyze(args)
        elif args.command == "sweep":
            _sweep(args)
        elif args.command == "info":
            print(describe(args.file, key=args.key, layout=args.layout))
        elif args.command == "export-hf":
            from .export import export_hf

            shapes = export_hf(
                args.model_dir,
                args.text,
                args.out,
                qkv=args.qkv,
                max_tokens=args.max_tokens,
                dtype=args.dtype,
                force=args.force,
            )
            for name, shape in shapes.items():
                print(f"{name:<15} {shape}")
            print(f"wrote {args.out}")
    except _UsageError as err:
        print(f"cascade-core: error: {err}", file=sys.stderr)
        return 2
    except (CascadeInputError, BackendUnavailable) as err:
        print(f"cascade-core: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"cascade-core: error: {err.filename or ''}: {err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cascade-core: interrupted; no report file was left half-written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
