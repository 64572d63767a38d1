"""The files of a report folder, checked before any work and written each through a rename."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .._errors import CascadeInputError
from .._io import write_atomic
from .document import layers_csv, sweep_csv, to_json
from .markdown import report_markdown

__all__ = [
    "REPORT_FILES",
    "SWEEP_FILES",
    "VIEW_PATTERNS",
    "report_files",
    "sweep_files",
    "check_outputs",
    "write_outputs",
]

#: What a report folder holds besides the plots (``analyze --out DIR``).
REPORT_FILES = ("report.json", "layers.csv", "report.md")
#: The token views of a report folder, one page and one heatmap per sequence (:func:`.view.view_name`).
VIEW_PATTERNS = ("view*.html", "tokens*.png")
#: What a sweep folder holds.
SWEEP_FILES = ("sweep.json", "sweep.csv", "tradeoff.png")


def report_files(doc: dict, views: list | None = None) -> dict[str, str | bytes]:
    """Every file of a report folder, by name: JSON, CSV, Markdown, the PNG plots and the token views.

    `views` holds, for each file of `doc`, its :class:`~cascade_core.TokenView` list
    (:attr:`~cascade_core.FileReport.views`): then every sequence gets a page and a heatmap.
    """
    from .plots import report_plots
    from .view import view_files

    images = report_plots(doc)
    pages, entries = view_files(doc, views) if views is not None else ({}, [])
    texts = {
        "report.json": to_json(doc),
        "layers.csv": layers_csv(doc),
        "report.md": report_markdown(doc, list(images), views=entries),
    }
    return {**texts, **images, **pages}


def sweep_files(sweep: dict) -> dict[str, str | bytes]:
    """Every file of a sweep folder, by name."""
    from .plots import sweep_plots

    return {"sweep.json": to_json(sweep), "sweep.csv": sweep_csv(sweep), **sweep_plots(sweep)}


def check_outputs(
    out_dir: str | None,
    json_path: str | None,
    names: tuple[str, ...],
    inputs: list[Path],
    *,
    force: bool,
    patterns: tuple[str, ...] = (),
) -> None:
    """Refuse, before any work, to overwrite files without `force` or to write over an input.

    `patterns` (globs such as :data:`VIEW_PATTERNS`) name files whose exact names
    are known only after the run: any existing match counts as a file in the way.
    """
    targets = [Path(json_path)] if json_path else []
    if out_dir:
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise CascadeInputError("exists and is not a directory", path=str(out_dir))
        targets += [out / name for name in names]
        if out.is_dir():
            targets += sorted(p for pattern in patterns for p in out.glob(pattern))
    resolved_inputs = {p.resolve() for p in inputs if p.exists()}
    for target in targets:
        if target.exists() and not force:
            raise CascadeInputError("exists; not overwritten (use force=True)", path=str(target), param="force")
        if target.resolve() in resolved_inputs:
            raise CascadeInputError("a report would overwrite an input file", path=str(target))


def write_outputs(
    out_dir: str | None,
    json_path: str | None,
    json_text: str,
    folder_files: Callable[[], dict[str, str | bytes]],
    *,
    force: bool,
) -> list[str]:
    """Write ``json_path`` and the report folder; every file is made before the first is written."""
    files = folder_files() if out_dir else {}
    if not force:  # every target is checked before the first is written
        for target in [*([Path(json_path)] if json_path else []), *(Path(out_dir) / name for name in files)]:
            if target.exists():
                raise CascadeInputError("exists; not overwritten (use force=True)", path=str(target), param="force")
    written = []
    if json_path:
        write_atomic(json_path, json_text, force=force)
        written.append(json_path)
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            write_atomic(Path(out_dir) / name, data, force=force)
            written.append(str(Path(out_dir) / name))
    return written
