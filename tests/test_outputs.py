"""Output locations are checked before any work, and a command writes all its outputs or none (issue 12)."""

from __future__ import annotations

import errno
import os
import stat
import tempfile

import pytest

from cascade_core import _io
from cascade_core.cli import main
from cascade_core.report import files as report_files


def cli(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def no_run(monkeypatch):
    """Fail the test if any activations are analysed (the error must come first)."""
    import cascade_core._compare as compare_module
    import cascade_core._corpus as corpus_module
    import cascade_core.cli as cli_module

    def ran(*args, **kwargs):
        raise AssertionError("the analysis ran before the output location was checked")

    monkeypatch.setattr(corpus_module, "analyze_activations", ran)
    monkeypatch.setattr(cli_module, "sweep", ran)
    monkeypatch.setattr(cli_module, "compare_file", ran)
    return compare_module


@pytest.mark.parametrize("command", ["analyze", "sweep", "compare"])
def test_out_that_cannot_be_created_is_found_before_the_run(tmp_path, capsys, no_run, command):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    out = blocker / "report"
    status, _, err = cli(capsys, command, "--out", out, "--json", tmp_path / "a.json")
    assert status == 2
    assert err == f"cascade-core: error: {out}: cannot be created: {blocker} is not a directory\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # a.json not written


def test_unwritable_folders_are_found_before_the_run(tmp_path, capsys, no_run, monkeypatch):
    """A folder the process may not write to (simulated: the tests may run as root, which may write anywhere)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and os.path.abspath(dir).startswith(str(locked)):
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(report_files.tempfile, "mkstemp", mkstemp)
    status, _, err = cli(capsys, "analyze", "--json", tmp_path / "a.json", "--out", locked / "new" / "r")
    assert status == 2
    assert err == f"cascade-core: error: {locked / 'new' / 'r'}: cannot write here ({locked}): Permission denied\n"
    status, _, err = cli(capsys, "sweep", "--json", locked / "a.json")
    assert err == f"cascade-core: error: {locked / 'a.json'}: cannot write here: Permission denied\n"
    assert not (tmp_path / "a.json").exists()


def test_json_path_that_is_a_folder(tmp_path, capsys, no_run):
    status, _, err = cli(capsys, "analyze", "--json", tmp_path)
    assert status == 2
    assert err == f"cascade-core: error: {tmp_path}: is a directory, not a file for the JSON report\n"


def test_json_path_in_a_missing_folder_is_created(tmp_path, capsys):
    status, _, _ = cli(capsys, "sweep", "--tau", "0.7", "--json", tmp_path / "no" / "a.json")
    assert status == 0 and (tmp_path / "no" / "a.json").read_text().startswith("{")


def test_a_failure_while_writing_leaves_nothing_and_names_the_users_path(tmp_path, capsys, monkeypatch):
    real = os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the second file: a.json is in place already
            raise OSError(errno.ENOSPC, "No space left on device", str(src))
        return real(src, dst)

    monkeypatch.setattr(report_files.os, "replace", replace)
    out = tmp_path / "r"
    status, _, err = cli(capsys, "sweep", "--tau", "0.6,0.7", "--quiet", "--json", tmp_path / "a.json", "--out", out)
    assert status == 2
    assert (
        err
        == f"cascade-core: error: {out / 'sweep.json'}: cannot write: No space left on device; no report file written\n"
    )
    assert ".tmp" not in err
    assert list(tmp_path.iterdir()) == []  # neither a.json, nor the folder, nor a temporary file


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_files_get_the_mode_the_umask_gives(tmp_path, capsys, umask):
    old = os.umask(umask)
    try:
        status, _, _ = cli(capsys, "sweep", "--tau", "0.7", "--json", tmp_path / "a.json", "--out", tmp_path / "r")
        _io.write_atomic(tmp_path / "b.txt", "b")
    finally:
        os.umask(old)
    assert status == 0
    written = [tmp_path / "a.json", tmp_path / "b.txt", *(tmp_path / "r").iterdir()]
    assert len(written) == 5
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {oct(0o666 & ~umask)}


def test_file_mode_reads_the_umask_without_changing_it():
    old = os.umask(0o027)
    try:
        assert _io.file_mode() == 0o640
        assert os.umask(0o027) == 0o027
    finally:
        os.umask(old)


def test_out_without_matplotlib_is_refused_before_the_run(tmp_path, monkeypatch, capsys):
    """`--out` on the README's plain install (no [plot] extra): the error comes before any work, nothing is made."""
    import sys

    from cascade_core.cli import main

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    monkeypatch.setattr("cascade_core.cli.analyze_corpus", lambda *a, **k: pytest.fail("ran before refusing"))
    assert main(["analyze", "--out", str(tmp_path / "rep")]) == 2
    assert "plots need matplotlib: pip install 'cascade-core[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "rep").exists()
