"""The command line: ``cascade-core analyze | sweep | compare | info | export-hf``.

It parses options, calls the library (:func:`cascade_core.analyze_file`,
:func:`cascade_core.sweep`, :func:`cascade_core.compare_file`, :func:`cascade_core.describe`,
:func:`cascade_core.export_hf`) and prints what :mod:`cascade_core.report`
renders. User errors (bad input, bad options, missing files or libraries)
print one line to stderr and exit with status 2; no traceback. Reports reach
disk only through :func:`cascade_core.write_atomic`: a temporary file renamed
into place, never over an existing file without ``--force``.
"""

from __future__ import annotations

import argparse
import functools
import glob
import math
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

from . import selectors
from ._analysis import Analysis, AttentionOptions, check_distinct, sweep
from ._compare import CompareOptions, compare_file
from ._corpus import CorpusProgress, analyze_corpus, corpus_documents
from ._errors import CascadeInputError
from ._io import describe, sample_path
from ._params import MAX_TAUS, check_tau, check_taus
from ._version import __version__
from .report import (
    COMPARE_FILES,
    REPORT_FILES,
    SWEEP_FILES,
    VIEW_PATTERNS,
    aggregate_text,
    check_outputs,
    compare_document,
    compare_files,
    compare_text,
    file_text,
    report_files,
    sweep_files,
    sweep_text,
    to_json,
    write_outputs,
)

__all__ = ["main", "build_parser", "parse_taus"]

SPEC_NOTE = "SPEC §n is section n of the specification (docs/spec.rst in the documentation)."

#: The flag of each library parameter, for messages (the library names parameters, the command line flags).
FLAGS = {
    "tau": "--tau",
    "key": "--key",
    "layout": "--layout",
    "lengths": "--lengths",
    "mask": "--mask",
    "layers": "--layers",
    "tile": "--tile",
    "backend": "--backend",
    "algorithm": "--algorithm",
    "recompute_ratio": "--recompute-ratio",
    "recompute_every": "--recompute-every",
    "select_on": "--select-on",
    "qkv_keys": "--qkv-keys",
    "force": "--force",
    "dtype": "--dtype",
    "max_tokens": "--max-tokens",
    "texts": "--text",
    "qkv": "--qkv",
    "selectors": "--selectors",
    "budget": "--budget",
    "attention": "--attention",
    "workers": "--workers",
    "scheduler": "--scheduler",
    "resume": "--resume",
    "out": "--out",
}
_NAMED = re.compile(r"(?<![\w-])(" + "|".join(FLAGS) + r")(=True\b|=)")


#: The --backend help of every command.
BACKEND_HELP = "numpy, numba, cupy (screened float16), cupy-float32, array_api or auto (default)"


def flag_message(err: CascadeInputError) -> str:
    """The library's message with its parameters named by their flags.

    ``tau must be ...`` -> ``--tau must be ...``, ``key=NAME`` -> ``--key NAME``,
    ``force=True`` -> ``--force``.
    """

    def swap(match: re.Match) -> str:
        flag = FLAGS[match.group(1)]
        return flag if match.group(2) == "=True" else flag + " "  # force=True -> --force, key=NAME -> --key NAME

    reason = err.reason
    if err.param in FLAGS and re.match(re.escape(err.param) + r"\b", reason):
        reason = FLAGS[err.param] + reason[len(err.param) :]
    return err.message_for(_NAMED.sub(swap, reason))


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (exit 2) instead of usage + message."""

    def error(self, message):
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``cascade-core`` (the command-line reference is generated from it)."""
    parser = _Parser(
        prog="cascade-core",
        description="Cascade Token Selection: ADA and the cascade on saved activations.",
        epilog=SPEC_NOTE,
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
        epilog=SPEC_NOTE,
    )
    analyze.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="activations: .npy, .npz, .safetensors, .h5, .pt, a directory of per-layer files, a directory of "
        "such documents, or a Hugging Face datasets folder (a document per row); globs are expanded "
        "(default: the bundled sample)",
    )
    analyze.add_argument("--tau", type=float, default=0.7, help="threshold in (0, 1] on |cos| (default 0.7)")
    _add_run_options(analyze)
    attention = analyze.add_argument_group("compressed attention (SPEC §8)")
    attention.add_argument(
        "--attention", action="store_true", help="score rr and tr attention against full (needs q, k, v in FILE)"
    )
    _add_attention_options(attention)
    _add_output_options(analyze, "report.json, layers.csv, report.md, PNG plots, the token views and Parquet tables")
    analyze.add_argument(
        "--view",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --out: one HTML page and one heatmap PNG per sequence, the tokens chosen at every layer "
        "(default on)",
    )
    _add_corpus_options(analyze)

    sweep_parser = commands.add_parser(
        "sweep",
        help="savings, Jaccard, agreement (and attention error) across a range of tau",
        description="Run analyze at every tau of a range over the same files; print a table and, with --out, "
        "write sweep.json, sweep.csv and the trade-off plot tradeoff.png.",
        epilog=SPEC_NOTE,
    )
    sweep_parser.add_argument("files", nargs="*", metavar="FILE", help="activations (default: the bundled sample)")
    sweep_parser.add_argument(
        "--tau",
        default="0.5:0.95:0.05",
        metavar="START:STOP:STEP",
        help="thresholds: START:STOP:STEP (STOP included) or a comma list (default 0.5:0.95:0.05)",
    )
    _add_run_options(sweep_parser)
    attention = sweep_parser.add_argument_group("compressed attention (SPEC §8)")
    attention.add_argument("--attention", action="store_true", help="also score rr and tr attention error")
    _add_attention_options(attention)
    _add_output_options(sweep_parser, "sweep.json, sweep.csv and tradeoff.png")

    compare = commands.add_parser(
        "compare",
        help="compare token selectors (ADA, the cascade, ToMe, DivPrune, pivoted QR, ...) on the same activations",
        description="Run token selectors on the same layers (SPEC §10): the threshold selectors at --tau, the budget "
        "selectors at ADA's r of each layer and sequence (matched budget). Print one row per selector: size, cost, "
        "time, consecutive Jaccard, coverage at tau, largest similarity inside the set, residual, and the rr and "
        "tr attention errors when the file has q, k and v (export-hf --qkv). With no FILE, runs on the bundled "
        "sample.",
        epilog=SPEC_NOTE,
    )
    compare.add_argument("files", nargs="*", metavar="FILE", help="activations (default: the bundled sample)")
    compare.add_argument("--tau", type=float, default=0.7, help="threshold in (0, 1] on |cos| (default 0.7)")
    compare.add_argument(
        "--selectors",
        metavar="LIST",
        help="comma list of selectors, each NAME or NAME:PARAM=VALUE (e.g. topk-reuse:every=3); default: every "
        f"one the file has the tensors for. Registered: {', '.join(selectors.names())}",
    )
    compare.add_argument(
        "--budget",
        default="ada",
        metavar="SOURCE",
        help="what budget selectors get: 'ada' (ADA's r per layer and sequence, default), 'cascade', or a "
        "fraction F of the tokens (ceil(F T))",
    )
    compare.add_argument("--center", action="store_true", help="subtract the mean token before normalising")
    _add_selection_options(compare)
    compare.add_argument("--layers", metavar="RANGE", help="run only these layers: '1:', ':-1', '0:12:2', '0,3,5'")
    compare.add_argument("--backend", default="auto", help=BACKEND_HELP)
    compare.add_argument("--tile", type=int, default=None, help="rows of a Gram tile (default: about 4 Mi entries)")
    attention = compare.add_argument_group("compressed attention (SPEC §8)")
    attention.add_argument(
        "--attention",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="score rr and tr attention with each selector's groups (default: when the file has q, k and v)",
    )
    _add_attention_options(attention)
    _add_output_options(compare, "compare.json, compare.csv, compare.md and PNG plots")

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


def _add_corpus_options(parser) -> None:
    group = parser.add_argument_group("corpora (many documents, on Dask)")
    group.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="local Dask workers, one process each (default: one per core for 4 documents or more; 0: in this process)",
    )
    group.add_argument("--scheduler", metavar="ADDRESS", help="run on a running dask.distributed scheduler")
    group.add_argument("--gpus", action="store_true", help="one Dask worker per GPU (dask-cuda), cupy backend")
    group.add_argument(
        "--resume",
        action="store_true",
        help="keep the documents --out already holds (same parameters, unchanged files) and run the rest",
    )


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
        "--layers",
        metavar="RANGE",
        help="run only these layers: '1:' (skip the embedding layer of hidden states), ':-1', '0:12:2', '0,3,5'",
    )
    parser.add_argument(
        "--reference",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run ADA on every layer, for the agreement column (default on)",
    )
    parser.add_argument("--recompute-ratio", type=float, metavar="RHO", help="back to ADA when |D|+|A| > RHO*|R|")
    parser.add_argument("--recompute-every", type=int, metavar="K", help="ADA on every K-th layer")
    parser.add_argument("--backend", default="auto", help=BACKEND_HELP)
    parser.add_argument(
        "--tile",
        type=int,
        default=None,
        help="tokens per tile: B of the chosen-rows scan (default: the backend's), rows of a full-Gram tile "
        "(default: about 4 Mi entries)",
    )
    parser.add_argument(
        "--algorithm",
        choices=["chosen-rows", "full-gram"],
        default="chosen-rows",
        help="how ADA's set (and the cascade's scans) is computed: from the chosen rows only (default, SPEC §3.1) "
        "or from the full Gram matrix, as the paper costs it; the sets are the same",
    )


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


# ---- from options to library calls ------------------------------------------


#: Options that only act with --attention, and whether each was given (not at its default).
_ATTENTION_ONLY = (
    ("--select-on", lambda args: args.select_on != "hidden"),
    ("--causal", lambda args: args.causal),
    ("--no-proportional", lambda args: not args.proportional),
    ("--qkv-keys", lambda args: args.qkv_keys != "q,k,v"),
)


def _analysis(args, tau: float) -> Analysis:
    attention = None
    if not args.attention:
        ignored = [flag for flag, given in _ATTENTION_ONLY if given(args)]
        if ignored:
            raise CascadeInputError(f"{', '.join(ignored)} act{'s' if len(ignored) == 1 else ''} only with --attention")
    if args.attention:
        attention = AttentionOptions(
            select_on=args.select_on,
            causal=args.causal,
            proportional=args.proportional,
            qkv_keys=tuple(name.strip() for name in args.qkv_keys.split(",")),
        )
    return Analysis(
        tau=tau,
        key=args.key,
        layout=args.layout,
        lengths=args.lengths,
        mask=args.mask,
        layers=args.layers,
        center=args.center,
        reference=args.reference,
        recompute_ratio=args.recompute_ratio,
        recompute_every=args.recompute_every,
        backend=args.backend,
        tile=args.tile,
        attention=attention,
        algorithm=args.algorithm,
    )


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
    check_distinct(paths)
    return paths


class _Progress:
    """Per-file progress bars (tqdm) on stderr; none with --quiet or when stderr is not a terminal.

    With `lines` (``sweep``), a stderr that is not a terminal (a pipe, a log
    file) gets one plain line per step instead of a bar, so a long sweep is
    never silent.
    """

    def __init__(self, quiet: bool, *, lines: bool = False) -> None:
        self.disable = True if quiet else None  # tqdm: None disables on a non-terminal
        self.lines = lines and not quiet and not sys.stderr.isatty()
        self.bar = None

    def __call__(self, label: str, done: int, total: int) -> None:
        if self.lines:
            if done == 0:
                print(f"cascade-core: {label}", file=sys.stderr, flush=True)
            return
        if done == 0:
            from tqdm.auto import tqdm

            self.close()
            self.bar = tqdm(
                total=total,
                desc=label,
                bar_format="{desc} [{bar:24}] layer {n_fmt}/{total_fmt} {elapsed}<{remaining}",
                leave=False,
                mininterval=0,
                disable=self.disable,
                file=sys.stderr,
            )
        elif self.bar is not None:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _CorpusProgress(_Progress):
    """The corpus's bar (documents done, failures, ETA) and, in this process, each document's layer bar."""

    def __init__(self, quiet: bool) -> None:
        super().__init__(quiet)
        self.quiet = quiet
        self.documents = None

    def event(self, e: CorpusProgress) -> None:
        if e.document is None:  # the start
            if e.workers and not self.quiet:
                where = e.dashboard or "not served (pip install bokeh)"
                print(f"dask: {e.workers} worker{'s' if e.workers != 1 else ''}, dashboard {where}", file=sys.stderr)
            if e.total > 1:
                from tqdm.auto import tqdm

                self.documents = tqdm(
                    total=e.total,
                    initial=e.done,
                    desc="documents",
                    mininterval=0,
                    bar_format="{desc} {n_fmt}/{total_fmt} [{bar:24}] {elapsed}<{remaining} {postfix}",
                    disable=self.disable,
                    file=sys.stderr,
                )
        elif e.layer is not None:
            self(f"[{e.index + 1}/{e.total}] {Path(e.document).name}", e.layer, e.layers)
        elif self.documents is not None:
            self.documents.update(e.done - self.documents.n)
            if e.failed:
                self.documents.set_postfix_str(f"{e.failed} failed")

    def close_all(self) -> None:
        self.close()
        if self.documents is not None:
            self.documents.close()
            self.documents = None


#: A report prints every document's tables up to this many documents, and only the aggregate beyond.
PRINT_EACH = 10


def _have_tables() -> bool:
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _store_files(store: str | None) -> set[Path] | None:
    """What a corpus folder holds before a run (None: no folder)."""
    if not store or not Path(store).is_dir():
        return None
    return set(Path(store).rglob("*"))


def _remove_new(store: str | None, before: set[Path] | None) -> None:
    """Remove what this run added to the corpus folder (the error part of a one-document run)."""
    if not store or not Path(store).is_dir():
        return
    added = set(Path(store).rglob("*")) - (before or set())
    for path in sorted(added, key=lambda p: len(p.parts), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    if before is None:
        Path(store).rmdir()


# ---- commands ---------------------------------------------------------------


def _analyze(args) -> int:
    views = bool(args.out) and args.view
    analysis = replace(_analysis(args, check_tau(args.tau)), views=views)
    check_distinct([f for f in args.files if not glob.has_magic(f)])  # overlapping globs are read once
    documents = corpus_documents(args.files or [sample_path()])
    extra = ("documents.parquet", "corpus.json")
    patterns = VIEW_PATTERNS if views else ()
    inputs = [Path(d.path) for d in documents]
    check_outputs(args.out, args.json, REPORT_FILES + extra, inputs, force=True, patterns=patterns)
    if not (args.force or args.resume):  # --resume rebuilds the report files from the records it keeps
        check_outputs(args.out, args.json, REPORT_FILES + extra[:1], [], force=False, patterns=patterns)
    store = args.out
    if args.out and not _have_tables() and not args.resume:
        print("cascade-core: Parquet tables not written: pip install 'cascade-core[tables]'", file=sys.stderr)
        store = None
    before = _store_files(store)
    progress = _CorpusProgress(args.quiet or args.format == "json")
    try:
        result = analyze_corpus(
            documents,
            analysis,
            out=store,
            resume=args.resume,
            force=args.force,
            scheduler=args.scheduler,
            workers=args.workers,
            gpus=args.gpus,
            progress=progress.event,
        )
    finally:
        progress.close_all()
    if len(result.documents) == 1 and result.failed:  # one document: its error is the command's (one line, exit 2)
        _remove_new(store, before)
        raise result.failed[0].error
    doc = result.report()
    if doc is not None and args.format == "json":
        print(to_json(doc), end="")
    elif doc is not None:
        if len(doc["files"]) <= PRINT_EACH:
            for i, entry in enumerate(doc["files"]):
                label = "bundled sample: all-MiniLM-L6-v2 hidden states" if not args.files else None
                print(("\n" if i else "") + file_text(entry, doc["params"], doc["paper"], label=label))
        if len(doc["files"]) > 1:
            print(("\n" if len(doc["files"]) <= PRINT_EACH else "") + aggregate_text(doc))
        if result.resumed:
            print(f"\nresumed: {result.resumed} of {len(result.documents)} documents were already in {args.out}")
    if doc is not None or store:
        files = (lambda: result.report_files()) if store else (lambda: report_files(doc, result.views()))
        written = write_outputs(args.out, args.json if doc else None, to_json(doc) if doc else "", files, force=True)
        if written and args.format == "table":
            print("\nwrote " + ", ".join(written) + (f", {args.out}/records/" if store else ""))
    if result.failed:
        print(f"cascade-core: {len(result.failed)} of {len(result.documents)} documents failed:", file=sys.stderr)
        for failure in result.failed:
            reason = failure.reason
            if isinstance(failure.error, CascadeInputError):
                err = failure.error
                reason = flag_message(
                    CascadeInputError(err.reason, param=err.param, layer=err.layer, slice=err.slice, token=err.token)
                )
            print(f"  {failure.document.name}: {reason}", file=sys.stderr)
        return 1
    return 0


def parse_taus(text: str) -> list[float]:
    """``"0.5:0.95:0.05"`` (stop included) or ``"0.6,0.7,0.8"`` -> thresholds, checked (:func:`check_taus`).

    A range of more than :data:`~cascade_core._params.MAX_TAUS` thresholds is
    refused before it is built; a comma list must be increasing, each value once.
    """
    try:
        if ":" in text:
            start, stop, step = (float(part) for part in text.split(":"))
            if not (step > 0 and math.isfinite(start) and math.isfinite(stop)):
                raise ValueError
            values = None
        else:
            values = [float(part) for part in text.split(",")]
    except ValueError:
        raise CascadeInputError(f"tau must be START:STOP:STEP or a comma list, got {text!r}", param="tau") from None
    if values is None:
        count = int(round((stop - start) / step)) + 1
        if count > MAX_TAUS:
            raise CascadeInputError(
                f"tau {text!r} gives {count} thresholds; at most {MAX_TAUS} in one sweep", param="tau"
            )
        values = [round(start + i * step, 10) for i in range(max(count, 0))]
        values = [v for v in values if v <= stop + 1e-9]
    if not values:
        raise CascadeInputError(f"tau {text!r} gives no threshold", param="tau")
    return check_taus(values)


def _sweep(args) -> None:
    taus = parse_taus(args.tau)
    analysis = _analysis(args, taus[0])
    paths = _expand(args.files)
    check_outputs(args.out, args.json, SWEEP_FILES, paths, force=args.force)
    progress = _Progress(args.quiet or args.format == "json", lines=True)
    try:
        result = sweep(paths, taus, analysis, progress=progress)
    finally:
        progress.close()
    if args.format == "json":
        print(to_json(result), end="")
    else:
        print(sweep_text(result))
    written = write_outputs(args.out, args.json, to_json(result), lambda: sweep_files(result), force=args.force)
    if written and args.format == "table":
        print("\nwrote " + ", ".join(written))


def _compare(args) -> None:
    names = None if args.selectors is None else tuple(p.strip() for p in args.selectors.split(",") if p.strip())
    for name in names or ():
        selectors.make(name)  # an unknown name or parameter fails before any work
    options = CompareOptions(
        tau=check_tau(args.tau),
        selectors=names,
        budget=args.budget,
        key=args.key,
        layout=args.layout,
        lengths=args.lengths,
        mask=args.mask,
        layers=args.layers,
        center=args.center,
        backend=args.backend,
        tile=args.tile,
        attention=args.attention,
        qkv=AttentionOptions(
            select_on=args.select_on,
            causal=args.causal,
            proportional=args.proportional,
            qkv_keys=tuple(name.strip() for name in args.qkv_keys.split(",")),
        ),
    )
    paths = _expand(args.files)
    check_outputs(args.out, args.json, COMPARE_FILES, paths, force=args.force)
    progress = _Progress(args.quiet or args.format == "json")
    results = []
    try:
        for i, path in enumerate(paths):
            label = f"[{i + 1}/{len(paths)}] {path.name}"
            results.append(compare_file(path, options, progress=functools.partial(progress, label)))
    finally:
        progress.close()
    doc = compare_document(results)
    if args.format == "json":
        print(to_json(doc), end="")
    else:
        print(compare_text(doc, label="bundled sample: all-MiniLM-L6-v2 hidden states" if not args.files else None))
    written = write_outputs(args.out, args.json, to_json(doc), lambda: compare_files(doc), force=args.force)
    if written and args.format == "table":
        print("\nwrote " + ", ".join(written))


def _export(args) -> None:
    from ._export import export_hf

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


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cascade-core``; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "analyze":
            return _analyze(args)
        elif args.command == "sweep":
            _sweep(args)
        elif args.command == "compare":
            _compare(args)
        elif args.command == "info":
            print(describe(args.file, key=args.key, layout=args.layout, lengths=args.lengths, mask=args.mask))
        elif args.command == "export-hf":
            _export(args)
    except _UsageError as err:
        print(f"cascade-core: error: {err}", file=sys.stderr)
        return 2
    except CascadeInputError as err:
        print(f"cascade-core: error: {flag_message(err)}", file=sys.stderr)
        return 2
    except ImportError as err:  # a backend or an optional library that is not installed
        print(f"cascade-core: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader stopped reading (`| head`): stop quietly, as command-line tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        print(f"cascade-core: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cascade-core: interrupted; no report file was left half-written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
