"""The asv history script (asv_bench/history.py): reading results, finding moves, the regressions page."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "asv_bench" / "history.py"
COLUMNS = ["result", "params", "version", "started_at", "duration"]
ADA = "bench_selection.Layer.time_ada_layer"
PEAK = "bench_run.PeakMemory.peakmem_ada_run"
TRACK = "bench_run.Quality.track_gram_savings"


@pytest.fixture(scope="module")
def history():
    spec = importlib.util.spec_from_file_location("history", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["history"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _write(folder: Path, commit: str, env: str, results: dict) -> None:
    data = {"commit_hash": commit, "env_name": env, "params": {"machine": folder.name}, "result_columns": COLUMNS}
    data |= {"results": results, "version": 2}
    (folder / f"{commit[:8]}-{env}.json").write_text(json.dumps(data))


@pytest.fixture
def results(tmp_path):
    """Three commits a, b, c on machine m1 (and an empty machine m2 without machine file)."""
    m1 = tmp_path / "m1"
    m1.mkdir()
    (tmp_path / "m2").mkdir()
    (m1 / "machine.json").write_text(json.dumps({"machine": "m1", "version": 1}))
    params = [["'numpy'", "'numba'"], ["2048"]]
    _write(m1, "a" * 40, "env", {ADA: [[0.010, 0.020], params, "v"], PEAK: [[1048576.0], [], "v"], TRACK: [40.0]})
    # b: numpy 1.3x slower (a move), numba n/a; peak memory halves (a move); the track moves 1.1x (not a move).
    _write(m1, "b" * 40, "env", {ADA: [[0.013, None], params, "v"], PEAK: [[524288.0], [], "v"], TRACK: [44.0]})
    # c: numba back at 0.030, compared with a's 0.020 (b was n/a): 1.5x.
    _write(m1, "c" * 40, "env", {ADA: [[0.0131, 0.030], params, "v"], PEAK: [[524288.0], [], "v"]})
    return tmp_path


def test_load_machine_flattens_params_in_asv_order(history, results):
    values = history.load_machine(results, "m1")
    assert sorted(values) == ["a" * 40, "b" * 40, "c" * 40]
    assert values["a" * 40] == {
        (ADA, "'numpy', 2048"): 0.010,
        (ADA, "'numba', 2048"): 0.020,
        (PEAK, ""): 1048576.0,
        (TRACK, ""): 40.0,
    }
    assert values["b" * 40][(ADA, "'numba', 2048")] is None
    assert history.machines(results) == ["m1"]


def test_find_moves_either_way_skipping_na(history, results):
    values = history.load_machine(results, "m1")
    moves = history.find_moves("m1", values, ["a" * 40, "b" * 40, "c" * 40])
    got = [(m.benchmark, m.params, m.commit[0], m.previous[0], round(m.ratio, 4)) for m in moves]
    assert got == [
        (PEAK, "", "b", "a", 0.5),
        (ADA, "'numpy', 2048", "b", "a", 1.3),
        (ADA, "'numba', 2048", "c", "a", 1.5),
    ]
    wider = history.find_moves("m1", values, ["a" * 40, "b" * 40, "c" * 40], factor=1.4)
    assert [(m.params, round(m.ratio, 4)) for m in wider] == [("", 0.5), ("'numba', 2048", 1.5)]
    assert history.find_moves("m1", values, ["a" * 40, "b" * 40, "c" * 40], factor=2.5) == []


def test_render_page_lists_commits_headline_and_moves(history, results):
    values = history.load_machine(results, "m1")
    order = ["a" * 40, "b" * 40, "c" * 40, "d" * 40]
    cases = ((ADA, "'numpy', 2048"), (ADA, "'cupy', 2048"), (TRACK, ""))
    text = history.render_page({"m1": values}, order, {"b" * 40: "slower | numpy"}, headlines=cases)
    assert "3 commits with results: aaaaaaaa, bbbbbbbb, cccccccc." in text
    assert f"| `{ADA}` | 'numpy', 2048 | 10 ms at aaaaaaaa | 13.1 ms at cccccccc | 1.31 |" in text
    assert f"| `{TRACK}` |  | 40 at aaaaaaaa | 44 at bbbbbbbb | 1.10 |" in text
    assert "'cupy'" not in text  # never recorded: left out
    assert f"| `{ADA}` | 'numpy', 2048 | bbbbbbbb slower \\| numpy | aaaaaaaa | 10 ms | 13 ms | 1.30 |" in text
    assert f"| `{PEAK}` |  | bbbbbbbb slower \\| numpy | aaaaaaaa | 1 MiB | 0.5 MiB | 0.50 |" in text
    assert text.count("\n| `") == 2 + 3


def test_fill_machine_facts_adds_missing_facts_only(history, results):
    (results / "m1" / "machine.json").write_text(json.dumps({"machine": "m1", "arch": "x86_64", "version": 1}))
    path = results / "m1" / ("a" * 8 + "-env.json")
    data = json.loads(path.read_text())
    data["params"] = {"machine": "m1", "python": "3.11"}
    path.write_text(json.dumps(data))
    other = results / "m1" / ("b" * 8 + "-env.json")
    data = json.loads(other.read_text())
    data["params"] = {"machine": "m1", "arch": "arm64"}
    other.write_text(json.dumps(data))
    assert history.fill_machine_facts("m1", results) == 2  # a and c lack the arch; b's own is kept
    assert json.loads(path.read_text())["params"] == {"machine": "m1", "arch": "x86_64", "python": "3.11"}
    assert json.loads(other.read_text())["params"] == {"machine": "m1", "arch": "arm64"}
    assert history.fill_machine_facts("m1", results) == 0
