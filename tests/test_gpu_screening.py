"""Screened (float16) and float32 GPU paths decide alike (SPEC §9): synthetic, near-tau and real data.

Every test compares the ``cupy`` backend (float16 products, float32
rechecks) with ``cupy-float32`` and the CPU reference, for ADA (one layer,
and many slices at once), the cascade, and every layout. Skipped without CuPy
and a GPU (``gpu`` marker).
"""

import numpy as np
import pytest

import cascade_core as cc
import naive
from cascade_core import synthetic
from near_tau import near_tau_layer, near_tau_stack


def _gpu_available() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _gpu_available(), reason="no GPU/CuPy")]

TAUS = [0.5, 0.7, 0.9]


def host(a):
    return np.asarray(a.get() if hasattr(a, "get") else a).tolist()


def _sample():
    """The bundled all-MiniLM-L6-v2 hidden states ``(L, B, T, d)``, float32, and their lengths."""
    with np.load(cc.sample_path()) as data:
        return data["hidden_states"].astype(np.float32), [int(n) for n in data["lengths"]]


def _data(name, tau):
    if name == "synthetic":
        return synthetic.stacked(3, 1500, 256, rep_ratio=0.4, seed=7), None
    if name == "near-tau":
        return near_tau_stack(3, 1200, 128, tau, seed=11), None
    return _sample()


def _near(x, lengths, tau) -> bool:
    if lengths is None:
        return any(naive.near_threshold(layer, tau) for layer in x.reshape(-1, *x.shape[-2:]))
    return any(naive.near_threshold(layer[b, :n], tau) for layer in x for b, n in enumerate(lengths))


@pytest.mark.parametrize("algorithm", ["chosen-rows", "full-gram"])
@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("data", ["synthetic", "near-tau", "sample"])
def test_runs_equal_in_both_precisions(data, tau, algorithm):
    import cupy

    from cascade_core.backends import get

    x, lengths = _data(data, tau)
    if _near(x, lengths, tau):
        pytest.skip("a pair within SPEC §9's margin of tau: decisions may differ there")
    screened = get("cupy")
    screened.reset_counts()
    runs = {
        name: cc.run(cupy.asarray(x), tau, backend=name, algorithm=algorithm, lengths=lengths)
        for name in ("cupy", "cupy-float32")
    }
    cpu = cc.run(x, tau, backend="numba", algorithm=algorithm, lengths=lengths)
    for key in cpu.sets:
        expected = [s.tolist() for s in cpu.sets[key]]
        for name, result in runs.items():
            assert [host(s) for s in result.sets[key]] == expected, (name, key)
            assert [host(s) for s in result.reference_sets[key]] == [s.tolist() for s in cpu.reference_sets[key]]
    if data == "near-tau" and algorithm == "chosen-rows":
        assert screened.rechecked > 0, "near-tau pairs were decided without a recheck"


def test_near_tau_pairs_flip_in_float16_alone():
    """The near-tau data is adversarial: raw float16 products decide some of its pairs unlike float32."""
    import cupy

    x = cc.normalize(cupy.asarray(near_tau_layer(1200, 128, 0.5, seed=11)))
    s32 = cupy.abs(x @ x.T) >= np.float32(0.5)
    low = x.astype(cupy.float16)
    s16 = cupy.abs(low.astype(cupy.float32) @ low.astype(cupy.float32).T) >= np.float32(0.5)
    assert int(cupy.sum(s32 != s16)) > 0


@pytest.mark.parametrize("layout", ["LTD", "LBTD", "LBHTD"])
@pytest.mark.parametrize("data", ["synthetic", "near-tau"])
def test_every_layout_in_both_precisions(layout, data):
    import cupy

    base = synthetic.stacked(2, 4 * 200, 64, rep_ratio=0.3, seed=5) if data == "synthetic" else None
    if base is None:
        base = near_tau_stack(2, 4 * 200, 64, 0.5, seed=3)
    shapes = {"LTD": (2, 800, 64), "LBTD": (2, 4, 200, 64), "LBHTD": (2, 2, 2, 200, 64)}
    x = base.reshape(shapes[layout])
    flat = x.reshape(-1, *x.shape[-2:])
    assert not any(naive.near_threshold(layer, 0.5) for layer in flat)
    lengths = None if layout == "LTD" else [200, 150] + ([171, 200] if layout == "LBTD" else [])
    expected = cc.run(x, 0.5, backend="numba", lengths=lengths)
    for name in ("cupy", "cupy-float32"):
        got = cc.run(cupy.asarray(x), 0.5, backend=name, lengths=lengths)
        for key in expected.sets:
            assert [host(s) for s in got.sets[key]] == [s.tolist() for s in expected.sets[key]], (name, key)


@pytest.mark.parametrize("data", ["synthetic", "near-tau"])
@pytest.mark.parametrize("backend", ["cupy", "cupy-float32", "numba"])
def test_slices_in_one_go_equal_slice_by_slice(backend, data):
    """ada_slices on (B, H, T, d): per slice, the set and needed ledger of cc.ada."""
    import cupy

    if data == "synthetic":
        x = synthetic.stacked(1, 2 * 3 * 300, 64, rep_ratio=0.4, seed=9)[0].reshape(2, 3, 300, 64)
    else:
        x = near_tau_stack(1, 2 * 3 * 300, 64, 0.5, seed=9)[0].reshape(2, 3, 300, 64)
    xb = x if backend == "numba" else cupy.asarray(x)
    got = cc.ada_slices(xb, 0.5, backend=backend)
    assert len(got) == 6
    for (b, h), sel in zip(np.ndindex(2, 3), got, strict=True):
        one = cc.ada(x[b, h], 0.5, backend="numba")
        assert host(sel.reps) == one.reps.tolist()
        assert (sel.ops, sel.needed) == (one.ops, one.needed)


def test_cascade_steps_equal_in_both_precisions():
    import cupy

    x = near_tau_stack(2, 1500, 128, 0.5, seed=21)
    prev = cc.ada(x[0], 0.5, backend="numba").reps
    expected = cc.cascade(prev, x[1], 0.5, backend="numba")
    for name in ("cupy", "cupy-float32"):
        step = cc.cascade(cupy.asarray(prev), cupy.asarray(x[1]), 0.5, backend=name)
        for part in ("reps", "kept", "uncovered", "added"):
            assert host(getattr(step, part)) == getattr(expected, part).tolist(), (name, part)
        assert (step.ops, step.needed) == (expected.ops, expected.needed)


@pytest.mark.parametrize("data", ["synthetic", "near-tau"])
@pytest.mark.parametrize("backend", ["cupy", "cupy-float32"])
def test_runner_groups_slices_like_slice_by_slice(monkeypatch, backend, data):
    """cc.run on a per-head input: its grouped ADA layers (batched greedy_slices) give every record, set
    and ledger of the runner slice by slice and of the CPU run (issue 14)."""
    import cupy

    from cascade_core import _runner
    from cascade_core.backends import get

    if data == "synthetic":
        flat = synthetic.stacked(4, 2 * 4 * 160, 64, rep_ratio=0.4, seed=13)
    else:
        flat = near_tau_stack(4, 2 * 4 * 160, 64, 0.5, seed=13)
    x = flat.reshape(4, 2, 4, 160, 64)  # (L, B, H, T, d)
    lengths = [160, 97]
    near = [naive.near_threshold(layer[b, h, :n], 0.5) for layer in x for b, n in enumerate(lengths) for h in range(4)]
    assert not any(near)
    kwargs = {"lengths": lengths, "recompute_every": 2, "assign": True}
    engine = get(backend)
    calls = []
    inner = engine.greedy_slices

    def spy(xh, tau, block=None):
        if xh.shape[-1] == x.shape[-1]:  # the layers' calls, not the backend's warm-up on a tiny input
            calls.append(tuple(xh.shape))
        return inner(xh, tau, block)

    monkeypatch.setattr(engine, "greedy_slices", spy)
    got = cc.run(cupy.asarray(x), 0.5, backend=backend, **kwargs)
    assert calls == 2 * [(4, 160, 64), (4, 97, 64)]  # layers 0 and 2, a group per sequence
    monkeypatch.setattr(_runner, "_BATCH_SLICES", False)
    one_by_one = cc.run(cupy.asarray(x), 0.5, backend=backend, **kwargs)
    cpu = cc.run(x, 0.5, backend="numba", **kwargs)
    assert len(calls) == 4  # slice by slice: the hook is not called

    def fields(result):
        return [{k: v for k, v in rec.as_dict().items() if "seconds" not in k} for rec in result.records]

    assert fields(got) == fields(one_by_one) == fields(cpu)
    for store in ("sets", "reference_sets", "assignments", "reference_assignments"):
        want = {k: [s.tolist() for s in v] for k, v in getattr(cpu, store).items()}
        for result in (got, one_by_one):
            assert {k: [host(s) for s in v] for k, v in getattr(result, store).items()} == want, store
