"""Attention quality over layers: the library orchestration and ``analyze --attention``."""

import numpy as np
import pytest

import cascade_core as cc
import naive
from cascade_core import attention_layers, full_attention, rr_attention, synthetic
from cascade_core._quality import spans_of
from cascade_core.cli import main

L, B, H, H_KV, T, DH = 3, 2, 4, 2, 24, 8


@pytest.fixture(scope="module")
def model_run():
    """Synthetic hidden states (L+1 layers) and q, k, v (L layers, grouped-query heads)."""
    rng = np.random.default_rng(0)
    hidden = synthetic.stacked(L + 1, B * T, 16, rep_ratio=0.4, seed=1).reshape(L + 1, B, T, 16)
    q = rng.standard_normal((L, B, H, T, DH))
    k = rng.standard_normal((L, B, H_KV, T, DH))
    v = rng.standard_normal((L, B, H_KV, T, DH))
    return hidden, q, k, v


def test_layers_line_up_and_match_a_direct_computation(model_run):
    hidden, q, k, v = model_run
    lengths = [T, T - 5]
    result = cc.run(hidden, 0.5, lengths=lengths, assign=True)
    records, overall = attention_layers(q, k, v, result, lengths=lengths, causal=True)
    assert [rec.layer for rec in records] == list(range(L))
    # Layer 1, sequence 1, query head 3 (key/value head 1), by hand:
    n = lengths[1]
    reps = result.sets[(1,)][1]
    assignment = result.assignments[(1,)][1]
    assert assignment.shape == (n,) and set(assignment.tolist()) == set(reps.tolist())
    got = rr_attention(q[1, 1, 3, :n], k[1, 1, 1, :n], v[1, 1, 1, :n], reps, assignment, causal=True)
    expected = naive.rr_attention(q[1, 1, 3, :n], k[1, 1, 1, :n], v[1, 1, 1, :n], reps, assignment, causal=True)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    rec = records[1]
    assert rec.entries_full == H * (T * T + n * n)
    r0, r1 = result.sets[(0,)][1].shape[0], reps.shape[0]
    assert rec.entries_rr == H * (r0 * r0 + r1 * r1) and rec.entries_tr == H * (T * r0 + n * r1)
    assert 0 < rec.rr_error < 2 and -1 <= rec.rr_cosine <= 1 and rec.rr_error_ada is not None
    assert set(overall) == {"cascade", "ada"}


def test_error_falls_to_zero_when_every_token_is_kept(model_run):
    hidden, q, k, v = model_run
    result = cc.run(hidden, 1.0, assign=True)  # tau = 1: r = T
    records, _ = attention_layers(q, k, v, result)
    for rec in records:
        assert rec.rr_error < 1e-12 and rec.tr_error < 1e-12 and rec.rr_cosine == pytest.approx(1.0)


@pytest.mark.parametrize("select_on,heads", [("k", H_KV), ("q", H)])
def test_selection_per_head(model_run, select_on, heads):
    _, q, k, v = model_run
    source = {"k": k, "q": q}[select_on]
    result = cc.run(source, 0.3, assign=True)
    assert sorted(result.sets) == [(b, h) for b in range(B) for h in range(heads)]
    records, _ = attention_layers(q, k, v, result, select_on=select_on)
    assert len(records) == L


def test_left_padding_spans():
    mask = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 0]])
    assert spans_of(2, 5, mask=mask) == [(2, 5), (0, 4)]
    with pytest.raises(cc.CascadeInputError, match="contiguous"):
        spans_of(1, 5, mask=np.array([[1, 0, 1, 1, 1]]))


def test_full_attention_of_a_long_sequence_in_tiles():
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((3000, 16)).astype(np.float32) for _ in range(3))
    out = full_attention(q, k, v, causal=True, tile=256)
    expected = naive.softmax_attention(
        q[2990:], k, v, allowed=np.arange(3000)[None, :] <= np.arange(2990, 3000)[:, None]
    )
    np.testing.assert_allclose(out[2990:], expected, rtol=2e-4, atol=2e-5)


def test_analyze_attention_on_a_causal_file(tmp_path, model_run, capsys):
    from safetensors.numpy import save_file

    hidden, q, k, v = model_run
    path = tmp_path / "causal.safetensors"
    tensors = {"hidden_states": hidden, "q": q, "k": k, "v": v, "lengths": np.array([T, T - 5])}
    save_file({name: np.ascontiguousarray(a) for name, a in tensors.items()}, str(path))
    report = tmp_path / "r.json"
    assert main(["analyze", str(path), "--attention", "--causal", "--tau", "0.5", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "attention against full" in out and "overall, cascade sets: rr error" in out
    import json

    attention = json.loads(report.read_text())["files"][0]["attention"]
    assert attention["causal"] is True and len(attention["records"]) == L
    assert main(["analyze", str(path), "--attention", "--select-on", "k", "--tau", "0.3"]) == 0
    capsys.readouterr()
    assert main(["analyze", str(path), "--attention", "--qkv-keys", "q,k"]) == 2
    assert "three names" in capsys.readouterr().err
