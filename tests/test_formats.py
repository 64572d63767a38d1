"""Activations on disk: every format, layouts, padding, directories, ``info``, and bad files."""

import json
import subprocess
import sys

import numpy as np
import pytest

import cascade_core as cc
from cascade_core import CascadeInputError, describe, load, synthetic
from cascade_core.cli import main

TAU = 0.5
L, B, T, D = 3, 2, 40, 16


@pytest.fixture(scope="module")
def acts():
    x = synthetic.stacked(L, B * T, D, rep_ratio=0.4, seed=11).reshape(L, B, T, D)
    lengths = np.array([T, T - 9])
    return x, lengths


@pytest.fixture(scope="module")
def expected(acts):
    x, lengths = acts
    result = cc.run(x, TAU, lengths=lengths)
    return [s.tolist() for key in sorted(result.sets) for s in result.sets[key]]


def sets_of(data):
    result = cc.run(data.layers, TAU, lengths=data.lengths, mask=data.mask)
    return [s.tolist() for key in sorted(result.sets) for s in result.sets[key]]


def write(fmt, path, tensors, metadata=None):
    """Write `tensors` (name -> array) in format `fmt` with the format's own library."""
    if fmt == "npz":
        np.savez(path, **tensors)
    elif fmt == "npz-compressed":
        np.savez_compressed(path, **tensors)
    elif fmt == "safetensors":
        from safetensors.numpy import save_file

        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path), metadata=metadata)
    elif fmt == "hdf5":
        h5py = pytest.importorskip("h5py")
        with h5py.File(path, "w") as handle:
            for name, value in tensors.items():
                handle[name] = value
    elif fmt == "torch":
        torch = pytest.importorskip("torch")
        torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()}, path)
    return path


SUFFIX = {"npz": ".npz", "npz-compressed": ".npz", "safetensors": ".safetensors", "hdf5": ".h5", "torch": ".pt"}


@pytest.mark.parametrize("fmt", list(SUFFIX))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_every_format_round_trips(tmp_path, acts, expected, fmt, dtype):
    x, lengths = acts
    path = write(fmt, tmp_path / f"acts{SUFFIX[fmt]}", {"hidden_states": x.astype(dtype), "lengths": lengths})
    data = load(path)
    assert data.format == ("npz" if fmt.startswith("npz") else fmt)
    assert data.layers.shape == (L, B, T, D) and data.layers.layout == "LBTD"
    assert np.array_equal(data.layers[1], x[1].astype(dtype))
    assert data.lengths.tolist() == lengths.tolist()
    if dtype != np.float16:
        assert sets_of(data) == expected


def test_npy_round_trips(tmp_path, acts):
    x, _ = acts
    np.save(tmp_path / "x.npy", x)
    data = load(tmp_path / "x.npy")
    assert data.format == "npy" and data.layers.key == "x"
    assert all(np.array_equal(a, b) for a, b in zip(data.layers, x, strict=True))


def test_bfloat16_safetensors_without_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    values = torch.randn(2, 5, 8).to(torch.bfloat16)
    path = tmp_path / "bf16.safetensors"
    save_file({"hidden_states": values}, str(path))
    script = (
        "import sys; sys.modules['torch'] = None\n"  # any import of torch now fails
        "import numpy as np\n"
        "from cascade_core import load\n"
        f"data = load({str(path)!r})\n"
        "print(data.layers.dtype, np.stack(list(data.layers)).astype(np.float64).tolist())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    dtype, values_read = out.split(" ", 1)
    assert dtype == "bfloat16"
    assert json.loads(values_read) == values.float().double().tolist()


def test_bfloat16_in_pytorch_files(tmp_path):
    torch = pytest.importorskip("torch")
    values = torch.randn(2, 6, 4).to(torch.bfloat16)
    torch.save({"hidden_states": values}, tmp_path / "bf16.pt")
    data = load(tmp_path / "bf16.pt")
    assert np.array_equal(data.layers[1], values[1].float().numpy())


@pytest.mark.parametrize("layout", ["TDL", "BLTD", "TBDL"])
def test_layouts_are_transposed_per_layer(tmp_path, acts, layout):
    x, _ = acts
    stored = x[:, 0] if "B" not in layout else x  # canonical (L, T, D) or (L, B, T, D)
    canonical = "".join(c for c in "LBHTD" if c in layout)
    moved = np.ascontiguousarray(np.transpose(stored, [canonical.index(c) for c in layout]))
    np.save(tmp_path / "moved.npy", moved)
    data = load(tmp_path / "moved.npy", layout=layout)
    assert data.layers.shape == stored.shape
    for layer in range(L):
        assert np.array_equal(data.layers[layer], stored[layer])


@pytest.mark.parametrize("layout", ["LLTD", "LXTD", "LTD", "LBTDD", "LHTD", "BTLH"])
def test_impossible_layouts(tmp_path, acts, layout):
    np.save(tmp_path / "x.npy", acts[0])
    with pytest.raises(CascadeInputError, match="impossible layout"):
        load(tmp_path / "x.npy", layout=layout)


def test_metadata_layout_is_used(tmp_path, acts):
    x, _ = acts
    moved = np.ascontiguousarray(np.transpose(x, (1, 0, 2, 3)))  # BLTD
    write(
        "safetensors", tmp_path / "m.safetensors", {"acts": moved}, metadata={"layouts": json.dumps({"acts": "BLTD"})}
    )
    data = load(tmp_path / "m.safetensors")
    assert data.layers.layout == "BLTD" and np.array_equal(data.layers[2], x[2])


def test_mask_tensor_and_per_head(tmp_path):
    x = synthetic.stacked(2, 2 * 3 * 20, 8, seed=12).reshape(2, 2, 3, 20, 8)
    mask = np.ones((2, 20), dtype=np.int8)
    mask[0, :4] = 0  # left padding
    write("npz", tmp_path / "heads.npz", {"k": x, "attention_mask": mask})
    data = load(tmp_path / "heads.npz")
    assert data.layers.layer_layout == "BHTD" and data.mask is not None
    result = cc.run(data.layers, TAU, mask=data.mask)
    assert sorted(result.sets) == [(b, h) for b in range(2) for h in range(3)]
    assert all(int(s.min()) >= 4 for s in result.sets[(0, 1)])


def test_directory_of_per_layer_files(tmp_path, acts, expected):
    x, lengths = acts
    folder = tmp_path / "layers"
    folder.mkdir()
    for layer in range(L):
        np.save(folder / f"layer_{layer:03d}.npy", x[layer])
    np.save(folder / "lengths.npy", lengths)
    (folder / "README.txt").write_text("notes next to the data are skipped")
    data = load(folder)
    assert data.format == "directory" and data.layers.key == "layer_{l}"
    assert data.layers.shape == (L, B, T, D)
    assert sets_of(data) == expected


def test_safetensors_shards_with_per_layer_names(tmp_path, acts, expected):
    x, lengths = acts
    folder = tmp_path / "shards"
    folder.mkdir()
    first = {f"blocks.{i}.hook_resid_pre": x[i] for i in range(2)}
    second = {f"blocks.{i}.hook_resid_pre": x[i] for i in range(2, L)}
    first.update({"blocks.0.attn.W_Q": np.ones((4, 4), np.float32), "lengths": lengths})
    write("safetensors", folder / "model-00001-of-00002.safetensors", first)
    write("safetensors", folder / "model-00002-of-00002.safetensors", second)
    data = load(folder)
    assert data.layers.key == "blocks.{l}.hook_resid_pre"
    assert sets_of(data) == expected
    explicit = load(folder, key="blocks.{l}.hook_resid_pre")
    assert len(explicit.layers) == L


def test_several_patterns_need_a_key(tmp_path, acts):
    x, _ = acts
    tensors = {f"model.layers.{i}": x[i] for i in range(L)}
    tensors.update({f"model.mlp.{i}": x[i] for i in range(L)})
    write("safetensors", tmp_path / "two.safetensors", tensors)
    with pytest.raises(CascadeInputError, match="several per-layer patterns fit"):
        load(tmp_path / "two.safetensors")
    assert len(load(tmp_path / "two.safetensors", key="model.layers.{l}").layers) == L


def test_info_reads_no_activation_data(tmp_path, acts, monkeypatch, capsys):
    x, lengths = acts
    path = write("safetensors", tmp_path / "a.safetensors", {"hidden_states": x, "lengths": lengths}, {"model": "m"})
    from cascade_core import _readers as readers

    real = readers.TensorRef.read

    def guarded(self, *args, **kwargs):
        assert self.name != "hidden_states", "info read the activations"
        return real(self, *args, **kwargs)

    monkeypatch.setattr(readers.TensorRef, "read", guarded)
    text = describe(path)
    assert "hidden_states  float32   (3, 2, 40, 16)" in text
    assert "layout LBTD -> 3 layers of BTD (2, 40, 16), float32, lengths [40, 31]" in text
    assert "model: m" in text
    assert main(["info", str(path)]) == 0
    assert "hidden_states" in capsys.readouterr().out


# ---- bad inputs ----------------------------------------------------------


def one_line(capsys, *argv):
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("fmt", list(SUFFIX))
def test_truncated_files(tmp_path, acts, capsys, fmt):
    path = write(fmt, tmp_path / f"t{SUFFIX[fmt]}", {"hidden_states": acts[0]})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    report = tmp_path / "report.json"
    err = one_line(capsys, "analyze", str(path), "--json", str(report))
    assert str(path) in err
    assert not report.exists()


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".safetensors", ".h5", ".pt"])
def test_empty_files(tmp_path, capsys, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    assert "empty file" in one_line(capsys, "analyze", str(path))


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".safetensors", ".h5"])
def test_garbage_files(tmp_path, capsys, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(b"this is not a tensor file at all")
    assert "not a valid" in one_line(capsys, "analyze", str(path))


def test_corrupt_safetensors_header(tmp_path, capsys):
    path = tmp_path / "bad.safetensors"
    path.write_bytes((20).to_bytes(8, "little") + b'{"x": {"dtype": "F3')
    assert "corrupt" in one_line(capsys, "analyze", str(path))


def test_pickle_with_code_is_refused(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    torch.save({"hidden_states": torch.zeros(2, 3, 4), "extra": np.dtype}, tmp_path / "evil.pt")
    assert "weights_only=True" in one_line(capsys, "analyze", str(tmp_path / "evil.pt"))


def test_wrong_key_and_non_float(tmp_path, acts, capsys):
    path = write("safetensors", tmp_path / "k.safetensors", {"a": acts[0], "ids": np.ones((2, 3), np.int32)})
    assert "no tensor 'b'; the file holds: a, ids" in one_line(capsys, "analyze", str(path), "--key", "b")
    assert "is int32; activations must be floating point" in one_line(capsys, "analyze", str(path), "--key", "ids")


def test_layers_of_different_shapes(tmp_path, capsys):
    folder = tmp_path / "ragged"
    folder.mkdir()
    np.save(folder / "layer_0.npy", np.ones((10, 4), np.float32))
    np.save(folder / "layer_1.npy", np.ones((11, 4), np.float32))
    err = one_line(capsys, "analyze", str(folder))
    assert "layer 1" in err and "every layer needs the same shape" in err


def test_nan_in_a_file_names_layer_slice_and_token(tmp_path, acts, capsys):
    x = acts[0].copy()
    x[2, 1, 7, 3] = np.inf
    path = write("safetensors", tmp_path / "inf.safetensors", {"hidden_states": x})
    err = one_line(capsys, "analyze", str(path))
    assert f"{path}, layer 2, slice (1), token 7: non-finite" in err


def test_non_consecutive_pattern(tmp_path, acts):
    write("safetensors", tmp_path / "gap.safetensors", {"h.0": acts[0][0], "h.2": acts[0][2]})
    with pytest.raises(CascadeInputError, match="not consecutive"):
        load(tmp_path / "gap.safetensors", key="h.{l}")
