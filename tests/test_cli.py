"""`cascade-core analyze`: the golden run on the bundled sample, JSON reports, safe writes."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

import cascade_core as cc
import naive
from cascade_core import load, sample_path
from cascade_core.cli import main

GOLDEN = Path(__file__).parent / "golden" / "analyze_sample.txt"
TIME_LINE = re.compile(r"^selection time.*$", re.MULTILINE)
WALL_NOTE = re.compile(r"^Wall-clock savings .*\n", re.MULTILINE)


def run_cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


def test_golden_analyze_on_bundled_sample(capsys):
    """The whole output, but for the wall-time line; CASCADE_UPDATE_GOLDEN=1 rewrites it."""
    out = TIME_LINE.sub("selection time: <not compared>", run_cli(capsys, "analyze"))
    out = WALL_NOTE.sub("", out)  # printed or not depending on the times (tests/test_outputs_text.py)
    if os.environ.get("CASCADE_UPDATE_GOLDEN"):
        GOLDEN.write_text(out)
    assert out == GOLDEN.read_text()


@pytest.mark.parametrize("tau", [0.7, 0.9])
def test_every_set_of_the_sample_is_representative(tau):
    data = load(sample_path())
    result = cc.run(data.layers, tau, lengths=data.lengths)
    assert result.totals.layers == 7 and result.totals.slices == 3
    for (b,), layer_sets in result.sets.items():
        n = int(data.lengths[b])
        for layer, reps in enumerate(layer_sets):
            x = data.layers[layer][b, :n].astype(np.float32)
            naive.check_representative(x, reps, tau)
            naive.check_representative(x, result.reference_sets[(b,)][layer], tau)


def test_json_report(tmp_path, capsys):
    target = tmp_path / "report.json"
    run_cli(capsys, "analyze", "--tau", "0.8", "--json", str(target))
    report = json.loads(target.read_text())
    assert report["schema"] == "cascade-core/report/2" and report["params"]["tau"] == 0.8
    (entry,) = report["files"]
    assert entry["input"]["shape"] == [7, 3, 96, 384] and len(entry["input"]["sha256"]) == 64
    assert len(entry["records"]) == 7 * 3
    totals = entry["totals"]
    ops = sum(rec["ops"] for rec in entry["records"])
    ops_ada = sum(rec["ops_ada"] for rec in entry["records"])
    assert totals["ops"] == ops and totals["ops_ada"] == ops_ada
    assert totals["savings"] == pytest.approx(1 - ops / ops_ada)
    assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"


def test_json_report_is_never_overwritten(tmp_path, capsys):
    target = tmp_path / "report.json"
    target.write_text("precious")
    assert main(["analyze", "--json", str(target)]) == 2
    assert "exists; not overwritten (use --force)" in capsys.readouterr().err
    assert target.read_text() == "precious"
    run_cli(capsys, "analyze", "--json", str(target), "--force")
    assert json.loads(target.read_text())["schema"] == "cascade-core/report/2"


def test_json_never_replaces_the_input(tmp_path, capsys):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).standard_normal((2, 5, 3)))
    before = path.read_bytes()
    assert main(["analyze", str(path), "--json", str(path), "--force"]) == 2
    assert "a report would overwrite an input file" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_bad_input_writes_nothing(tmp_path, capsys):
    path = tmp_path / "nan.npy"
    x = np.ones((2, 5, 3))
    x[1, 2, 0] = np.nan
    np.save(path, x)
    target = tmp_path / "report.json"
    assert main(["analyze", str(path), "--json", str(target)]) == 2
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.npy"]


def test_npy_is_read_layer_by_layer(tmp_path):
    path = tmp_path / "x.npy"
    x = np.random.default_rng(0).standard_normal((4, 20, 5)).astype(np.float16)
    np.save(path, x)
    data = load(path)
    assert not isinstance(data.layers, np.ndarray)  # a lazy stack, not the data
    assert data.layers.shape == (4, 20, 5) and len(data.layers) == 4
    assert np.array_equal(data.layers[2], x[2])
    result = cc.run(data.layers, 0.5)
    assert result.totals.layers == 4


def test_options_reach_the_run(capsys):
    out = run_cli(capsys, "analyze", "--tau", "0.9", "--no-reference", "--center", "--recompute-every", "3")
    assert "tau 0.9, center on" in out
    assert "ada" in out.splitlines()[7]  # layer 3 is sent back to ADA
    assert re.search(r"^mean agreement with ADA +-$", out, re.MULTILINE)


# ---- found by a new user's trial (issue 12's follow-up) ----------------------------------------


def test_layers_error_quotes_what_the_user_wrote(tmp_path, capsys):
    from cascade_core._layout import layer_indices

    with pytest.raises(cc.CascadeInputError, match=r"layers '9:' selects no layer of 4"):
        layer_indices("9:", 4)
    path = tmp_path / "small.npy"
    np.save(path, np.random.default_rng(0).standard_normal((4, 20, 8), dtype=np.float32))
    assert main(["analyze", str(path), "--layers", "3:1"]) == 2
    err = capsys.readouterr().err
    assert "--layers '3:1' selects no layer of 4" in err and "slice(" not in err


def test_export_hf_on_a_folder_without_a_model_says_so(tmp_path, capsys):
    pytest.importorskip("transformers")
    (tmp_path / "empty").mkdir()
    (tmp_path / "t.txt").write_text("hello world")
    out = tmp_path / "o.safetensors"
    assert main(["export-hf", str(tmp_path / "empty"), "--text", str(tmp_path / "t.txt"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "empty: not a model directory: no config.json" in err[0]
    assert not out.exists()


def test_a_closed_pipe_stops_quietly(tmp_path, monkeypatch, capsys):
    """`cascade-core ... | head`: the reader is gone; exit 141 without an error line (not ': Broken pipe')."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    stdout = os.fdopen(write_end, "w", buffering=1)
    monkeypatch.setattr("sys.stdout", stdout)
    try:
        assert main(["info", str(sample_path())]) == 141
    finally:
        stdout.close()
    assert capsys.readouterr().err == ""
