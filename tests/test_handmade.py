"""Small cases worked out by hand: exact sets, assignments, group sizes, op counts."""

import numpy as np
import pytest

import cascade_core as cc
from naive import check_representative


def at_angles(*degrees):
    """Unit vectors in the plane at the given angles."""
    rad = np.deg2rad(np.array(degrees, dtype=np.float64))
    return np.stack([np.cos(rad), np.sin(rad)], axis=1)


# |cos| >= 0.9 links angles closer than 25.8 degrees (or further than 154.2).
LAYER = at_angles(0, 10, 50, 60, 100, 170)
NEXT = at_angles(0, 10, 5, 60, 100, 170)  # token 2 moves next to token 0


def test_ada_exact():
    sel = cc.ada(LAYER, 0.9)
    assert sel.reps.tolist() == [0, 2, 4]
    assert sel.ops == 36
    assert sel.needed == 1 + 1 + 2 + 2 + 3  # tokens 1 .. 5 against the representatives before them
    assert cc.ada(LAYER, 0.9, algorithm="full-gram").reps.tolist() == [0, 2, 4]
    check_representative(LAYER, sel.reps, 0.9)


def test_assignment_exact():
    assignment, sizes = cc.assign(LAYER, np.array([0, 2, 4]))
    # 10 deg -> 0; 60 deg -> 50 deg (token 2); 170 deg is anti-parallel-ish to 0 deg.
    assert assignment.tolist() == [0, 0, 2, 2, 4, 0]
    assert sizes.tolist() == [3, 2, 1]


def test_cascade_exact():
    step = cc.cascade(np.array([0, 2, 4]), NEXT, 0.9)
    assert step.kept.tolist() == [0, 4]  # token 2 is now linked to token 0: removed
    assert step.removed == 1
    assert step.uncovered.tolist() == [3]  # 60 deg: cos 60 = 0.5 to token 0, cos 40 = 0.77 to 100 deg
    assert step.added.tolist() == [3]
    assert step.reps.tolist() == [0, 3, 4]
    assert step.ops == 3 * 3 + (6 - 2) * 2 + 1 * 1
    # needed: removal (0 before 0; 0 before 2; 0 before 4) + validation (tokens 1, 3, 5 against {0, 4}) + addition 0
    assert step.needed == (0 + 1 + 1) + 3 * 2 + 0
    check_representative(NEXT, step.reps, 0.9)


def test_run_exact_records():
    result = cc.run([LAYER, NEXT], 0.9)
    first, second = result.records
    assert (first.method, first.r, first.ops, first.ops_ada) == ("ada", 3, 36, 36)
    assert (second.method, second.r, second.removed, second.added, second.uncovered) == ("cascade", 3, 1, 1, 1)
    assert second.ops == 18
    assert second.jaccard_prev == pytest.approx(2 / 4)  # {0,2,4} vs {0,3,4}
    assert second.r_ada == 3 and second.agreement == 1.0  # ADA on NEXT: 0 (excl. 1, 2, 5), 3, 4
    assert result.totals.savings == pytest.approx(1 - (36 + 18) / 72)
    assert (first.needed, first.needed_ada) == (9, 9)
    assert (second.needed, second.needed_ada) == (8, 5 + 2 + 1)  # ADA on NEXT: {0, 3, 4}
    assert (result.totals.needed, result.totals.needed_ada, result.totals.needed_savings) == (17, 17, 0.0)
    assert [s.tolist() for s in result.sets[()]] == [[0, 2, 4], [0, 3, 4]]


def test_zero_norm_token_is_always_a_representative():
    x = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.01]])
    assert cc.ada(x, 0.5).reps.tolist() == [0, 1]
    assignment, sizes = cc.assign(x, np.array([0, 1]))
    assert assignment.tolist() == [0, 1, 0] and sizes.tolist() == [2, 1]


def test_anti_correlated_tokens_are_linked():
    assert cc.ada(np.array([[1.0, 0.0], [-1.0, 0.0]]), 0.99).reps.tolist() == [0]


def test_tau_one_links_only_parallel_tokens():
    x = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    assert cc.ada(x, 1.0).reps.tolist() == [0, 2]


def test_identical_tokens_form_one_group():
    x = np.ones((5, 3))
    assert cc.ada(x, 0.5).reps.tolist() == [0]
    assignment, sizes = cc.assign(x, np.array([0]))
    assert assignment.tolist() == [0] * 5 and sizes.tolist() == [5]


def test_assignment_tie_goes_to_lowest_index():
    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # token 2 is at 45 deg to both
    assert cc.ada(x, 0.5).reps.tolist() == [0, 1]
    assignment, _ = cc.assign(x, np.array([0, 1]))
    assert assignment.tolist() == [0, 1, 0]


def test_centering_changes_the_graph():
    # Without centring every token points along the shared offset; centred, three groups appear.
    x = np.array([[10.0, 1.0, 0.0], [10.0, 1.1, 0.0], [10.0, 0.0, 1.0], [10.0, 0.0, 1.1], [10.0, -1.0, -1.0]])
    assert cc.ada(x, 0.9).reps.tolist() == [0]
    assert cc.ada(x, 0.9, center=True).reps.tolist() == [0, 2, 4]
    check_representative(x, [0, 2, 4], 0.9, center=True)


def test_recompute_policy():
    # One removal and one addition against |R_l| = 3: ratio 0.5 sends the layer back to ADA.
    result = cc.run([LAYER, NEXT], 0.9, recompute_ratio=0.5)
    second = result.records[1]
    assert second.method == "recompute"
    assert second.ops == 18 + 36  # the abandoned cascade step, then ADA
    assert second.needed == 8 + 8  # on both ledgers
    assert cc.run([LAYER, NEXT], 0.9, recompute_ratio=0.7).records[1].method == "cascade"
    every = cc.run([LAYER, NEXT, NEXT, LAYER], 0.9, recompute_every=2)
    assert [rec.method for rec in every.records] == ["ada", "cascade", "ada", "cascade"]
    assert [rec.ops for rec in every.records][::2] == [36, 36]


def test_assign_ops_formula():
    from cascade_core import assign_ops, cascade_ops

    assert assign_ops(6, 3) == 9
    assert cascade_ops(6, 3, 2, 1) == 18


def test_needed_formulas():
    from cascade_core import ada_needed, cascade_needed

    assert ada_needed(np.array([0]), 1) == 0
    assert ada_needed(np.array([0, 1, 2]), 3) == 0 + 1 + 2
    assert ada_needed(np.array([0, 5]), 6) == 5 + 0
    # R_l = {0, 1, 2} keeps {0, 2}; U = {3, 4, 5}, A = {3, 5}: removal 0 + 1 + 1, validation 3 * 2, addition 0 + 1 + 1
    assert cascade_needed(6, np.array([0, 1, 2]), np.array([0, 2]), np.array([3, 4, 5]), np.array([3, 5])) == 10
    empty = np.zeros(0, dtype=np.int64)
    assert cascade_needed(4, empty, empty, np.arange(4), np.array([0, 2])) == 0 + 0 + (0 + 1 + 1 + 2)
