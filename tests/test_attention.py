"""Compressed attention (SPEC §8) against dense float64 references and hand-computed values."""

import numpy as np
import pytest

import cascade_core as cc
import naive
from cascade_core import (
    attention_heads,
    full_attention,
    rr_attention,
    tr_attention,
)
from cascade_core import attention_quality as compare


def qkv(n=40, d=8, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal((n, d)) for _ in range(3))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("tile", [None, 1, 7, 16])
def test_full_attention_matches_dense(causal, tile):
    q, k, v = qkv()
    allowed = np.tril(np.ones((40, 40), dtype=bool)) if causal else None
    expected = naive.softmax_attention(q, k, v, allowed=allowed)
    np.testing.assert_allclose(full_attention(q, k, v, causal=causal, tile=tile), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_every_token_a_representative_gives_full_attention(causal):
    q, k, v = qkv(seed=1)
    sel = cc.ada(k, 1.0)  # tau = 1: no two random keys are parallel, so r = T
    assert sel.reps.shape[0] == 40
    assignment, _ = cc.assign(k, sel.reps)
    full = full_attention(q, k, v, causal=causal)
    for method in (rr_attention, tr_attention):
        out = method(q, k, v, sel.reps, assignment, causal=causal, tile=9)
        np.testing.assert_allclose(out, full, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_rr_and_tr_match_the_spec_written_out(causal):
    q, k, v = qkv(n=30, d=4, seed=2)
    x = np.random.default_rng(3).standard_normal((30, 3))
    sel = cc.ada(x, 0.6)
    assignment, _ = cc.assign(x, sel.reps)
    assert 3 <= sel.reps.shape[0] < 30
    for ours, theirs in ((rr_attention, naive.rr_attention), (tr_attention, naive.tr_attention)):
        got = ours(q, k, v, sel.reps, assignment, causal=causal, tile=4)
        np.testing.assert_allclose(got, theirs(q, k, v, sel.reps, assignment, causal=causal), rtol=1e-10, atol=1e-12)


def test_hand_computed_groups():
    # Three tokens, representatives {0, 2}; token 1 belongs to 0's group (c = [2, 1]).
    q = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    k = np.array([[2.0, 0.0], [9.0, 9.0], [0.0, 2.0]])
    v = np.array([[1.0, 0.0], [5.0, 5.0], [0.0, 1.0]])
    reps, assignment = np.array([0, 2]), np.array([0, 0, 2])
    # Query 0 against keys 0 and 2: scores [2, 0] / sqrt(2) + log [2, 1].
    s0 = np.array([2 / np.sqrt(2) + np.log(2), 0.0])
    w0 = np.exp(s0) / np.exp(s0).sum()
    s2 = np.array([0 + np.log(2), 2 / np.sqrt(2)])
    w2 = np.exp(s2) / np.exp(s2).sum()
    expected = np.array([w0, w0, w2])  # v_R is the identity here; token 1 takes token 0's row
    np.testing.assert_allclose(rr_attention(q, k, v, reps, assignment), expected, rtol=1e-12)
    # Without the group weights the log 2 disappears.
    plain = rr_attention(q, k, v, reps, assignment, proportional=False)
    w0 = np.exp([2 / np.sqrt(2), 0.0]) / np.exp([2 / np.sqrt(2), 0.0]).sum()
    np.testing.assert_allclose(plain[0], w0, rtol=1e-12)


@pytest.mark.parametrize("method", ["full", "tr"])
def test_causal_outputs_ignore_later_tokens(method):
    q, k, v = qkv(n=36, seed=4)
    x = np.random.default_rng(5).standard_normal((36, 3))
    sel = cc.ada(x, 0.5)
    assignment, _ = cc.assign(x, sel.reps)

    def output(q, k, v):
        if method == "full":
            return full_attention(q, k, v, causal=True, tile=5)
        return tr_attention(q, k, v, sel.reps, assignment, causal=True, tile=5)

    before = output(q, k, v)
    later = 20
    k2, v2, q2 = k.copy(), v.copy(), q.copy()
    k2[later:] += 3.0
    v2[later:] -= 7.0
    q2[later:] *= -1
    after = output(q2, k2, v2)
    np.testing.assert_array_equal(before[:later], after[:later])
    assert not np.allclose(before[later:], after[later:])


def test_grouped_query_heads_read_their_key_value_head():
    rng = np.random.default_rng(6)
    q = rng.standard_normal((1, 4, 12, 4))
    k = rng.standard_normal((1, 2, 12, 4))
    v = rng.standard_normal((1, 2, 12, 4))
    everyone = (np.arange(12), np.arange(12))
    result = attention_heads(q, k, v, {"all": lambda b, h: everyone})
    assert result["entries"] == 4 * 144
    assert result["all"]["rr_entries"] == result["all"]["tr_entries"] == 4 * 144
    assert result["all"]["rr"].relative_error < 1e-12
    # Heads 0, 1 read kv head 0 and heads 2, 3 kv head 1: check one of each by hand.
    for h, kv in ((1, 0), (2, 1)):
        expected = naive.softmax_attention(q[0, h], k[0, kv], v[0, kv])
        np.testing.assert_allclose(full_attention(q[0, h], k[0, kv], v[0, kv]), expected, rtol=1e-10)
    with pytest.raises(ValueError, match="do not group"):
        attention_heads(q, k[:, :1].repeat(3, axis=1), v[:, :1].repeat(3, axis=1), {"all": lambda b, h: everyone})


def test_padded_batches_use_valid_tokens_only():
    rng = np.random.default_rng(7)
    q, k, v = (rng.standard_normal((2, 1, 10, 4)) for _ in range(3))
    q[1, 0, :4] = np.nan  # padding may hold anything (here: left padding of sequence 1)
    sets = {0: (np.arange(10), np.arange(10)), 1: (np.arange(6), np.arange(6))}
    result = attention_heads(q, k, v, {"all": lambda b, h: sets[b]}, spans=[(0, 10), (4, 10)])
    assert result["entries"] == 100 + 36
    assert result["all"]["rr"].relative_error < 1e-12 and result["all"]["tr"].tokens == 16


def test_quality_metrics():
    full = np.array([[1.0, 0.0], [0.0, 2.0]])
    out = np.array([[1.0, 0.0], [0.0, 1.0]])
    quality = compare(out, full)
    assert quality.relative_error == pytest.approx(1 / np.sqrt(5))
    assert quality.mean_cosine == pytest.approx(1.0)
    assert compare(-full, full).mean_cosine == pytest.approx(-1.0)


def _cupy():
    try:
        import cupy

        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:
        return None


@pytest.mark.gpu
@pytest.mark.skipif(_cupy() is None, reason="no GPU/CuPy")
@pytest.mark.parametrize("causal", [False, True])
def test_attention_on_cupy_matches_numpy(causal):
    cupy = _cupy()
    q, k, v = qkv(n=300, d=16, seed=8)
    x = np.random.default_rng(9).standard_normal((300, 4))
    sel = cc.ada(x, 0.5)
    assignment, _ = cc.assign(x, sel.reps)
    on_gpu = [cupy.asarray(a) for a in (q, k, v, sel.reps, assignment)]
    for method in (rr_attention, tr_attention):
        got = method(*on_gpu, causal=causal, tile=64)
        assert isinstance(got, cupy.ndarray)
        np.testing.assert_allclose(got.get(), method(q, k, v, sel.reps, assignment, causal=causal), rtol=1e-10)
    full = full_attention(*on_gpu[:3], causal=causal, tile=64)
    np.testing.assert_allclose(full.get(), full_attention(q, k, v, causal=causal), rtol=1e-10)


def test_attention_under_array_api_strict():
    xps = pytest.importorskip("array_api_strict")
    q, k, v = qkv(n=20, d=4, seed=10)
    reps, assignment = (
        np.array([0, 3, 7, 12]),
        np.array([0, 0, 0, 3, 3, 7, 7, 7, 12, 3, 12, 12, 7, 0, 3, 3, 7, 12, 12, 0]),
    )
    device = xps.Device("device1")
    args = [xps.asarray(a, device=device) for a in (q, k, v, reps, assignment)]
    for method in (rr_attention, tr_attention):
        got = method(*args, causal=True, tile=6)
        assert got.device == device
        host = np.asarray(got.to_device(xps.Device("CPU_DEVICE")))
        np.testing.assert_allclose(host, method(q, k, v, reps, assignment, causal=True), rtol=1e-12)
