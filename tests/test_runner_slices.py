"""The runner selects the ADA layers of a batched or per-head input in groups of slices (issue 14).

Every per-slice record (but its wall times), set, reference set and assignment
equals the slice-by-slice path's (``_runner._BATCH_SLICES = False``) and, off
the threshold, the naive references of ``tests/naive.py``.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import cascade_core as cc
import naive
from cascade_core import _runner, backends

CPU_BACKENDS = ["numpy", "numba", "array_api"]


def without_time(result):
    return [{k: v for k, v in rec.as_dict().items() if "seconds" not in k} for rec in result.records]


def as_lists(store):
    return {where: [np.asarray(a).tolist() for a in arrays_] for where, arrays_ in store.items()}


def slice_by_slice(monkeypatch, *args, **kwargs):
    with monkeypatch.context() as patch:
        patch.setattr(_runner, "_BATCH_SLICES", False)
        return cc.run(*args, **kwargs)


def assert_same_run(got, want):
    assert without_time(got) == without_time(want)
    assert as_lists(got.sets) == as_lists(want.sets)
    assert as_lists(got.reference_sets) == as_lists(want.reference_sets)
    assert as_lists(got.assignments) == as_lists(want.assignments)
    assert as_lists(got.reference_assignments) == as_lists(want.reference_assignments)
    for name in ("layers", "slices", "ops", "ops_ada", "needed", "needed_ada", "mean_jaccard", "mean_agreement"):
        assert getattr(got.totals, name) == getattr(want.totals, name)


class Spy:
    """Counts the slices of every ``greedy_slices`` call of a backend."""

    def __init__(self, monkeypatch, name):
        self.calls = []
        engine = backends.get(name)
        inner = engine.greedy_slices

        def greedy_slices(xh, tau, block=None):
            self.calls.append(tuple(xh.shape))
            return inner(xh, tau, block)

        monkeypatch.setattr(engine, "greedy_slices", greedy_slices)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("use_lengths", [False, True])
def test_bundled_sample_equals_slice_by_slice(monkeypatch, backend, use_lengths):
    with np.load(cc.sample_path()) as data:
        x, lengths = data["hidden_states"], [int(v) for v in data["lengths"]]
    kwargs = {"backend": backend, "assign": True, "recompute_every": 3, "lengths": lengths if use_lengths else None}
    want = slice_by_slice(monkeypatch, x, 0.7, **kwargs)
    spy = Spy(monkeypatch, backend)
    got = cc.run(x, 0.7, **kwargs)
    assert_same_run(got, want)
    # ADA layers 0, 3, 6: one call a group (valid lengths 87, 96, 78 differ: three groups of one).
    n_tokens, n_features = x.shape[2], x.shape[3]
    group = [(1, n, n_features) for n in lengths] if use_lengths else [(3, n_tokens, n_features)]
    assert spy.calls == 3 * group
    assert [rec.method for rec in got.records if rec.slice == (0,)] == ["ada", "cascade", "cascade"] * 2 + ["ada"]


def test_groups_by_valid_length_and_splits_time_equally(monkeypatch):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 2, 16, 6))  # (L, B, H, T, d)
    spy = Spy(monkeypatch, "numpy")
    result = cc.run(x, 0.4, lengths=[16, 9, 16], backend="numpy")
    assert spy.calls == [(4, 16, 6), (2, 9, 6)]  # slices (0, h) and (2, h) together, (1, h) apart
    first = [rec for rec in result.records if rec.layer == 0]
    for n in (16, 9):
        seconds = {rec.seconds for rec in first if rec.T == n}
        assert len(seconds) == 1  # one call's wall time, divided equally
        assert {rec.seconds_ada_chosen_rows for rec in first if rec.T == n} == seconds
    assert [rec.slice for rec in result.records] == [(b, h) for _ in range(2) for b in range(3) for h in range(2)]


def test_full_gram_and_single_layers_stay_slice_by_slice(monkeypatch):
    x = np.random.default_rng(6).standard_normal((2, 2, 20, 5))
    spy = Spy(monkeypatch, "numpy")
    full = cc.run(x, 0.5, backend="numpy", algorithm="full-gram")
    cc.run(x[:, 0], 0.5, backend="numpy")  # (L, T, d): one slice
    assert spy.calls == []
    assert as_lists(full.sets) == as_lists(cc.run(x, 0.5, backend="numpy").sets)


def test_non_finite_token_is_located_in_a_batched_layer():
    x = np.ones((1, 2, 3, 6, 4))
    x[0, 1, 2, 4, 0] = np.inf
    mask = np.ones((2, 6), dtype=bool)
    mask[1, 1] = False
    with pytest.raises(cc.CascadeInputError) as err:
        cc.run(x, 0.5, mask=mask, backend="numpy")
    assert (err.value.layer, err.value.slice, err.value.token) == (0, (1, 2), 4)


@st.composite
def batched_layers(draw):
    """``(L, B, T, d)`` or ``(L, B, H, T, d)`` small integer activations that drift, and valid tokens."""
    heads = draw(st.sampled_from([(), (1,), (3,)]))
    n_batch, n, d = draw(st.integers(1, 3)), draw(st.integers(1, 12)), draw(st.integers(1, 4))
    shape = (n_batch, *heads, n, d)
    layers = [draw(arrays(np.int8, shape, elements=st.integers(-3, 3))).astype(np.float64)]
    for _ in range(draw(st.integers(0, 3))):
        layers.append(layers[-1] + draw(arrays(np.int8, shape, elements=st.integers(-1, 1))))
    x = np.stack(layers)
    valid = draw(st.sampled_from(["all", "lengths", "mask"]))
    kwargs = {}
    if valid == "lengths":
        kwargs["lengths"] = draw(st.lists(st.integers(1, n), min_size=n_batch, max_size=n_batch))
    elif valid == "mask":
        mask = draw(arrays(np.bool_, (n_batch, n)))
        mask[:, 0] = True
        kwargs["mask"] = mask
    return x, kwargs


@given(
    batched_layers(),
    st.floats(0.05, 1.0),
    st.booleans(),
    st.sampled_from([None, 2]),
    st.one_of(st.none(), st.integers(1, 5)),
    st.sampled_from(CPU_BACKENDS),
)
def test_layouts_equal_slice_by_slice_and_naive(data, tau, center, every, tile, backend):
    x, kwargs = data
    kwargs |= {"center": center, "recompute_every": every, "tile": tile, "backend": backend, "assign": True}
    with pytest.MonkeyPatch.context() as patch:
        want = slice_by_slice(patch, x, tau, **kwargs)
    got = cc.run(x, tau, **kwargs)
    assert_same_run(got, want)
    lengths, mask = kwargs.get("lengths"), kwargs.get("mask")
    for rec, (where, sets) in zip((r for r in got.records if r.layer == 0), sorted(got.sets.items()), strict=True):
        assert rec.slice == where
        b = where[0]
        tokens = np.arange(x.shape[-2])
        if lengths is not None:
            tokens = tokens[: lengths[b]]
        elif mask is not None:
            tokens = np.flatnonzero(mask[b])
        for layer, reps in enumerate(sets):
            xs = x[(layer, *where)][tokens]
            local = np.searchsorted(tokens, np.asarray(reps))
            naive.check_representative(xs, local, tau, center)
            if rec.method == "ada" and layer == 0 and not naive.near_threshold(xs, tau, center):
                assert local.tolist() == naive.ada(xs, tau, center)
                assert rec.needed == naive.ada_needed(local.tolist(), len(tokens))
