"""Options are never silently ignored (issue 12): each is used, or refused with a one-line error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cascade_core as cc
from cascade_core import CascadeInputError
from cascade_core._analysis import Analysis, analyze_file, sweep
from cascade_core._params import MAX_TAUS, check_taus
from cascade_core.cli import main, parse_taus


def cli(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(capsys, *argv, match):
    status, out, err = cli(capsys, *argv)
    assert status == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("cascade-core: error: "), err
    assert match in err, err
    return err


def padded(tmp_path) -> Path:
    """A padded batch with both a lengths tensor and a mask that disagree (so which one was used shows)."""
    rng = np.random.default_rng(0)
    hidden = rng.standard_normal((3, 2, 10, 8)).astype(np.float32)
    mask = np.ones((2, 10), dtype=bool)
    mask[1, 4:] = False
    path = tmp_path / "padded.npz"
    np.savez(path, hidden_states=hidden, lengths=np.array([10, 10]), my_mask=mask)
    return path


# ---- tau in the library -----------------------------------------------------


@pytest.mark.parametrize("tau", ["0.3", b"0.3", True, False, np.True_])
def test_library_refuses_tau_that_is_not_a_number(tau):
    x = np.random.default_rng(0).standard_normal((2, 8, 4))
    for call in (lambda: cc.run(x, tau), lambda: cc.ada(x[0], tau), lambda: Analysis(tau=tau)):
        with pytest.raises(CascadeInputError, match="tau must be a number") as err:
            call()
        assert err.value.param == "tau"


def test_tau_is_checked_before_the_file_is_opened(tmp_path):
    missing = tmp_path / "does-not-exist.npy"
    with pytest.raises(CascadeInputError, match="tau must be in"):
        analyze_file(missing, Analysis(tau=1.5))
    with pytest.raises(CascadeInputError, match="tau must be increasing"):
        sweep([missing], [0.8, 0.7], Analysis(tau=0.7))


# ---- sweep thresholds --------------------------------------------------------


def test_sweep_taus_duplicate_unsorted_and_capped():
    assert check_taus([0.5, 0.6]) == [0.5, 0.6]
    with pytest.raises(CascadeInputError, match="0.6 is given twice"):
        check_taus([0.5, 0.6, 0.6])
    with pytest.raises(CascadeInputError, match="0.5 comes after 0.6"):
        check_taus([0.6, 0.5])
    with pytest.raises(CascadeInputError, match=f"at most {MAX_TAUS}"):
        check_taus(list(np.linspace(0.001, 1, MAX_TAUS + 1)))
    assert len(parse_taus("0.001:1:0.001")) == MAX_TAUS
    with pytest.raises(CascadeInputError, match="1000000 thresholds"):
        parse_taus("0.000001:1:0.000001")  # refused before a million-value list is built


def test_cli_sweep_taus(tmp_path, capsys):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).standard_normal((2, 8, 4)).astype(np.float32))
    one_line_error(capsys, "sweep", path, "--tau", "0.7,0.7", match="--tau 0.7 is given twice")
    one_line_error(capsys, "sweep", path, "--tau", "0.8,0.7", match="--tau must be increasing")
    one_line_error(capsys, "sweep", path, "--tau", "0.1:0.9:0.00001", match="at most 1000 in one sweep")


def test_sweep_progress_when_piped(tmp_path, capsys):
    """stderr is not a terminal under pytest: a sweep prints a plain line per step instead of a bar."""
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).standard_normal((2, 8, 4)).astype(np.float32))
    status, out, err = cli(capsys, "sweep", path, "--tau", "0.6,0.7")
    assert status == 0
    assert "tau 0.6 (1/2) [1/1] x.npy" in err and "tau 0.7 (2/2) [1/1] x.npy" in err
    status, out, err = cli(capsys, "sweep", path, "--tau", "0.6,0.7", "--quiet")
    assert status == 0 and err == ""


# ---- the same file twice -------------------------------------------------------


def test_same_file_twice(tmp_path, capsys):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).standard_normal((2, 8, 4)).astype(np.float32))
    twin = tmp_path / "." / "x.npy"
    for command in ("analyze", "sweep", "compare"):
        one_line_error(capsys, command, path, twin, match=f"{twin}: given twice")
    with pytest.raises(CascadeInputError, match="given twice"):
        sweep([path, path], [0.7], Analysis(tau=0.7))


# ---- options that act only with another ---------------------------------------


@pytest.mark.parametrize(
    "options", [["--select-on", "q"], ["--causal"], ["--no-proportional"], ["--qkv-keys", "a,b,c"]]
)
@pytest.mark.parametrize("command", ["analyze", "sweep"])
def test_attention_options_without_attention(tmp_path, capsys, command, options):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).standard_normal((2, 8, 4)).astype(np.float32))
    one_line_error(capsys, command, path, *options, match=f"{options[0]} acts only with --attention")


def test_mask_named_when_the_file_has_lengths(tmp_path, capsys):
    path = padded(tmp_path)
    data = cc.load(path, mask="my_mask")
    assert data.lengths is None and data.mask is not None and int(data.mask[1].sum()) == 4
    assert cc.load(path).lengths.tolist() == [10, 10]  # by default, the lengths tensor
    with pytest.raises(CascadeInputError, match="lengths and mask both named") as err:
        cc.load(path, lengths="lengths", mask="my_mask")
    assert err.value.param == "mask"
    status, out, _ = cli(capsys, "analyze", path, "--mask", "my_mask", "--format", "json")
    assert status == 0
    status, with_lengths, _ = cli(capsys, "analyze", path, "--format", "json")
    assert out != with_lengths  # the mask (4 valid tokens in sequence 1) was used, not the lengths


def test_info_uses_lengths_and_mask(tmp_path, capsys):
    path = padded(tmp_path)
    status, out, _ = cli(capsys, "info", path, "--mask", "my_mask")
    assert status == 0 and "attention_mask" in out and "lengths [10, 10]" not in out
    status, out, _ = cli(capsys, "info", path)
    assert status == 0 and "lengths [10, 10]" in out
    one_line_error(capsys, "info", path, "--mask", "nope", match="no tensor 'nope' for the lengths or mask")
    one_line_error(capsys, "info", path, "--lengths", "nope", match="no tensor 'nope'")
