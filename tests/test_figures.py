"""The benchmark harness (asv_bench/figures.py): its timing wrapper, a quick run, the rendered tables."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import cascade_core as cc
from cascade_core import synthetic
from cascade_core._ada import ada_normalized
from cascade_core._gram import normalize

HARNESS = Path(__file__).resolve().parent.parent / "asv_bench" / "figures.py"


@pytest.fixture(scope="module")
def figures():
    spec = importlib.util.spec_from_file_location("figures", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_timed_backend_times_gram_and_scans_without_changing_results(figures):
    xh = normalize(synthetic.stacked(1, 300, 32, rep_ratio=0.4)[0])
    plain = ada_normalized(xh, 0.5, backend=cc.backends.get("numpy"), tile=64)
    timed = figures.TimedBackend(cc.backends.get("numpy"))
    got = ada_normalized(xh, 0.5, backend=timed, tile=64, algorithm="full-gram")
    assert got.reps.tolist() == plain.reps.tolist()
    assert timed.gram > 0 and timed.scan > 0 and timed.greedy_seconds == 0
    got = ada_normalized(xh, 0.5, backend=timed, tile=64)  # the chosen-rows scan: one greedy call
    assert got.reps.tolist() == plain.reps.tolist()
    assert timed.greedy_seconds > 0
    assert timed.name == "numpy" and timed.block == cc.backends.get("numpy").block  # the rest is the backend's


def test_quick_cpu_run_and_its_markdown(figures, tmp_path):
    report = {"cpu": figures.cpu_figures(**figures.QUICK["cpu"])}
    fig = report["cpu"]
    assert fig["shape"] == {"L": 3, "T": 512, "d": 64, "tau": 0.5, "dtype": "float32"}
    for key in ("ada_layer_over_product", "numba_scan_speedup", "library_speedup_over_naive",
                "library_speedup_over_naive_015", "chosen_rows_speedup_045", "chosen_rows_speedup_015"):  # fmt: skip
        assert np.isfinite(fig[key]) and fig[key] > 0, key
    assert np.isfinite(fig["wall_over_op_savings"])  # tiny layers: overhead-bound, any sign
    assert fig["needed_savings"] < 0.5 and np.isfinite(fig["wall_savings_vs_chosen_rows"])
    for backend in ("numba", "numpy"):
        rows = fig["chosen_rows"][backend]
        assert set(rows) == {"0.45", "0.15"}
        for ratio, entry in rows.items():
            assert entry["same_set"] and entry["T"] == 600
            assert abs(entry["r_over_T"] - float(ratio)) < 0.05
            assert 0 < entry["needed_over_T2"] < 0.5
            assert set(entry["block_seconds"]) == {"64", "128"}
    assert fig["naive_015"]["same_set"] and fig["naive_015"]["T"] == 500
    for share in fig["shares"].values():
        assert share["gram"] + share["scan"] + share["chosen_rows"] + share["bookkeeping"] == pytest.approx(1.0)
    # Structure, not speed (a timing threshold is flaky on a shared machine): the chosen-rows ADA spends
    # time in its greedy scans, the full-Gram ADA none.
    assert fig["shares"]["ada"]["chosen_rows"] > 0 and fig["shares"]["ada, full Gram"]["chosen_rows"] == 0
    (tmp_path / "cpu.json").write_text(json.dumps(report))
    out = tmp_path / "figures.md"
    assert figures.main(["--markdown", str(out)]) == 0
    text = out.read_text()
    assert "### cpu: " in text and "| library ADA vs naive (NumPy Gram + Python loop) |" in text
    assert "Where a layer's time goes" in text and "chosen-rows scans" in text
    assert "| chosen-rows vs full-Gram ADA, Numba, T = 8192, r/T ≈ 0.45 |" in text
    assert "| library ADA vs naive, T = 4096, r/T ≈ 0.15 |" in text
    assert "Chosen-rows ADA against the block B" in text and "| numba | 600 |" in text


def test_the_kept_figures_render_as_committed(figures, tmp_path):
    """docs/benchmarks/figures.md is what the JSON reports beside it render to."""
    folder = HARNESS.parent.parent / "docs" / "benchmarks"
    reports = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    assert figures.render_markdown(reports) == (folder / "figures.md").read_text()


@pytest.mark.gpu
def test_quick_gpu_run_and_its_markdown(figures, tmp_path):
    """The GPU rows of issue 13 (chosen rows vs full Gram at two T, the block sweep), small sizes."""
    cupy = pytest.importorskip("cupy")
    if cupy.cuda.runtime.getDeviceCount() == 0:
        pytest.skip("no GPU")
    fig = figures.gpu_figures(**figures.QUICK["gpu"])
    rows = fig["chosen_rows"]["cupy"]
    assert set(rows) == {f"T={t}, r/T={r}" for t in (1000, 2000) for r in ("0.45", "0.15")}
    assert all(entry["same_set"] for entry in rows.values())
    assert set(rows["T=1000, r/T=0.45"]["block_seconds"]) == {"128", "512"}
    assert np.isfinite(fig["chosen_rows_speedup_largest_045"])
    (tmp_path / "gpu.json").write_text(json.dumps({"gpu": fig}))
    assert figures.main(["--markdown", str(tmp_path / "figures.md")]) == 0
    text = (tmp_path / "figures.md").read_text()
    assert "| chosen-rows vs full-Gram ADA, largest T, r/T ≈ 0.45 |" in text and "| cupy | 2000 |" in text
