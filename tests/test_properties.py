"""Property tests (hypothesis): the set rules of SPEC §2-§6 on random activations."""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import cascade_core as cc
import naive

taus = st.floats(min_value=0.05, max_value=1.0, allow_nan=False)
dtypes = st.sampled_from([np.float32, np.float64])
algorithms = st.sampled_from(["chosen-rows", "full-gram"])
tiles = st.one_of(st.none(), st.integers(1, 9))


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


@given(activations(), taus, st.booleans(), algorithms, tiles)
def test_ada_returns_a_representative_set(x, tau, center, algorithm, tile):
    sel = cc.ada(x, tau, center=center, algorithm=algorithm, tile=tile)
    naive.check_representative(x, sel.reps, tau, center)
    assert sel.ops == x.shape[0] ** 2
    assert sel.needed == naive.ada_needed(sel.reps.tolist(), x.shape[0])
    if not naive.near_threshold(x, tau, center):
        assert sel.reps.tolist() == naive.ada(x, tau, center)


@given(activations(), taus, st.data(), algorithms, tiles)
def test_cascade_returns_a_representative_set(x, tau, data, algorithm, tile):
    prev = sorted(data.draw(st.sets(st.integers(0, x.shape[0] - 1))))
    step = cc.cascade(np.array(prev, dtype=np.int64), x, tau, algorithm=algorithm, tile=tile)
    naive.check_representative(x, step.reps, tau)
    assume(not naive.near_threshold(x, tau))
    expected = naive.cascade(prev, x, tau)
    assert step.reps.tolist() == expected["reps"]
    assert step.kept.tolist() == expected["kept"]
    assert step.removed == len(expected["removed"])
    assert step.uncovered.tolist() == expected["uncovered"]
    assert step.added.tolist() == expected["added"]
    assert step.ops == expected["ops"]
    assert step.needed == expected["needed"]


@given(layered(), taus, algorithms)
def test_run_sets_and_accounting_layer_by_layer(x, tau, algorithm):
    result = cc.run(x, tau, algorithm=algorithm)
    records = result.records
    n = x.shape[1]
    for layer, rec in enumerate(records):
        reps = result.sets[()][layer]
        ada_reps = result.reference_sets[()][layer]
        naive.check_representative(x[layer], reps, tau)
        naive.check_representative(x[layer], ada_reps, tau)
        assert rec.r == reps.shape[0] and rec.T == n and rec.ops_ada == n**2
        assert rec.needed_ada == naive.ada_needed(ada_reps.tolist(), n)
        if layer == 0:
            assert rec.method == "ada" and rec.ops == n**2 and rec.needed == rec.needed_ada
        else:
            prev_reps = result.sets[()][layer - 1].tolist()
            step = naive.cascade(prev_reps, x[layer], tau)
            if not naive.near_threshold(x[layer], tau):
                assert rec.needed == step["needed"]
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
    needed = sum(rec.needed for rec in records)
    needed_ada = sum(rec.needed_ada for rec in records)
    assert (result.totals.needed, result.totals.needed_ada) == (needed, needed_ada)
    assert result.totals.needed_savings == (1 - needed / needed_ada if needed_ada else 0.0)


@given(activations(), taus, st.integers(2, 5))
def test_identical_layers_change_nothing(x, tau, n_layers):
    assume(not naive.near_threshold(x, tau))
    result = cc.run(np.stack([x] * n_layers), tau)
    for rec in result.records[1:]:
        assert rec.removed == 0 and rec.added == 0 and rec.uncovered == 0
        assert rec.jaccard_prev == 1.0 and rec.agreement == 1.0
    first = result.sets[()][0].tolist()
    assert all(s.tolist() == first for s in result.sets[()])
    # The cascade keeps ADA's set: it pays the removal scan plus the whole validation, never less than ADA
    # itself on the needed ledger (docs/savings.rst).
    n, r = x.shape[0], len(first)
    for rec in result.records[1:]:
        assert rec.needed == naive.count_before(first, first) + (n - r) * r >= rec.needed_ada


@given(activations(), taus)
def test_cascade_on_a_single_layer_is_ada(x, tau):
    assume(not naive.near_threshold(x, tau))
    expected = naive.ada(x, tau)
    assert cc.run(x, tau).sets[()][0].tolist() == expected  # a (T, d) input is one layer
    everything = np.arange(x.shape[0], dtype=np.int64)
    assert cc.cascade(everything, x, tau).reps.tolist() == expected  # removal scan is ADA
    assert cc.cascade(everything[:0], x, tau).reps.tolist() == expected  # addition scan is ADA


@given(layered(), taus, st.integers(1, 7), algorithms)
def test_tiles_do_not_change_the_result(x, tau, tile, algorithm):
    assume(not any(naive.near_threshold(layer, tau) for layer in x))
    small = cc.run(x, tau, tile=tile, algorithm=algorithm)
    whole = cc.run(x, tau)
    assert [s.tolist() for s in small.sets[()]] == [s.tolist() for s in whole.sets[()]]
    assert [(r.ops, r.needed, r.needed_ada) for r in small.records] == [
        (r.ops, r.needed, r.needed_ada) for r in whole.records
    ]


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
