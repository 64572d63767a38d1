"""Reports a researcher reads: report.json against its schema, CSV, Markdown, plots, corpora, sweeps,
progress, and the rules that nothing is overwritten or left half-written."""

import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from cascade_core import CascadeInputError, synthetic
from cascade_core.cli import main, parse_taus

jsonschema = pytest.importorskip("jsonschema")
pytest.importorskip("matplotlib")

GOLDEN_MD = Path(__file__).parent / "golden" / "report_sample.md"
PLOTS = ["r_over_T.png", "jaccard.png", "gram_ops.png", "changes.png"]
CORPUS = ["corpus.json", "documents.parquet", "records"]  # the Parquet tables (issue 16)


def schema(name):
    return json.loads(resources.files("cascade_core.data").joinpath(name).read_text())


def cli(capsys, *argv, status=0):
    got = main(list(argv))
    out, err = capsys.readouterr()
    assert got == status, err
    return out, err


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def check_png(path: Path, size=(800, 450)):
    data = path.read_bytes()
    assert png_size(data) == size
    from matplotlib.image import imread

    pixels = imread(str(path))
    assert pixels.std() > 0.01, f"{path.name} is blank"
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50, f"{path.name} has almost no content"


def test_analyze_out_writes_every_file(tmp_path, capsys):
    out_dir = tmp_path / "report"
    out, _ = cli(capsys, "analyze", "--out", str(out_dir))
    names = sorted(p.name for p in out_dir.iterdir())
    views = [f"{kind}_s{b}.{ext}" for b in range(3) for kind, ext in (("view", "html"), ("tokens", "png"))]
    assert names == sorted(["report.json", "layers.csv", "report.md", *PLOTS, *views, *CORPUS])
    report = json.loads((out_dir / "report.json").read_text())
    jsonschema.validate(report, schema("report.schema.json"))
    assert report["files"][0]["input"]["format"] == "npz" and report["params"]["backend"] in ("numba", "numpy")
    for name in PLOTS:
        check_png(out_dir / name)
    csv_lines = (out_dir / "layers.csv").read_text().splitlines()
    assert csv_lines[0].startswith("file,layer,slice,method,T,r,")
    assert len(csv_lines) == 1 + 7 * 3
    assert "wrote" in out


def test_golden_markdown_summary(tmp_path, capsys):
    cli(capsys, "analyze", "--out", str(tmp_path / "r"))
    text = (tmp_path / "r" / "report.md").read_text()
    text = re.sub(r"`[0-9a-f]{12}`", "`<sha256>`", text)  # the package's file is the same, its path is not
    text = re.sub(r"backend `\w+`", "backend `<auto>`", text)
    if os.environ.get("CASCADE_UPDATE_GOLDEN"):
        GOLDEN_MD.write_text(text)
    assert text == GOLDEN_MD.read_text()


def test_attention_plot_and_schema(tmp_path, capsys):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    hidden = synthetic.stacked(4, 2 * 20, 16, seed=3).reshape(4, 2, 20, 16)
    tensors = {"hidden_states": hidden, **{n: rng.standard_normal((3, 2, 2, 20, 8)) for n in "qkv"}}
    path = tmp_path / "acts.safetensors"
    save_file(tensors, str(path))
    cli(capsys, "analyze", str(path), "--attention", "--causal", "--tau", "0.5", "--out", str(tmp_path / "o"))
    check_png(tmp_path / "o" / "attention_error.png")
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    jsonschema.validate(report, schema("report.schema.json"))
    assert "Attention against full" in (tmp_path / "o" / "report.md").read_text()


def test_existing_reports_are_never_overwritten(tmp_path, capsys):
    out_dir = tmp_path / "r"
    out_dir.mkdir()
    (out_dir / "report.md").write_text("my notes")
    _, err = cli(capsys, "analyze", "--out", str(out_dir), status=2)
    assert "report.md: exists; not overwritten (use --force)" in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["report.md"]
    assert (out_dir / "report.md").read_text() == "my notes"
    cli(capsys, "analyze", "--out", str(out_dir), "--force")
    assert (out_dir / "report.md").read_text().startswith("# cascade-core report")


def test_interrupt_during_the_run_writes_nothing(tmp_path, capsys, monkeypatch):
    import cascade_core._corpus as corpus_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(corpus_module, "analyze_activations", interrupted)
    _, err = cli(capsys, "analyze", "--out", str(tmp_path / "r"), "--json", str(tmp_path / "r.json"), status=130)
    assert "interrupted" in err
    assert list(tmp_path.iterdir()) == []


def test_interrupt_while_writing_leaves_no_partial_file(tmp_path, monkeypatch):
    from cascade_core import _io as cio

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(cio.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cio.write_atomic(tmp_path / "report.json", "{}")
    assert list(tmp_path.iterdir()) == []


def test_sigint_in_a_real_process(tmp_path):
    path = tmp_path / "slow.npy"
    np.save(path, synthetic.stacked(200, 2000, 16, seed=4))  # several seconds of work
    out_dir = tmp_path / "r"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cascade_core.cli", "analyze", str(path), "--out", str(out_dir), "--backend", "numpy"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Interrupt once the run is under way: after one second of the process's own CPU time (its imports
    # take about 0.3 s), not of wall time, which a loaded machine stretches.
    import psutil

    deadline = time.monotonic() + 60
    while sum(psutil.Process(proc.pid).cpu_times()[:2]) < 1.0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "finished before the interrupt: make the input larger"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    leftovers = list(out_dir.iterdir()) if out_dir.exists() else []
    assert not [p for p in leftovers if p.name.endswith(".tmp")]
    assert not leftovers  # interrupted before the end: no report at all


def test_corpus_aggregates_and_keeps_each_file(tmp_path, capsys):
    for seed in range(3):
        np.save(tmp_path / f"prompt{seed}.npy", synthetic.stacked(4, 60, 16, seed=seed))
    out, _ = cli(capsys, "analyze", str(tmp_path / "prompt*.npy"), "--tau", "0.5", "--json", str(tmp_path / "c.json"))
    assert "across 3 files" in out and "pooled Gram savings" in out
    report = json.loads((tmp_path / "c.json").read_text())
    jsonschema.validate(report, schema("report.schema.json"))
    assert [Path(f["input"]["path"]).name for f in report["files"]] == ["prompt0.npy", "prompt1.npy", "prompt2.npy"]
    savings = [f["totals"]["savings"] for f in report["files"]]
    stats = report["aggregate"]["savings"]
    assert stats["min"] == min(savings) and stats["max"] == max(savings)
    assert stats["mean"] == pytest.approx(np.mean(savings)) and stats["std"] == pytest.approx(np.std(savings))
    _, err = cli(capsys, "analyze", str(tmp_path / "nothing*.npy"), status=2)
    assert "no file matches this pattern" in err


def test_format_json_prints_the_report(capsys):
    out, err = cli(capsys, "analyze", "--format", "json")
    report = json.loads(out)
    jsonschema.validate(report, schema("report.schema.json"))
    assert err == ""


def test_progress_only_on_a_terminal(capsys, monkeypatch):
    _, err = cli(capsys, "analyze")
    assert err == ""  # not a terminal: silent
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    _, err = cli(capsys, "analyze")
    assert "layer 7/7" in err and "[1/1] minilm_sample.npz" in err
    _, err = cli(capsys, "analyze", "--quiet")
    assert err == ""


def test_sweep_table_files_and_plot(tmp_path, capsys):
    out, _ = cli(capsys, "sweep", "--tau", "0.6:0.8:0.1", "--out", str(tmp_path / "s"))
    assert re.search(r"^\s*0\.6\s+[\d.]+%", out, re.MULTILINE) and "paper: savings 22-63 %" in out
    sweep = json.loads((tmp_path / "s" / "sweep.json").read_text())
    jsonschema.validate(sweep, schema("sweep.schema.json"))
    assert [row["tau"] for row in sweep["rows"]] == [0.6, 0.7, 0.8]
    savings = [row["savings"] for row in sweep["rows"]]
    assert savings == sorted(savings, reverse=True)  # a higher tau keeps more tokens: less saved
    check_png(tmp_path / "s" / "tradeoff.png")
    assert (
        (tmp_path / "s" / "sweep.csv")
        .read_text()
        .startswith("tau,savings,needed_savings,wall_savings_full_gram,wall_savings_chosen_rows,mean_jaccard")
    )


def test_sweep_with_attention_and_json(tmp_path, capsys):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(1)
    hidden = synthetic.stacked(3, 30, 16, seed=5).reshape(3, 1, 30, 16)
    save_file(
        {"hidden_states": hidden, **{n: rng.standard_normal((2, 1, 2, 30, 8)) for n in "qkv"}},
        str(tmp_path / "a.safetensors"),
    )
    out, _ = cli(
        capsys, "sweep", str(tmp_path / "a.safetensors"), "--tau", "0.5,1.0", "--attention", "--format", "json"
    )
    sweep = json.loads(out)
    errors = [row["rr_error"] for row in sweep["rows"]]
    assert errors[1] < 1e-12 < errors[0]  # tau = 1 keeps every token: rr is exact


def test_parse_taus():
    assert parse_taus("0.5:0.95:0.05") == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    assert parse_taus("0.7,0.9") == [0.7, 0.9]
    for bad in ("0.5:0.9:0", "a:b:c", "0.9:0.5:0.1"):
        with pytest.raises(CascadeInputError):
            parse_taus(bad)
