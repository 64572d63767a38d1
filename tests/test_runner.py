"""Layouts of SPEC §1: batches, heads, padding, iterables of layers; and the checker itself."""

import numpy as np
import pytest

import cascade_core as cc
import naive


def drift(seed, n_layers, shape, step=0.3):
    rng = np.random.default_rng(seed)
    x = [rng.standard_normal(shape)]
    for _ in range(n_layers - 1):
        x.append(x[-1] + step * rng.standard_normal(shape))
    return np.stack(x)


def without_time(result):
    return [{k: v for k, v in rec.as_dict().items() if "seconds" not in k} for rec in result.records]


def test_batch_with_lengths_equals_each_sequence_alone():
    x = drift(0, 4, (3, 30, 8))  # (L, B, T, d)
    lengths = [30, 17, 5]
    batched = cc.run(x, 0.4, lengths=lengths)
    assert batched.params["layout"] == "LBTD"
    for b, n in enumerate(lengths):
        alone = cc.run(x[:, b, :n], 0.4)
        assert [s.tolist() for s in batched.sets[(b,)]] == [s.tolist() for s in alone.sets[()]]
        mine = [rec for rec in without_time(batched) if rec["slice"] == [b]]
        assert [{**rec, "slice": []} for rec in mine] == without_time(alone)
        assert all(rec["T"] == n for rec in mine)
    totals = batched.totals
    assert totals.ops_ada == sum(4 * n * n for n in lengths)  # padded tokens are not counted


def test_per_head_slices():
    x = drift(1, 3, (2, 3, 16, 4))  # (L, B, H, T, d)
    result = cc.run(x, 0.5, lengths=[16, 9])
    assert result.params["layout"] == "LBHTD"
    assert sorted(result.sets) == [(b, h) for b in range(2) for h in range(3)]
    for (b, h), sets in result.sets.items():
        n = 16 if b == 0 else 9
        alone = cc.run(x[:, b, h, :n], 0.5)
        assert [s.tolist() for s in sets] == [s.tolist() for s in alone.sets[()]]
        for layer, reps in enumerate(sets):
            naive.check_representative(x[layer, b, h, :n], reps, 0.5)


def test_mask_reports_input_positions():
    x = drift(2, 2, (1, 12, 4))
    mask = np.zeros((1, 12), dtype=bool)
    mask[0, [1, 4, 5, 8, 11]] = True
    result = cc.run(x, 0.5, mask=mask)
    valid = np.flatnonzero(mask[0])
    alone = cc.run(x[:, 0, valid], 0.5)
    for got, local in zip(result.sets[(0,)], alone.sets[()], strict=True):
        assert got.tolist() == valid[local].tolist()


def test_iterable_of_layers_equals_stacked_array():
    x = drift(3, 5, (20, 6))
    from_generator = cc.run((layer for layer in x), 0.5)
    stacked = cc.run(x, 0.5)
    assert without_time(from_generator) == without_time(stacked)
    assert from_generator.params["layout"] == "per layer TD"


def test_float16_is_computed_in_float32():
    x = drift(4, 3, (25, 8)).astype(np.float16)
    result = cc.run(x, 0.5)
    for layer, reps in enumerate(result.sets[()]):
        naive.check_representative(x[layer].astype(np.float32), reps, 0.5)


def test_reference_off_leaves_agreement_empty():
    result = cc.run(drift(5, 3, (10, 3)), 0.5, reference=False)
    assert result.reference_sets == {}
    assert all(rec.agreement is None and rec.r_ada is None for rec in result.records)
    assert result.totals.mean_agreement is None


def test_checker_rejects_sets_that_are_not_representative():
    x = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0]])
    naive.check_representative(x, [0, 2], 0.9)
    with pytest.raises(AssertionError, match="linked"):
        naive.check_representative(x, [0, 1, 2], 0.9)
    with pytest.raises(AssertionError, match="covered by no representative"):
        naive.check_representative(x, [0], 0.9)
    with pytest.raises(AssertionError, match="increasing"):
        naive.check_representative(x, [2, 0], 0.9)
