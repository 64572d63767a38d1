"""The files of a report folder, checked before any work and written all or none.

Every output location (``--out DIR``, ``--json PATH``) is checked before the
run: a folder that cannot be created or written, a JSON path that is a folder
or lies in a missing or unwritable one is an error naming that path. At the
end every file is first written to a temporary file beside its target, then
all are renamed into place; if any step fails, the temporaries and the files
already renamed by this call are removed, and the error names the user's
path, never a temporary file. Files get the mode the user's umask gives.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .._errors import CascadeInputError
from .._io import file_mode, stage
from .document import layers_csv, sweep_csv, to_json
from .markdown import report_markdown

__all__ = [
    "REPORT_FILES",
    "SWEEP_FILES",
    "VIEW_PATTERNS",
    "report_files",
    "sweep_files",
    "check_outputs",
    "check_writable",
    "write_outputs",
    "write_all",
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
    """Refuse, before any work, to overwrite without `force`, to write over an input, or to write where one cannot.

    `patterns` (globs such as :data:`VIEW_PATTERNS`) name files whose exact names
    are known only after the run: any existing match counts as a file in the way.
    """
    if out_dir:
        from .plots import _pyplot

        _pyplot()  # a report folder holds plots: a missing matplotlib is found now, not after the run
    targets = [Path(json_path)] if json_path else []
    if json_path:
        if Path(json_path).is_dir():
            raise CascadeInputError("is a directory, not a file for the JSON report", path=str(json_path))
        check_writable(Path(json_path).parent, str(json_path))
    if out_dir:
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise CascadeInputError("exists and is not a directory", path=str(out_dir))
        check_writable(out, str(out_dir))
        targets += [out / name for name in names]
        if out.is_dir():
            targets += sorted(p for pattern in patterns for p in out.glob(pattern))
    resolved_inputs = {p.resolve() for p in inputs if p.exists()}
    for target in targets:
        if target.exists() and not force:
            raise CascadeInputError("exists; not overwritten (use force=True)", path=str(target), param="force")
        if target.resolve() in resolved_inputs:
            raise CascadeInputError("a report would overwrite an input file", path=str(target))


def check_writable(directory: Path, named: str) -> None:
    """Refuse a folder that cannot be written (or, when missing, created), before any work.

    Probes by creating (and removing) a temporary file in `directory`, or in
    its nearest existing ancestor when it does not exist yet, so the answer is
    right for read-only mounts and for root too.

    Parameters
    ----------
    directory : pathlib.Path
        Where files will be written (``Path("")`` is the current folder).
    named : str
        The path the user gave, for the message.

    Raises
    ------
    CascadeInputError
        Naming `named`: an ancestor that is a file, or a folder not writable.
    """
    probe = directory if str(directory) else Path(".")
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise CascadeInputError(f"cannot be created: {probe} is not a directory", path=named)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".cascade-core-probe.", dir=probe)
    except OSError as err:
        where = "" if probe == directory else f" ({probe})"
        raise CascadeInputError(f"cannot write here{where}: {err.strerror or err}", path=named) from None
    os.close(fd)
    os.unlink(tmp)


def write_outputs(
    out_dir: str | None,
    json_path: str | None,
    json_text: str,
    folder_files: Callable[[], dict[str, str | bytes]],
    *,
    force: bool,
) -> list[str]:
    """Write ``json_path`` and the report folder, all or none; every file is made before the first is written.

    Returns
    -------
    list of str
        The paths written, JSON first.

    Raises
    ------
    CascadeInputError
        A file in the way without `force`, or a file that cannot be written
        (naming it); nothing of this call is then left on disk.
    """
    files = folder_files() if out_dir else {}
    targets: list[tuple[Path, str | bytes]] = [(Path(json_path), json_text)] if json_path else []
    targets += [(Path(out_dir) / name, data) for name, data in files.items()]
    if not force:  # every target is checked before the first is written
        for target, _ in targets:
            if target.exists():
                raise CascadeInputError("exists; not overwritten (use force=True)", path=str(target), param="force")
    write_all(targets)
    return [str(target) for target, _ in targets]


def write_all(targets: list[tuple[Path, str | bytes]]) -> None:
    """Write every ``(path, data)`` through a temporary file beside it, then rename all; all or none.

    Parameters
    ----------
    targets : list of (pathlib.Path, str or bytes)
        The files (text is written as UTF-8). Missing folders are created
        (and removed again if the writing fails).

    Raises
    ------
    CascadeInputError
        Naming the target that could not be written.
    """
    made: list[Path] = []  # folders this call created, outermost first
    staged: list[tuple[str, Path]] = []
    renamed: list[Path] = []
    mode = file_mode()
    current = None
    try:
        for target, data in targets:
            current = target
            missing = [p for p in [target.parent, *target.parent.parents] if str(p) and not p.exists()]
            for folder in reversed(missing):
                folder.mkdir()
                made.append(folder)
            staged.append((stage(target, data, mode), target))
        for tmp, target in staged:
            current = target
            os.replace(tmp, target)
            renamed.append(target)
    except BaseException as err:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        for target in renamed:
            target.unlink(missing_ok=True)
        for folder in reversed(made):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if isinstance(err, OSError):
            reason = err.strerror or str(err)
            raise CascadeInputError(f"cannot write: {reason}; no report file written", path=str(current)) from None
        raise
