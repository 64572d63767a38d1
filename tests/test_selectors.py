"""The selectors of SPEC §10 against slow literal references (tests/naive.py), hand-made cases,
properties (hypothesis), networkx as an oracle of maximal independent sets, and the registry."""

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import cascade_core as cc
import naive
from cascade_core import CascadeInputError, selectors
from cascade_core.selectors.pivoted_qr import qr_flops
from cascade_core.selectors.topk_reuse import attention_mass

taus = st.floats(min_value=0.05, max_value=1.0, allow_nan=False)
BUDGET_NAMES = ["tome", "divprune", "pivoted-qr", "norm-topk", "random"]


@st.composite
def activations(draw, min_tokens=1, max_tokens=24, dtypes=(np.float32, np.float64)):
    """(T, d) activations on a small integer grid: parallel, zero, opposite tokens and exact ties abound."""
    n = draw(st.integers(min_tokens, max_tokens))
    d = draw(st.integers(1, 5))
    grid = draw(arrays(np.int8, (n, d), elements=st.integers(-3, 3)))
    return grid.astype(draw(st.sampled_from(dtypes)))


def apply(name, x, **kwargs):
    return selectors.apply(selectors.make(name), x, **kwargs)


def check_groups(pick, n):
    """Every token's group is a member of the set; members are their own; the groups partition the tokens."""
    reps, groups = pick.reps.tolist(), pick.groups.tolist()
    assert reps == sorted(set(reps)) and all(0 <= j < n for j in reps)
    assert len(groups) == n and set(groups) <= set(reps)
    assert all(groups[j] == j for j in reps)


def threshold_graph(x, tau):
    """The graph of SPEC §2 from a float64 Gram, built by networkx."""
    s = naive.similarity(x)
    graph = nx.Graph()
    graph.add_nodes_from(range(s.shape[0]))
    graph.add_edges_from((i, j) for i in range(s.shape[0]) for j in range(i + 1, s.shape[0]) if s[i, j] >= tau)
    return graph


def assert_maximal_independent(x, reps, tau):
    """networkx, seeded with the set, cannot extend it: it is a maximal independent set (SPEC §2)."""
    graph = threshold_graph(x, tau)
    reps = [int(j) for j in reps]
    for seed in range(3):
        assert sorted(nx.maximal_independent_set(graph, nodes=reps, seed=seed)) == reps


# ---- the oracle: ADA's, the cascade's and ada-degree's sets are maximal independent sets ----------


@given(activations(max_tokens=30), taus, st.data())
def test_networkx_oracle_ada_cascade_ada_degree(x, tau, data):
    assume(not naive.near_threshold(x, tau))
    assert_maximal_independent(x, cc.ada(x, tau).reps, tau)
    prev = sorted(data.draw(st.sets(st.integers(0, x.shape[0] - 1))))
    assert_maximal_independent(x, cc.cascade(np.array(prev, dtype=np.int64), x, tau).reps, tau)
    assert_maximal_independent(x, apply("ada-degree", x, tau=tau).reps, tau)


def test_networkx_oracle_refuses_a_set_that_is_not():
    """The oracle can fail: a linked pair is not independent, a set short of covering is not maximal."""
    x = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0]])
    with pytest.raises(nx.NetworkXUnfeasible):
        assert_maximal_independent(x, [0, 1], 0.9)
    with pytest.raises(AssertionError):
        assert_maximal_independent(x, [0], 0.9)


# ---- ada-degree -------------------------------------------------------------------------------------


@given(activations(), taus)
def test_ada_degree_against_reference(x, tau):
    pick = apply("ada-degree", x, tau=tau)
    naive.check_representative(x, pick.reps, tau)
    check_groups(pick, x.shape[0])
    assert pick.cost == x.shape[0] ** 2
    if not naive.near_threshold(x, tau):
        assert pick.reps.tolist() == naive.ada_degree(x, tau)


def test_ada_degree_takes_the_hub_where_ada_takes_the_first_token():
    """A hub linked to four tokens that are pairwise unlinked (tau 0.9: angles up to 25.8 degrees)."""
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    x = np.array([[c, s, 0], [1, 0, 0], [c, -s, 0], [c, 0, s], [c, 0, -s]])
    assert cc.ada(x, 0.9).reps.tolist() == [0, 2, 3, 4]
    pick = apply("ada-degree", x, tau=0.9)
    assert pick.reps.tolist() == [1] and pick.groups.tolist() == [1] * 5 and pick.cost == 25


# ---- tome -------------------------------------------------------------------------------------------


def angles(*degrees):
    return np.array([[np.cos(np.radians(a)), np.sin(np.radians(a))] for a in degrees])


def test_tome_rounds_by_hand():
    """Six unit tokens at 0, 10, 50, 62, 90 and 95 degrees (|cos| of the angle between them).

    r = 4, one round: A = {0, 50, 90}, B = {10, 62, 95}; picks 0->10 (cos 10), 50->62 (cos 12), 90->95
    (cos 5); k = min(3, 6 - 4) = 2 merges, the most similar: 90->95 and 0->10. Cost 3 * 3.
    r = 2: the first round merges all three (k = 3): {0,10}, {50,62}, {90,95}; the second has
    A = {5 deg, 92.5 deg} (the groups' mean directions), B = {56 deg}; k = 1: 92.5->56 (cos 36.5) beats
    5->56 (cos 51), so {50, 62, 90, 95} is one group, member 2. Cost 9 + 2 * 1.
    """
    x = angles(0, 10, 50, 62, 90, 95)
    pick = apply("tome", x, r=4)
    assert pick.reps.tolist() == [0, 2, 3, 4]
    assert pick.groups.tolist() == [0, 0, 2, 3, 4, 4] and pick.cost == 9
    pick = apply("tome", x, r=2)
    assert pick.reps.tolist() == [0, 2]
    assert pick.groups.tolist() == [0, 0, 2, 2, 2, 2] and pick.cost == 11
    for r in (2, 4):
        expected = naive.tome(x, r)
        assert not expected["ties"]
        got = apply("tome", x, r=r)
        assert (got.reps.tolist(), got.groups.tolist(), got.cost) == (
            expected["reps"],
            expected["groups"],
            expected["cost"],
        )


def test_tome_ties_go_to_the_lower_index():
    """Orthogonal groups (similarity exactly 0): the lower A merges, into the lower B."""
    x = np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 1.0, 0], [0, 0, 1.0], [0, 0, 1.0]])
    pick = apply("tome", x, r=2)
    # Round 1 merges the three pairs (similarity 1); round 2: A = {0,1} and {4,5}, B = {2,3}, both at 0.
    assert pick.reps.tolist() == [0, 4] and pick.groups.tolist() == [0, 0, 0, 0, 4, 4] and pick.cost == 11


@given(activations(max_tokens=20), st.data())
def test_tome_against_reference(x, data):
    n = x.shape[0]
    r = data.draw(st.integers(1, n))
    pick = apply("tome", x, r=r)
    check_groups(pick, n)
    assert pick.reps.shape[0] == r
    groups = pick.groups.tolist()
    assert all(min(i for i in range(n) if groups[i] == j) == j for j in pick.reps.tolist())  # member = lowest
    expected = naive.tome(x, r)
    assert pick.cost == expected["cost"]  # the rounds' sizes do not depend on which groups merge
    if not expected["ties"] and x.dtype == np.float64:
        assert pick.reps.tolist() == expected["reps"] and groups == expected["groups"]


def test_tome_on_random_float32_layers_matches_the_reference():
    rng = np.random.default_rng(5)
    for _ in range(20):
        x = rng.standard_normal((int(rng.integers(2, 40)), int(rng.integers(2, 12))))
        r = int(rng.integers(1, x.shape[0] + 1))
        expected = naive.tome(x, r)
        assert not expected["ties"]
        for dtype in (np.float32, np.float64):
            pick = apply("tome", x.astype(dtype), r=r)
            assert pick.reps.tolist() == expected["reps"] and pick.groups.tolist() == expected["groups"]


# ---- divprune ---------------------------------------------------------------------------------------


@given(activations(max_tokens=20), st.data())
def test_divprune_against_reference(x, data):
    n = x.shape[0]
    r = data.draw(st.integers(1, n))
    pick = apply("divprune", x, r=r)
    check_groups(pick, n)
    assert pick.reps.shape[0] == r and pick.cost == n * n + n * r
    expected, ties = naive.divprune(x, r)
    if not ties and x.dtype == np.float64:
        assert pick.reps.tolist() == expected


def test_divprune_by_hand():
    """Unit tokens at 0, 3, 40, 80 and 87 degrees (similarity: |cos| of the angle between them).

    Nearest-neighbour similarities: cos 3, cos 3, cos 37, cos 7, cos 7: 40 degrees is the farthest from its
    nearest neighbour. Then the least similar to it, 87 (cos 47); then 0 (cos 40 to the nearest chosen,
    against cos 37 for 3 and cos 7 for 80); then 80 (cos 7 against cos 3).
    """
    x = angles(0, 3, 40, 80, 87)
    assert [apply("divprune", x, r=r).reps.tolist() for r in (1, 2, 3, 4)] == [[2], [2, 4], [0, 2, 4], [0, 2, 3, 4]]
    assert apply("divprune", x, r=3).groups.tolist() == [0, 0, 2, 4, 4]


# ---- pivoted-qr -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_pivoted_qr_against_reference(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(3, 40)), int(rng.integers(2, 24))
    x = rng.standard_normal((n, d))
    for r in sorted({1, 2, min(n, d) // 2 + 1, min(n, d)}):
        expected, ties = naive.pivoted_qr(x, r)
        assert not ties
        for dtype in (np.float32, np.float64):
            pick = apply("pivoted-qr", x.astype(dtype), r=r)
            assert pick.reps.tolist() == expected
            assert pick.cost == qr_flops(d, n, r)


def test_pivoted_qr_first_pivot_is_the_first_nonzero_token():
    """Every unit column ties at the first step: the lowest index wins, and a zero token never does."""
    x = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    assert apply("pivoted-qr", x, r=1).reps.tolist() == [1]
    assert apply("pivoted-qr", x, r=3).reps.tolist() == [1, 2, 4]  # then e1 and e3: residual norm 1 each


def test_qr_flops_by_hand():
    # Householder steps on a 3 x 4 matrix: 4 * (3*4 + 2*3 + 1*2) = 80; the first two: 4 * (12 + 6) = 72.
    assert qr_flops(3, 4, 3) == 80 and qr_flops(3, 4, 2) == 72 and qr_flops(3, 4, 9) == 80
    # Golub and Van Loan's closed form for m = n = r: 4/3 n^3 + O(n^2).
    assert qr_flops(200, 200, 200) == pytest.approx(4 / 3 * 200**3, rel=0.02)


def test_pivoted_qr_needs_scipy_geqp3(monkeypatch):
    xps = pytest.importorskip("array_api_strict")
    x = xps.asarray(np.eye(4))
    with pytest.raises(CascadeInputError, match="pivoted-qr.*backend 'array_api'") as info:
        apply("pivoted-qr", x, r=2)
    assert info.value.param == "backend"


# ---- topk-reuse, norm-topk, random ------------------------------------------------------------------


@pytest.mark.parametrize("causal", [False, True])
def test_attention_mass_against_reference(causal):
    rng = np.random.default_rng(3)
    q, k = rng.standard_normal((3, 17, 4)), rng.standard_normal((3, 17, 4))
    np.testing.assert_allclose(attention_mass(q, k, causal=causal, tile=5), naive.attention_mass(q, k, causal))
    # Each query's probabilities sum to 1, so the masses sum to H * T.
    assert float(attention_mass(q, k, causal=causal).sum()) == pytest.approx(3 * 17)


@pytest.mark.parametrize("causal", [False, True])
def test_topk_reuse_anchor_and_reuse(causal):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20, 6))
    q, k = rng.standard_normal((2, 20, 5)), rng.standard_normal((2, 20, 5))
    selector = selectors.make("topk-reuse:every=2")
    expected, ties = naive.top_r(naive.attention_mass(q, k, causal), 7)
    assert not ties
    anchor = selectors.apply(selector, x, r=7, q=q, k=k, causal=causal, position=0)
    assert anchor.reps.tolist() == expected and anchor.cost == 2 * 20 * 20
    # Position 1 is no anchor: the anchor's set, whatever the budget, at no cost.
    reused = selectors.apply(selector, x, r=3, q=q, k=k, causal=causal, position=1, state=anchor.state)
    assert reused.reps.tolist() == expected and reused.cost == 0
    assert selectors.apply(selector, x, r=3, q=q, k=k, position=2, state=anchor.state).reps.shape[0] == 3


def test_topk_reuse_needs_q_and_k():
    with pytest.raises(CascadeInputError, match="needs q, k") as info:
        apply("topk-reuse", np.eye(3), r=1)
    assert info.value.param == "q"
    with pytest.raises(CascadeInputError, match="topk-reuse:every must be an integer >= 1"):
        selectors.make("topk-reuse:every=0")


@given(activations(), st.data())
def test_norm_topk_against_reference(x, data):
    r = data.draw(st.integers(1, x.shape[0]))
    pick = apply("norm-topk", x, r=r, center=True)  # the raw norms, whatever the centring
    check_groups(pick, x.shape[0])
    expected, ties = naive.norm_topk(x, r)
    if not ties:
        assert pick.reps.tolist() == expected
    assert pick.cost == x.shape[0]


def test_norm_topk_ties_to_the_lower_index():
    x = np.array([[1.0, 0], [0, 2.0], [2.0, 0], [0, 1.0]])
    assert apply("norm-topk", x, r=1).reps.tolist() == [1]
    assert apply("norm-topk", x, r=3).reps.tolist() == [0, 1, 2]


def test_random_is_seeded_uniform_and_of_the_budget():
    x = np.random.default_rng(0).standard_normal((50, 4))
    a = apply("random", x, r=10)
    assert a.reps.tolist() == apply("random", x, r=10).reps.tolist()
    assert a.reps.tolist() != apply("random:seed=1", x, r=10).reps.tolist()
    check_groups(a, 50)
    assert a.reps.shape[0] == 10 and a.cost == 0
    # Uniform: over many seeds every token is drawn about r/T of the time.
    counts = np.zeros(50)
    for seed in range(400):
        counts[apply(f"random:seed={seed}", x, r=10).reps] += 1
    assert counts.min() > 0.5 * 80 and counts.max() < 1.5 * 80


# ---- every budget selector: properties ---------------------------------------------------------------


@pytest.mark.parametrize("name", BUDGET_NAMES)
@given(x=activations(max_tokens=16), data=st.data())
def test_budget_selectors_give_increasing_sets_of_the_budget(name, x, data):
    n, d = x.shape
    r = data.draw(st.integers(1, n if name != "pivoted-qr" else min(n, d)))
    pick = apply(name, x, r=r)
    assert pick.reps.dtype == np.int64 and pick.reps.shape == (r,)
    check_groups(pick, n)


@pytest.mark.parametrize("name", BUDGET_NAMES + ["topk-reuse"])
def test_budget_selector_without_r_is_refused(name):
    x = np.eye(4)
    kwargs = {"q": np.ones((1, 4, 2)), "k": np.ones((1, 4, 2))} if name == "topk-reuse" else {}
    with pytest.raises(CascadeInputError, match="takes a budget r") as info:
        apply(name, x, **kwargs)
    assert info.value.param == "r"
    with pytest.raises(CascadeInputError, match="r must be an integer in 1 .. T = 4"):
        apply(name, x, r=5, **kwargs)


@pytest.mark.parametrize("name", ["ada", "cascade", "ada-degree"])
def test_threshold_selector_without_tau_is_refused(name):
    with pytest.raises(CascadeInputError, match="takes the threshold tau") as info:
        apply(name, np.eye(3))
    assert info.value.param == "tau"


def test_selectors_on_array_api_strict():
    """Written once against the array API: the same sets under array-api-strict, on its device."""
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((30, 5))
    q, k = rng.standard_normal((2, 30, 4)), rng.standard_normal((2, 30, 4))
    device = xps.Device("device1")
    for name in ["ada", "cascade", "ada-degree", "tome", "divprune", "norm-topk", "random", "topk-reuse"]:
        kwargs = {"tau": 0.5, "r": 9}
        if name == "topk-reuse":
            kwargs.update(q=q, k=k)
        strict_kwargs = {**kwargs}
        if name == "topk-reuse":
            strict_kwargs.update(q=xps.asarray(q, device=device), k=xps.asarray(k, device=device))
        expected = apply(name, x, **kwargs)
        got = apply(name, xps.asarray(x, device=device), **strict_kwargs)
        assert got.reps.device == device and got.groups.device == device
        host = xps.Device("CPU_DEVICE")
        assert np.asarray(got.reps.to_device(host)).tolist() == expected.reps.tolist(), name
        assert np.asarray(got.groups.to_device(host)).tolist() == expected.groups.tolist(), name


# ---- the registry -------------------------------------------------------------------------------------


def test_registry_holds_every_selector_of_spec_10():
    assert selectors.names()[:9] == [
        "ada", "cascade", "ada-degree", "tome", "divprune", "pivoted-qr", "topk-reuse", "norm-topk", "random",
    ]  # fmt: skip
    for name in selectors.names():
        cls = selectors.get(name)
        assert cls.name == name and cls.takes in ("budget", "tau") and cls.source
    assert selectors.make("random:seed=7").seed == 7
    assert selectors.make("random:seed=7").label() == "random:seed=7"
    assert selectors.make("topk-reuse").label() == "topk-reuse"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("tomee", "unknown selector 'tomee'"),
        ("tome:r=3", "'tome' has no parameter 'r'"),
        ("random:seed", "has no parameter 'seed'"),
        ("random:seed=x", "seed must be an integer"),
        ("", "a selector is a name"),
    ],
)
def test_make_refuses_bad_specs(spec, message):
    with pytest.raises(CascadeInputError, match=message) as info:
        selectors.make(spec)
    assert info.value.param == "selectors"


def test_users_register_their_own():
    @dataclass
    class LastR(selectors.Selector):
        """The last r tokens."""

        name = "test-last-r"
        takes = "budget"
        cost_unit = "inner products"

        def select(self, layer, state):
            xp = selectors.array_namespace(layer.xh)
            n = layer.n_tokens
            return selectors.Pick(xp.arange(n - layer.r, n, dtype=xp.int64), cost=1, state=(state or 0) + 1)

    selectors.register(LastR)
    assert "test-last-r" in selectors.names()
    with pytest.raises(CascadeInputError, match="already registered"):

        @dataclass
        class Other(LastR):
            pass

        selectors.register(Other)
    result = cc.compare(np.random.default_rng(0).standard_normal((3, 10, 4)), 0.5, selectors=["ada", "test-last-r"])
    ada_sizes = [rec.r for rec in result.records if rec.selector == "ada"]
    mine = [rec for rec in result.records if rec.selector == "test-last-r"]
    assert [rec.r for rec in mine] == ada_sizes and [rec.budget for rec in mine] == ada_sizes
    assert all(result.sets["test-last-r"][()][i].tolist() == list(range(10 - n, 10)) for i, n in enumerate(ada_sizes))


def test_register_refuses_what_is_not_a_selector():
    with pytest.raises(CascadeInputError, match="Selector subclass"):
        selectors.register(object)

    class NoName(selectors.Selector):
        pass

    with pytest.raises(CascadeInputError, match="needs a name"):
        selectors.register(NoName)

    class BadTakes(selectors.Selector):
        name = "test-bad"
        takes = "both"

    with pytest.raises(CascadeInputError, match="takes must be"):
        selectors.register(BadTakes)


@pytest.mark.parametrize(
    "reps, groups, cost, message",
    [
        ([2, 1], None, 0, "increasing token indices in 0 .. 3"),
        ([1, 4], None, 0, "increasing token indices in 0 .. 3"),
        ([], None, 0, "nonempty 1-d index array"),
        ([0, 2], [0, 0, 1, 2], 0, "groups must give every token a member"),
        ([0, 2], [0, 0, 0, 0], 0, "groups must give every token a member"),  # 2 is not its own
        ([0, 2], None, -1, "cost must be an int >= 0"),
        ([0, 2], None, 1.5, "cost must be an int >= 0"),
    ],
)
def test_a_selectors_pick_is_checked(reps, groups, cost, message):
    @dataclass
    class Broken(selectors.Selector):
        name = "test-broken"
        takes = "budget"

        def select(self, layer, state):
            xp = selectors.array_namespace(layer.xh)
            as_array = None if groups is None else xp.asarray(groups, dtype=xp.int64)
            return selectors.Pick(xp.asarray(reps, dtype=xp.int64), groups=as_array, cost=cost)

    with pytest.raises(CascadeInputError, match=message) as info:
        selectors.apply(Broken(), np.eye(4), r=2)
    assert info.value.param == "selectors"
