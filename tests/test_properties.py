"""Property tests (hypothesis): the set rules of SPEC §2-§6 on random activations."""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import cascade_core as cc
import naive

taus = st.floats(min_value=0.05, max_value=1.0, allow_nan=False)
dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def activations(draw, min_tokens=1, max_tokens=30):
    """(T, d) activations on a small integer grid: many parallel, zero and opposite tokens."""
    n = draw(st.integers(min_tokens, max_tokens))
    d = draw(st.integers(1, 5))
    grid = draw(arrays(np.int8, (n, d), elements=st.integers(-3, 3)))
    return grid.astype(draw(dtypes))


@st.composite
def layered(draw):
    """(L, T, d): a first layer, then small integer drifts of it."""
    first = draw(activations(max_tokens=24))
    n_layers = draw(st.integers(1, 4))
    layers = [first]
    for _ in range(n_layers - 1):
        drift = draw(arrays(np.int8, first.shape, elements=st.integers(-1, 1)))
        layers.append(layers[-1] + drift.astype(first.dtype))
    return np.stack(layers)


@given(activations(), taus, st.booleans())
def test_ada_returns_a_representative_set(x, tau, center):
    reps = cc.ada(x, tau, center=center).reps
    naive.check_representative(x, reps, tau, center)
    if not naive.near_threshold(x, tau, center):
        assert reps.tolist() == naive.ada(x, tau, center)


@given(activations(), taus, st.data())
def test_cascade_returns_a_representative_set(x, tau, data):
    prev = sorted(data.draw(st.sets(st.integers(0, x.shape[0] - 1))))
    step = cc.cascade(np.array(prev, dtype=np.int64), x, tau)
    naive.check_representative(x, step.reps, tau)
    assume(not naive.near_threshold(x, tau))
    expected = naive.cascade(prev, x, tau)
    assert step.reps.tolist() == expected["reps"]
    assert step.kept.tolist() == expected["kept"]
    assert step.removed == len(expected["removed"])
    assert step.uncovered.tolist() == expected["uncovered"]
    assert step.added.tolist() == expected["added"]
    assert step.ops == expected["ops"]


@given(layered(), taus)
def test_run_sets_and_accounting_layer_by_layer(x, tau):
    result = cc.run(x, tau)
    records = result.records
    for layer, rec in enumerate(records):
        reps = result.sets[()][layer]
        naive.check_representative(x[layer], reps, tau)
        naive.check_representative(x[layer], result.reference_sets[()][layer], tau)
        assert rec.r == reps.shape[0] and rec.T == x.shape[1] and rec.ops_ada == x.shape[1] ** 2
        if layer == 0:
            assert rec.method == "ada" and rec.ops == x.shape[1] ** 2
        else:
            r_prev = records[layer - 1].r
            r_kept = r_prev - rec.removed
            expected = r_prev**2 + (rec.T - r_kept) * r_kept + rec.uncovered**2
            assert rec.ops == expected
            assert rec.r == r_kept + rec.added
            prev = result.sets[()][layer - 1]
            assert rec.jaccard_prev == naive.jaccard(prev, reps)
        assert rec.agreement == naive.jaccard(reps, result.reference_sets[()][layer])
    total = sum(rec.ops for rec in records) / sum(rec.ops_ada for rec in records)
    assert result.totals.savings == 1 - total


@given(activations(), taus, st.integers(2, 5))
def test_identical_layers_change_nothing(x, tau, n_layers):
    assume(not naive.near_threshold(x, tau))
    result = cc.run(np.stack([x] * n_layers), tau)
    for rec in result.records[1:]:
        assert rec.removed == 0 and rec.added == 0 and rec.uncovered == 0
        assert rec.jaccard_prev == 1.0 and rec.agreement == 1.0
    first = result.sets[()][0].tolist()
    assert all(s.tolist() == first for s in result.sets[()])


@given(activations(), taus)
def test_cascade_on_a_single_layer_is_ada(x, tau):
    assume(not naive.near_threshold(x, tau))
    expected = naive.ada(x, tau)
    assert cc.run(x, tau).sets[()][0].tolist() == expected  # a (T, d) input is one layer
    everything = np.arange(x.shape[0], dtype=np.int64)
    assert cc.cascade(everything, x, tau).reps.tolist() == expected  # removal scan is ADA
    assert cc.cascade(everything[:0], x, tau).reps.tolist() == expected  # addition scan is ADA


@given(layered(), taus, st.integers(1, 7))
def test_tiles_do_not_change_the_result(x, tau, tile):
    assume(not any(naive.near_threshold(layer, tau) for layer in x))
    small = cc.run(x, tau, tile=tile)
    whole = cc.run(x, tau)
    assert [s.tolist() for s in small.sets[()]] == [s.tolist() for s in whole.sets[()]]
    assert [r.ops for r in small.records] == [r.ops for r in whole.records]


@given(activations(), taus)
def test_assignment_picks_a_most_similar_representative(x, tau):
    reps = cc.ada(x, tau).reps
    assignment, sizes = cc.assign(x, reps)
    s = naive.similarity(x)
    rep_list = reps.tolist()
    for i, a in enumerate(assignment.tolist()):
        assert a in rep_list
        if i in rep_list:
            assert a == i
        else:
            assert s[i, a] >= max(s[i, j] for j in rep_list) - naive.MARGIN
    assert sizes.tolist() == [assignment.tolist().count(j) for j in rep_list]
    assert int(sizes.sum()) == x.shape[0]
