"""Every error of SPEC §9, through the library and through the command line."""

import subprocess
import sys

import numpy as np
import pytest

import cascade_core as cc
from cascade_core import CascadeInputError
from cascade_core.cli import main


def good(n_layers=3, n=12, d=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n_layers, n, d)).astype(np.float32)


# ---- library -------------------------------------------------------------


def test_error_is_a_value_error():
    assert issubclass(CascadeInputError, ValueError)


@pytest.mark.parametrize("tau", [0, -0.1, 1.0000001, 2, float("nan"), float("inf"), "high", None])
def test_tau_outside_range(tau):
    with pytest.raises(CascadeInputError, match=r"tau must be"):
        cc.run(good(), tau)
    with pytest.raises(CascadeInputError, match=r"tau must be"):
        cc.ada(good()[0], tau)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_names_layer_slice_token(bad):
    x = good().reshape(3, 2, 6, 4).copy()  # (L, B, T, d)
    x[2, 1, 4, 3] = bad
    with pytest.raises(CascadeInputError) as err:
        cc.run(x, 0.5)
    assert (err.value.layer, err.value.slice, err.value.token) == (2, (1,), 4)
    assert "layer 2, slice (1), token 4: non-finite" in str(err.value)


def test_non_finite_in_padding_is_ignored_but_not_in_valid_tokens():
    x = good().reshape(3, 2, 6, 4).copy()
    x[1, 0, 5, :] = np.nan  # padding of sequence 0 (length 5)
    cc.run(x, 0.5, lengths=[5, 6])
    mask = np.ones((2, 6), dtype=bool)
    mask[0, 5] = False
    cc.run(x, 0.5, mask=mask)
    x[1, 0, 2, 0] = np.nan
    with pytest.raises(CascadeInputError, match="layer 1, slice \\(0\\), token 2"):
        cc.run(x, 0.5, mask=mask)


def test_non_finite_token_is_reported_in_input_positions_under_a_mask():
    x = good().reshape(3, 2, 6, 4).copy()
    mask = np.array([[False, True, True, True, True, True]] * 2)
    x[0, 1, 3, 0] = np.inf
    with pytest.raises(CascadeInputError) as err:
        cc.run(x, 0.5, mask=mask)
    assert err.value.token == 3


@pytest.mark.parametrize(
    "shape,what", [((3, 0, 4), "T = 0"), ((3, 5, 0), "d = 0"), ((0, 5), "T = 0"), ((5, 0), "d = 0")]
)
def test_empty_dimensions(shape, what):
    with pytest.raises(CascadeInputError, match=what.replace(" ", " ")):
        cc.run(np.zeros(shape, dtype=np.float32), 0.5)


def test_no_layers():
    with pytest.raises(CascadeInputError, match="no layers"):
        cc.run([], 0.5)


def test_zero_length_sequence():
    with pytest.raises(CascadeInputError, match="T = 0"):
        cc.run(good().reshape(3, 2, 6, 4), 0.5, lengths=[0, 6])
    with pytest.raises(CascadeInputError, match="T = 0"):
        cc.run(good().reshape(3, 2, 6, 4), 0.5, mask=np.zeros((2, 6), dtype=bool))


@pytest.mark.parametrize("second", [(13, 4), (12, 5)])
def test_layers_of_different_shape(second):
    layers = [good()[0], np.ones(second, dtype=np.float32)]
    with pytest.raises(CascadeInputError, match=r"layer 1: shape .* differs from layer 0"):
        cc.run(layers, 0.5)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_, np.complex64, np.complex128])
def test_integer_and_complex_dtypes(dtype):
    x = np.ones((2, 4, 3), dtype=dtype)
    with pytest.raises(CascadeInputError, match="floating point"):
        cc.run(x, 0.5)
    with pytest.raises(CascadeInputError, match="floating point"):
        cc.ada(x[0], 0.5)


@pytest.mark.parametrize("shape", [(5,), (1, 1, 1, 1, 2, 3)])
def test_wrong_number_of_dimensions(shape):
    with pytest.raises(CascadeInputError, match="dimensions"):
        cc.run(np.ones(shape, dtype=np.float32), 0.5)


def test_bad_options():
    with pytest.raises(CascadeInputError, match="tile"):
        cc.run(good(), 0.5, tile=0)
    with pytest.raises(CascadeInputError, match="recompute_every"):
        cc.run(good(), 0.5, recompute_every=0)
    with pytest.raises(CascadeInputError, match="lengths has 1 entries"):
        cc.run(good().reshape(3, 2, 6, 4), 0.5, lengths=[3])
    with pytest.raises(CascadeInputError, match="batch axis"):
        cc.run(good(), 0.5, lengths=[3])
    with pytest.raises(CascadeInputError, match="outside"):
        cc.cascade(np.array([0, 99]), good()[0], 0.5)
    with pytest.raises(CascadeInputError, match="twice"):
        cc.cascade(np.array([1, 1]), good()[0], 0.5)


def test_unknown_backend():
    with pytest.raises(CascadeInputError, match="unknown backend 'fast'"):
        cc.run(good(), 0.5, backend="fast")


# ---- command line --------------------------------------------------------


def cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(capsys, *argv, match):
    status, out, err = cli(capsys, *argv)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("cascade-core: error: "), err
    assert match in err, err
    assert "Traceback" not in err
    return err


def save(tmp_path, name, array):
    path = tmp_path / name
    np.save(path, array)
    return str(path)


def test_cli_non_finite(tmp_path, capsys):
    x = good()
    x[1, 7, 2] = np.nan
    path = save(tmp_path, "nan.npy", x)
    one_line_error(capsys, "analyze", path, match=f"{path}, layer 1, token 7: non-finite")


def test_cli_tau(tmp_path, capsys):
    path = save(tmp_path, "x.npy", good())
    one_line_error(capsys, "analyze", path, "--tau", "1.5", match="tau must be in (0, 1]")
    one_line_error(capsys, "analyze", path, "--tau", "0", match="tau must be in (0, 1]")
    one_line_error(capsys, "analyze", path, "--tau", "abc", match="invalid float value")


def test_cli_shapes_and_dtypes(tmp_path, capsys):
    one_line_error(capsys, "analyze", save(tmp_path, "i.npy", np.ones((2, 3, 4), np.int64)), match="floating")
    one_line_error(capsys, "analyze", save(tmp_path, "c.npy", np.ones((2, 3, 4), np.complex64)), match="floating")
    one_line_error(capsys, "analyze", save(tmp_path, "t.npy", np.ones((2, 0, 4), np.float32)), match="T = 0")
    one_line_error(capsys, "analyze", save(tmp_path, "d.npy", np.ones((2, 3, 0), np.float32)), match="d = 0")
    one_line_error(
        capsys, "analyze", save(tmp_path, "v.npy", np.ones(7, np.float32)), match="cannot infer a layout for 1 axes"
    )


def test_cli_lengths_that_do_not_fit(tmp_path, capsys):
    # One .npy/.npz array cannot hold layers of different shapes; per-layer files come with issue 3.
    path = tmp_path / "flat.npz"
    np.savez(path, hidden_states=good(), lengths=np.array([13]))
    one_line_error(capsys, "analyze", str(path), match="lengths and mask need a batch axis")
    path = tmp_path / "long.npz"
    np.savez(path, hidden_states=good().reshape(3, 2, 6, 4), lengths=np.array([6, 7]))
    one_line_error(capsys, "analyze", str(path), match="slice (1): length 7 outside 1 .. 6")


def test_cli_missing_unreadable_corrupt(tmp_path, capsys):
    one_line_error(capsys, "analyze", str(tmp_path / "nope.npy"), match="nope.npy: no such file")
    one_line_error(capsys, "analyze", str(tmp_path), match="empty directory")
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    one_line_error(capsys, "analyze", str(empty), match="empty file")
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"hello world")
    one_line_error(capsys, "analyze", str(junk), match="not a valid .npy file")
    full = tmp_path / "cut.npy"
    np.save(full, good())
    full.write_bytes(full.read_bytes()[:200])
    one_line_error(capsys, "analyze", str(full), match="needs 704 bytes, the file has 200 (truncated?)")
    npz = tmp_path / "cut.npz"
    np.savez(npz, hidden_states=good())
    npz.write_bytes(npz.read_bytes()[:100])
    one_line_error(capsys, "analyze", str(npz), match="corrupt or truncated zip archive")


def test_cli_unreadable_permissions(tmp_path, capsys):
    path = save(tmp_path, "secret.npy", good())
    import os

    os.chmod(path, 0)
    if os.access(path, os.R_OK):  # root reads anything: nothing to test here
        os.chmod(path, 0o644)
        return
    one_line_error(capsys, "analyze", path, match="cannot read")


def test_cli_keys(tmp_path, capsys):
    path = tmp_path / "two.npz"
    np.savez(path, a=good(), b=good())
    one_line_error(capsys, "analyze", str(path), match="pick one with --key")
    one_line_error(capsys, "analyze", str(path), "--key", "c", match="no tensor 'c'; the file holds: a, b")
    status, out, _ = cli(capsys, "analyze", str(path), "--key", "b", "--no-reference")
    assert status == 0 and "Gram savings" in out


def test_cli_unknown_option_and_backend(capsys):
    one_line_error(capsys, "analyze", "--bogus", match="unrecognized arguments")
    one_line_error(capsys, "analyze", "--backend", "fast", match="unknown backend 'fast'")


def test_cli_real_process_prints_one_line_and_exits_2(tmp_path):
    x = good()
    x[0, 3, 1] = np.inf
    path = save(tmp_path, "inf.npy", x)
    proc = subprocess.run(
        [sys.executable, "-m", "cascade_core.cli", "analyze", path], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr == f"cascade-core: error: {path}, layer 0, token 3: non-finite activation (NaN or Inf)\n"
    assert proc.stdout == ""
