"""The command line: ``cascade-core analyze [FILE] ...``.

User errors (bad input, bad options, missing files) print one line to
stderr and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cascade_core_backends import BackendUnavailable

from . import __version__
from .errors import CascadeInputError
from .io import describe, load, sample_path, write_atomic
from .quality import attention_layers
from .report import format_attention, format_table, format_totals, to_json
from .runner import run

__all__ = ["main"]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (exit 2) instead of usage + message."""

    def error(self, message):
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cascade-core", description="Cascade Token Selection: ADA and the cascade on saved activations."
    )
    parser.add_argument("--version", action="version", version=f"cascade-core {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    analyze = commands.add_parser(
        "analyze",
        help="run ADA and the cascade over the layers of a file",
        description="Run ADA on the first layer and the cascade after it, for every sequence (and head), "
        "and print a per-layer table and the run totals beside the paper's ranges. "
        "With no FILE, runs on the bundled sample (all-MiniLM-L6-v2 hidden states).",
    )
    analyze.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="activations: .npy, .npz, .safetensors, .h5, .pt, or a directory of per-layer files "
        "(default: the bundled sample)",
    )
    analyze.add_argument("--tau", type=float, default=0.7, help="threshold in (0, 1] on |cos| (default 0.7)")
    analyze.add_argument("--center", action="store_true", help="subtract the mean token before normalising")
    _add_selection_options(analyze)
    analyze.add_argument(
        "--reference",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run ADA on every layer, for the agreement column (default on)",
    )
    analyze.add_argument("--recompute-ratio", type=float, metavar="RHO", help="back to ADA when |D|+|A| > RHO*|R|")
    analyze.add_argument("--recompute-every", type=int, metavar="K", help="ADA on every K-th layer")
    analyze.add_argument("--backend", default="auto", help="backend name (default auto)")
    analyze.add_argument("--tile", type=int, default=None, help="rows of a Gram tile")
    attention = analyze.add_argument_group("compressed attention (SPEC §8)")
    attention.add_argument(
        "--attention", action="store_true", help="score rr and tr attention against full (needs q, k, v in FILE)"
    )
    attention.add_argument(
        "--select-on",
        choices=["hidden", "q", "k"],
        default="hidden",
        help="select on hidden states (one set per sequence), or per head on q or k (default hidden)",
    )
    attention.add_argument("--causal", action="store_true", help="causal attention (decoder models)")
    attention.add_argument(
        "--proportional",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="weight each representative key by its group size, log c (default on)",
    )
    attention.add_argument(
        "--qkv-keys", default="q,k,v", metavar="Q,K,V", help="names of the q, k, v tensors (default q,k,v)"
    )
    analyze.add_argument("--json", metavar="PATH", help="also write the full report as JSON")
    analyze.add_argument("--force", action="store_true", help="overwrite an existing --json file")

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


def _add_selection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key",
        metavar="NAME",
        help="the tensor to read, or a per-layer name pattern with {l} (e.g. 'blocks.{l}.hook_resid_pre')",
    )
    parser.add_argument("--layout", metavar="AXES", help="storage order of the axes, e.g. LBTD, LBHTD, TDL")
    parser.add_argument("--lengths", metavar="NAME", help="a (B,) tensor of valid lengths (default: 'lengths')")
    parser.add_argument("--mask", metavar="NAME", help="a (B, T) mask of valid tokens (default: 'attention_mask')")


def _analyze(args) -> None:
    path = Path(args.file) if args.file else sample_path()
    if args.json and Path(args.json).exists() and not args.force:
        raise CascadeInputError("exists; not overwritten (use --force)", path=args.json)
    if args.json and path.exists() and Path(args.json).resolve() == path.resolve():
        raise CascadeInputError("--json would overwrite the input file", path=args.json)
    qkv_keys = [name.strip() for name in args.qkv_keys.split(",")]
    if len(qkv_keys) != 3:
        raise CascadeInputError(f"--qkv-keys needs three names, got {args.qkv_keys!r}")
    key = args.key
    if args.attention and args.select_on != "hidden":
        key = qkv_keys["qk".index(args.select_on)]
    data = load(path, key=key, layout=args.layout, lengths=args.lengths, mask=args.mask)
    try:
        result = run(
            data.layers,
            args.tau,
            center=args.center,
            reference=args.reference,
            recompute_ratio=args.recompute_ratio,
            recompute_every=args.recompute_every,
            lengths=data.lengths,
            mask=data.mask,
            backend=args.backend,
            tile=args.tile,
            assign=args.attention,
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
    t = result.totals
    label = "bundled sample: all-MiniLM-L6-v2 hidden states" if not args.file else data.path
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
    if attention is not None:
        print()
        print(format_attention(records, overall))
    if args.json:
        inputs = {
            "path": data.path,
            "key": data.key,
            "format": data.format,
            "layout": data.layers.layout,
            "shape": list(data.layers.shape),
            "dtype": str(data.layers.dtype),
            "metadata": data.metadata,
        }
        write_atomic(args.json, to_json(result, inputs=inputs, attention=attention), force=args.force)
        print(f"\nwrote {args.json}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cascade-core``; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "analyze":
            _analyze(args)
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
        print("cascade-core: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
