"""The chosen-rows ADA (SPEC §3.1) and the needed ledger (SPEC §6).

Both ways of computing ADA return the same set (checked against the plain
reference and the independent checker of ``tests/naive.py``) on every
backend, for ``r/T`` from 0.05 to 0.95 and ``T`` not a multiple of the block;
the backend hook (:meth:`Backend.greedy`) is what ADA and the cascade call;
runs time ADA both ways; the needed counts match an independent count.
"""

import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_backends import BACKENDS, as_backend_input, to_host

import cascade_core as cc
import naive
from cascade_core import load, sample_path, synthetic
from cascade_core._ada import ada_normalized, greedy_independent_set
from cascade_core._cascade import cascade_normalized
from cascade_core._gram import normalize
from cascade_core.backends import BaseBackend, get
from cascade_core.report.tables import needed_note

ALGORITHMS = ["chosen-rows", "full-gram"]
TAU = 0.5


@st.composite
def synthetic_layer(draw):
    """A synthetic layer with r/T near a drawn ratio in [0.05, 0.95], its T not a multiple of the block."""
    block = draw(st.integers(2, 60))
    n = block * draw(st.integers(0, 4)) + draw(st.integers(1, block - 1))
    ratio = draw(st.floats(0.05, 0.95))
    x = next(synthetic.layers(1, n, 32, rep_ratio=ratio, seed=draw(st.integers(0, 2**16))))
    return x, block


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=25)
@given(case=synthetic_layer())
def test_both_algorithms_give_the_same_set(backend, case):
    x, block = case
    assume(not naive.near_threshold(x, TAU))
    expected = naive.ada(x, TAU)
    xb = as_backend_input(x, backend)
    for algorithm in ALGORITHMS:
        for tile in (block, None):
            sel = cc.ada(xb, TAU, backend=backend, tile=tile, algorithm=algorithm)
            assert to_host(sel.reps) == expected, (algorithm, tile)
            assert sel.needed == naive.ada_needed(expected, x.shape[0])
    naive.check_representative(x, expected, TAU)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=15)
@given(case=synthetic_layer(), drift=st.integers(0, 2**16), keep=st.floats(0.1, 1.0))
def test_both_algorithms_give_the_same_cascade(backend, case, drift, keep):
    x, block = case
    rng = np.random.default_rng(drift)
    nxt = (x + 0.3 * rng.standard_normal(x.shape)).astype(np.float32)
    assume(not naive.near_threshold(x, TAU) and not naive.near_threshold(nxt, TAU))
    prev = naive.ada(x, TAU)
    prev = sorted(rng.choice(prev, size=max(1, round(keep * len(prev))), replace=False).tolist())
    expected = naive.cascade(prev, nxt, TAU)
    engine = get(backend)
    xh = normalize(engine.native(as_backend_input(nxt, backend)))
    prev_b = engine.native(as_backend_input(np.array(prev, dtype=np.int64), backend))
    for algorithm in ALGORITHMS:
        step = cascade_normalized(prev_b, xh, TAU, backend=engine, tile=block, algorithm=algorithm)
        assert to_host(step.reps) == expected["reps"], algorithm
        assert to_host(step.added) == expected["added"]
        assert (step.ops, step.needed) == (expected["ops"], expected["needed"])
    naive.check_representative(nxt, expected["reps"], TAU)


@pytest.mark.parametrize("tau", [0.5, 0.7, 0.9])
def test_bundled_sample_gives_the_same_sets_both_ways(tau):
    data = load(sample_path())
    runs = {a: cc.run(data.layers, tau, lengths=data.lengths, algorithm=a) for a in ALGORITHMS}
    chosen, full = runs["chosen-rows"], runs["full-gram"]
    assert chosen.params["algorithm"] == "chosen-rows" and full.params["algorithm"] == "full-gram"
    for key in chosen.sets:
        assert [s.tolist() for s in chosen.sets[key]] == [s.tolist() for s in full.sets[key]]
        assert [s.tolist() for s in chosen.reference_sets[key]] == [s.tolist() for s in full.reference_sets[key]]
    same = ("ops", "ops_ada", "needed", "needed_ada", "r", "removed", "added", "uncovered")
    for a, b in zip(chosen.records, full.records, strict=True):
        assert [getattr(a, f) for f in same] == [getattr(b, f) for f in same]


def test_needed_counts_of_the_sample_against_a_plain_count():
    data = load(sample_path())
    result = cc.run(data.layers, 0.7, lengths=data.lengths)
    for rec in result.records:
        (b,) = rec.slice
        position = result.layer_ids.index(rec.layer)
        ada_reps = result.reference_sets[(b,)][position].tolist()
        assert rec.needed_ada == naive.ada_needed(ada_reps, rec.T)
        if rec.method == "cascade":
            prev = result.sets[(b,)][position - 1].tolist()
            x = data.layers[rec.layer][b, : rec.T].astype(np.float32)
            step = naive.cascade(prev, x, 0.7)
            if step["reps"] == result.sets[(b,)][position].tolist():  # a tie within 1e-5 may differ
                assert rec.needed == step["needed"]
        else:
            assert rec.needed == rec.needed_ada


# ---- edge cases of SPEC §9 with both algorithms -----------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("tile", [None, 1, 2, 3])
def test_edge_cases(algorithm, tile):
    def reps(x, tau=0.5, **kw):
        return cc.ada(np.asarray(x), tau, algorithm=algorithm, tile=tile, **kw).reps.tolist()

    assert reps([[1.0, 2.0]]) == [0]  # T = 1
    assert reps(np.zeros((4, 3))) == [0, 1, 2, 3]  # zero rows link to nothing
    assert reps(np.ones((5, 3))) == [0]  # identical tokens
    assert reps([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], 0.99) == [0, 2]  # anti-correlated tokens are linked
    assert reps([[1.0, 0.0], [2.0, 0.0], [1.0, 1e-3]], 1.0) == [0, 2]  # tau = 1: parallel only
    assert reps(np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=np.float16), 0.9) == [0, 2]
    sel = cc.ada(np.ones((3, 2)), 0.5, algorithm=algorithm, tile=tile)
    assert (sel.ops, sel.needed) == (9, 2)


@pytest.mark.parametrize("backend", ["numpy", "numba", "array_api"])
def test_every_token_its_own_representative(backend):
    """r/T = 1: orthogonal tokens, every block scanned whole and every row kept."""
    x = np.eye(37)
    for algorithm in ALGORITHMS:
        sel = cc.ada(x, 0.5, backend=backend, tile=8, algorithm=algorithm)
        assert sel.reps.tolist() == list(range(37))
        assert sel.needed == 37 * 36 // 2


def test_bad_algorithm_names_the_parameter():
    with pytest.raises(cc.CascadeInputError, match="algorithm must be 'chosen-rows' or 'full-gram'") as err:
        cc.run(np.ones((2, 3, 2)), 0.5, algorithm="fast")
    assert err.value.param == "algorithm"
    for call in (
        lambda: cc.ada(np.ones((3, 2)), 0.5, algorithm=None),
        lambda: cc.cascade([0], np.ones((3, 2)), 0.5, algorithm=""),
    ):
        with pytest.raises(cc.CascadeInputError, match="algorithm must be"):
            call()


def test_cli_algorithm_flag(capsys):
    from cascade_core.cli import flag_message, main

    assert main(["analyze", "--algorithm", "full-gram", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "algorithm full-gram" in out and "needed savings" in out
    assert main(["analyze", "--algorithm", "fast"]) == 2
    assert "--algorithm" in capsys.readouterr().err
    assert main(["sweep", "--tau", "0.7,0.9", "--algorithm", "full-gram", "--format", "json"]) == 0
    sweep = json.loads(capsys.readouterr().out)
    assert sweep["schema"] == "cascade-core/sweep/2" and sweep["params"]["algorithm"] == "full-gram"
    assert all(row["needed_savings"] < 0 < row["savings"] for row in sweep["rows"])
    err = cc.CascadeInputError("algorithm must be 'chosen-rows' or 'full-gram', got 'x'", param="algorithm")
    assert flag_message(err).startswith("--algorithm must be")


# ---- the backend hook --------------------------------------------------------


class CountingBackend(BaseBackend):
    """A backend that replaces the whole chosen-rows scan (as a GPU backend would) and counts its calls."""

    name = "counting"
    block = 3

    def __init__(self):
        self.calls = []

    def scan_tile(self, sims, tau, start, excluded):
        return get("numpy").scan_tile(sims, tau, start, excluded)

    def greedy(self, xh, tau, block):
        self.calls.append((xh.shape[0], block))
        return np.array(naive.greedy(naive.similarity(xh), tau, list(range(xh.shape[0]))), dtype=np.int64)


def test_greedy_is_the_one_hook_of_ada_and_both_cascade_scans():
    x0, x1 = synthetic.stacked(2, 90, 16, rep_ratio=0.3, drift=0.3, seed=11)
    engine = CountingBackend()
    xh0, xh1 = normalize(x0), normalize(x1)
    prev = ada_normalized(xh0, TAU, backend=engine, tile=None).reps
    assert engine.calls == [(90, 3)]  # the backend's block when no tile is named
    step = cascade_normalized(prev, xh1, TAU, backend=engine, tile=7)
    assert step.uncovered.shape[0] > 0, "no addition scan: pick data with uncovered tokens"
    assert engine.calls[1:] == [(prev.shape[0], 7), (step.uncovered.shape[0], 7)]  # removal, addition
    engine.calls.clear()
    greedy_independent_set(xh0, TAU, backend=engine, tile=None, algorithm="full-gram")
    assert engine.calls == []  # the full-Gram scan goes tile by tile through scan_tile
    assert to_host(step.reps) == naive.cascade(prev.tolist(), x1, TAU)["reps"]


def test_default_greedy_matches_the_numba_kernel():
    """BaseBackend.greedy (array API, NumPy scan) and the compiled NumbaBackend.greedy, several blocks."""
    x = synthetic.stacked(1, 1000, 48, rep_ratio=0.3, seed=12)[0]
    assert not naive.near_threshold(x, TAU)
    xh = normalize(x)
    expected = naive.ada(x, TAU)
    for block in (1, 13, 256, 999, 1000, 4096):
        assert get("numpy").greedy(xh, TAU, block).tolist() == expected
        assert get("numba").greedy(xh, TAU, block).tolist() == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_kernels_match_their_python_bodies(dtype):
    from cascade_core.backends import numba as kernels

    rng = np.random.default_rng(13)
    cross = (2 * rng.random((50, 40)) - 1).astype(dtype)
    tau = dtype(0.9)
    compiled, plain = np.zeros(50, dtype=bool), np.zeros(50, dtype=bool)
    kernels._linked_rows(cross, tau, compiled)
    kernels._linked_rows.py_func(cross, tau, plain)
    assert compiled.tolist() == plain.tolist() == np.any(np.abs(cross) >= tau, axis=1).tolist()
    gram = (2 * rng.random((60, 60)) - 1).astype(dtype)
    out_c, out_p = np.empty(60, dtype=np.int64), np.empty(60, dtype=np.int64)
    count = kernels._scan_block(gram, tau, out_c)
    assert count == kernels._scan_block.py_func(gram, tau, out_p)
    expected = naive.greedy(np.abs(np.triu(gram, 1)) + np.abs(np.triu(gram, 1)).T, tau, list(range(60)))
    assert out_c[:count].tolist() == out_p[:count].tolist() == expected


# ---- runs: ADA timed both ways, the needed ledger in records and totals -----


def test_reference_run_times_ada_both_ways():
    x = synthetic.stacked(3, 200, 32, seed=14)
    result = cc.run(x, TAU)
    t = result.totals
    for rec in result.records:
        assert rec.seconds_ada_full_gram > 0 and rec.seconds_ada_chosen_rows > 0
        assert rec.needed_ada is not None
    assert result.records[0].seconds_ada_chosen_rows == result.records[0].seconds  # layer 0 ran ADA that way
    assert t.seconds_ada_full_gram == pytest.approx(sum(r.seconds_ada_full_gram for r in result.records))
    assert t.wall_savings_full_gram == pytest.approx(1 - t.seconds / t.seconds_ada_full_gram)
    assert t.wall_savings_chosen_rows == pytest.approx(1 - t.seconds / t.seconds_ada_chosen_rows)
    full = cc.run(x, TAU, algorithm="full-gram")
    assert full.records[0].seconds_ada_full_gram == full.records[0].seconds


def test_without_reference_the_needed_ledger_of_ada_is_known_on_ada_layers_only():
    x = synthetic.stacked(4, 120, 16, seed=15)
    result = cc.run(x, TAU, reference=False, recompute_every=2)
    for rec in result.records:
        assert rec.seconds_ada_full_gram is None and rec.seconds_ada_chosen_rows is None
        assert (rec.needed_ada is not None) == (rec.method == "ada")
        if rec.method == "ada":
            assert rec.needed_ada == rec.needed == naive.ada_needed(result.sets[()][rec.layer].tolist(), 120)
    t = result.totals
    assert t.needed_ada is None and t.needed_savings is None and t.wall_savings_full_gram is None
    assert t.needed == sum(rec.needed for rec in result.records)


def test_recompute_layer_pays_both_ledgers():
    from test_handmade import LAYER, NEXT

    second = cc.run([LAYER, NEXT], 0.9, recompute_ratio=0.5).records[1]
    assert second.method == "recompute"
    step = naive.cascade([0, 2, 4], NEXT, 0.9)
    assert second.needed == step["needed"] + naive.ada_needed(naive.ada(NEXT, 0.9), 6)
    assert second.needed_ada == naive.ada_needed(naive.ada(NEXT, 0.9), 6)


# ---- the needed savings: negative on the sample, positive where the sets differ ---


def two_stars(n_leaves=6, a=0.8):
    """Layer 0: tokens 0 .. n-2 parallel and token n-1 apart, so R_0 = {0, n-1}.

    Layer 1: token 0 is parallel to its group (tokens 1, 2); token n-1 is a
    centre that every later leaf links to (|cos| = a >= 0.7), while the leaves
    are pairwise unlinked (|cos| = a**2 < 0.7). ADA keeps 0 and every leaf; the
    cascade keeps {0, n-1} and covers all.
    """
    n = 3 + n_leaves + 1
    d = n_leaves + 2
    first = np.zeros((n, d))
    first[:-1, 0] = 1.0
    first[-1, 1] = 1.0
    second = np.zeros((n, d))
    second[:3, 0] = 1.0
    second[-1, 1] = 1.0
    for k in range(n_leaves):
        second[3 + k, 1] = a
        second[3 + k, 2 + k] = np.sqrt(1 - a * a)
    return np.stack([first, second])


def test_needed_savings_can_be_positive_when_the_cascade_keeps_fewer_tokens():
    x = two_stars()
    n = x.shape[1]
    result = cc.run(x, 0.7)
    first, second = result.records
    assert result.sets[()][1].tolist() == [0, n - 1]
    assert result.reference_sets[()][1].tolist() == [0, 3, 4, 5, 6, 7, 8]
    assert second.needed == naive.cascade([0, n - 1], x[1], 0.7)["needed"] == 1 + (n - 2) * 2
    assert second.needed_ada == naive.ada_needed([0, 3, 4, 5, 6, 7, 8], n) == 9 + 6 + 5 + 4 + 3 + 2 + 1
    assert result.totals.needed_savings > 0
    assert needed_note(result.totals.needed, result.totals.needed_ada) is None


def test_the_report_says_when_the_cascade_costs_more():
    note = needed_note(120, 100)
    assert note.startswith("The cascade costs more than an exact ADA on this input")
    assert "20.0 % more" in note
    assert needed_note(100, 100) is None and needed_note(100, None) is None


RATIOS = [0.05, 0.15, 0.3, 0.45, 0.6, 0.8, 0.95]


@pytest.fixture(scope="module")
def ratio_layers():
    """One synthetic layer per target r/T (T = 1000, not a multiple of the blocks used), with its ADA set."""
    out = {}
    for ratio in RATIOS:
        x = next(synthetic.layers(1, 1000, 64, rep_ratio=ratio, seed=int(100 * ratio)))
        assert not naive.near_threshold(x, TAU)
        out[ratio] = (x, naive.ada(x, TAU))
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ratio", RATIOS)
def test_same_set_from_r_over_t_005_to_095(backend, ratio, ratio_layers):
    x, expected = ratio_layers[ratio]
    assert abs(len(expected) / 1000 - ratio) < 0.05  # the data covers the range of r/T asked for
    xb = as_backend_input(x, backend)
    for algorithm, tile in (("chosen-rows", 64), ("chosen-rows", None), ("chosen-rows", 333), ("full-gram", None)):
        assert to_host(cc.ada(xb, TAU, backend=backend, tile=tile, algorithm=algorithm).reps) == expected


def test_reports_carry_both_ledgers(tmp_path, capsys):
    """Two synthetic inputs, one where the cascade needs more than exact ADA and one where it needs less."""
    import csv

    from cascade_core.cli import main

    np.save(tmp_path / "a.npy", synthetic.stacked(4, 150, 24, rep_ratio=0.45, seed=1))  # needed savings < 0
    np.save(tmp_path / "b.npy", synthetic.stacked(4, 150, 24, rep_ratio=0.3, seed=2))  # needed savings > 0
    out_dir = tmp_path / "r"
    assert (
        main(["analyze", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--tau", "0.5", "--out", str(out_dir)]) == 0
    )
    printed = capsys.readouterr().out
    report = json.loads((out_dir / "report.json").read_text())
    assert report["schema"] == "cascade-core/report/2" and report["params"]["algorithm"] == "chosen-rows"
    signs = []
    for entry in report["files"]:
        t = entry["totals"]
        assert t["needed"] == sum(rec["needed"] for rec in entry["records"])
        assert t["needed_ada"] == sum(rec["needed_ada"] for rec in entry["records"])
        assert t["needed_savings"] == pytest.approx(1 - t["needed"] / t["needed_ada"])
        assert [row["needed"] for row in entry["layers"]] == [rec["needed"] for rec in entry["records"]]
        assert t["wall_savings_chosen_rows"] == pytest.approx(1 - t["seconds"] / t["seconds_ada_chosen_rows"])
        signs.append(t["needed_savings"] < 0)
    assert signs == [True, False]
    pooled = report["aggregate"]["pooled_needed_savings"]
    totals = [entry["totals"] for entry in report["files"]]
    assert pooled == pytest.approx(1 - sum(t["needed"] for t in totals) / sum(t["needed_ada"] for t in totals))
    rows = list(csv.DictReader((out_dir / "layers.csv").open()))
    records = [rec for entry in report["files"] for rec in entry["records"]]
    assert [int(row["needed"]) for row in rows] == [rec["needed"] for rec in records]
    assert [int(row["needed_ada"]) for row in rows] == [rec["needed_ada"] for rec in records]
    assert all(float(row["seconds_ada_full_gram"]) > 0 and float(row["seconds_ada_chosen_rows"]) > 0 for row in rows)
    markdown = (out_dir / "report.md").read_text()
    assert "| Gram savings (paper ledger) | needed savings |" in markdown and "pooled needed savings" in printed
    # said in words for a.npy only, in the printed totals and in report.md
    assert printed.count("The cascade costs more than an exact ADA on this input") == 1
    assert "costs more than an exact ADA on `a.npy`" in markdown and "on `b.npy`" not in markdown
    assert ("Pooled over all files, the cascade costs more" in printed) == (pooled < 0)
