"""``cc.assign`` refuses sets it cannot assign to (issue 12): a clean CascadeInputError, never a raw error."""

from __future__ import annotations

import numpy as np
import pytest

import cascade_core as cc
import naive
from cascade_core import CascadeInputError

X = np.random.default_rng(1).standard_normal((12, 6))


@pytest.mark.parametrize(
    ("reps", "match"),
    [
        ([], "reps is empty; 12 tokens need at least one representative"),
        ([0, 12], "token indices in 0..11, got 12"),
        ([-1, 3], "token indices in 0..11, got -1"),
        ([2, 2, 5], "each token once: 2 repeated"),
        ([5, 2], "each token once: 2 not increasing"),
    ],
)
def test_assign_refuses_bad_sets(reps, match):
    with pytest.raises(CascadeInputError, match=match) as err:
        cc.assign(X, np.asarray(reps, dtype=np.int64))
    assert err.value.param == "reps"


def test_assign_refuses_a_set_that_does_not_cover_at_tau():
    tau = 0.5
    reps = cc.ada(X, tau).reps
    assignment, sizes = cc.assign(X, reps, tau=tau)  # ADA's set covers
    assert assignment.tolist() == naive.assign(X, reps)[0]
    s = naive.similarity(X)
    dropped = reps[1:]  # without its first representative, some token is left out at tau
    uncovered = [i for i in range(12) if i not in dropped and s[i, dropped].max() < tau]
    assert uncovered
    with pytest.raises(CascadeInputError, match=f"do not cover token {uncovered[0]}: .* < tau = 0.5"):
        cc.assign(X, dropped, tau=tau)


def test_assign_refuses_a_token_similar_to_no_representative():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]])
    assert cc.assign(x, np.array([0, 1]))[0].tolist() == [0, 1, 0]
    with pytest.raises(CascadeInputError, match="do not cover token 1: .* similar to none of them"):
        cc.assign(x, np.array([0]))  # token 1 is orthogonal to token 0: argmax would pick 0 at random
