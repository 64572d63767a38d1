"""Corpora (issue 16): sources, tables, Parquet parts, resume, and the faults: a corrupt document, a worker
killed mid-task (a real two-worker LocalCluster in processes), Ctrl-C in a real ``cascade-core analyze``."""

import dataclasses
import importlib.util
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import cascade_core as cc
from cascade_core import CascadeInputError, synthetic
from cascade_core.cli import main

pd = pytest.importorskip("pandas")
pq = pytest.importorskip("pyarrow.parquet")

FIELDS = [f.name for f in dataclasses.fields(cc.LayerRecord)]
L = 3


def same_records(a, b):
    """Records equal but for wall times."""
    strip = {name: None for name in FIELDS if name.startswith("seconds_")} | {"seconds": 0.0}
    return [dataclasses.replace(r, **strip) for r in a] == [dataclasses.replace(r, **strip) for r in b]


def make_corpus(folder: Path, n: int, *, shape=(L, 60, 16)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"prompt{i:02d}.npy"
        np.save(path, synthetic.stacked(*shape, seed=i))
        paths.append(path)
    return paths


def records_on_disk(out: Path) -> pd.DataFrame:
    parts = sorted((out / "records").glob("*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts]) if parts else pd.DataFrame(columns=["document", "error"])


def test_run_to_frame_has_every_record_field():
    x = synthetic.stacked(4, 50, 8, seed=0).reshape(4, 1, 50, 8)
    result = cc.run(x, 0.5)
    frame = result.to_frame()
    assert list(frame.columns) == FIELDS and len(frame) == 4
    assert frame["slice"].tolist() == ["0"] * 4
    assert frame["ops"].tolist() == [rec.ops for rec in result.records]
    assert frame["jaccard_prev"].isna().tolist() == [True, False, False, False]
    assert str(frame["r"].dtype) == "Int64" and str(frame["agreement"].dtype) == "float64"


def test_corpus_in_process_matches_runs_and_names_a_corrupt_file(tmp_path, capsys):
    paths = make_corpus(tmp_path / "c", 3)
    (tmp_path / "c" / "broken.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    corpus = cc.analyze_corpus(str(tmp_path / "c" / "*.npy"), 0.5, workers=0)
    assert [d.document.name for d in corpus.documents][0].endswith("broken.npy")
    (failure,) = corpus.failed
    assert "corrupt or truncated .npy header" in failure.reason
    for path, done in zip(paths, corpus.documents[1:], strict=True):
        assert same_records(done.report.result.records, cc.run(np.load(path), 0.5).records)
    frame = corpus.to_frame()
    assert len(frame) == 3 * L + 1 and list(frame.columns) == ["document", *FIELDS, "error"]
    error = frame[frame["error"].notna()]
    assert error["document"].tolist() == [str(tmp_path / "c" / "broken.npy")] and error["layer"].isna().all()
    totals = corpus.totals()
    assert (totals["documents"], totals["analysed"], totals["failed"], totals["records"]) == (4, 3, 1, 3 * L)
    ops = sum(d.report.result.totals.ops for d in corpus.documents[1:])
    assert totals["ops"] == ops and totals["savings"] == pytest.approx(1 - ops / (3 * L * 60**2))
    per_doc = corpus.totals_frame()
    assert per_doc["status"].tolist() == ["error", "ok", "ok", "ok"] and per_doc["ops"].iloc[1:].sum() == ops
    # The command line: the rest completes, an error row, exit status 1 and a summary naming the file.
    status = main(
        ["analyze", str(tmp_path / "c" / "*.npy"), "--tau", "0.5", "--workers", "0", "--out", str(tmp_path / "o")]
    )
    out, err = capsys.readouterr()
    assert status == 1
    assert "1 of 4 documents failed" in err and "broken.npy: corrupt or truncated .npy header" in err
    assert "across 3 files" in out
    disk = records_on_disk(tmp_path / "o")
    assert len(disk) == 3 * L + 1 and disk["error"].notna().sum() == 1
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert [e["document"] for e in report["errors"]] == [str(tmp_path / "c" / "broken.npy")]
    assert len(report["files"]) == 3


def test_error_survives_pickling():
    err = CascadeInputError("non-finite", layer=2, slice=(1,), token=7, path="x.npy", param="tau")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and (back.param, back.slice, back.token) == ("tau", (1,), 7)


def test_resume_skips_done_documents_and_replaces_changed_ones(tmp_path, monkeypatch):
    import cascade_core._corpus as corpus_module

    paths = make_corpus(tmp_path / "c", 4)
    out = tmp_path / "out"
    first = cc.analyze_corpus(paths, 0.5, workers=0, out=out)
    assert len(records_on_disk(out)) == 4 * L
    with pytest.raises(CascadeInputError, match="holds the records of an earlier run"):
        cc.analyze_corpus(paths, 0.5, workers=0, out=out)
    with pytest.raises(CascadeInputError, match="other parameters.*tau 0.6 here, 0.5 there"):
        cc.analyze_corpus(paths, 0.6, workers=0, out=out, resume=True)

    ran = []
    real = corpus_module.analyze_activations
    monkeypatch.setattr(
        corpus_module, "analyze_activations", lambda data, *a, **k: ran.append(data.path) or real(data, *a, **k)
    )
    np.save(paths[2], synthetic.stacked(L, 60, 16, seed=99))  # a changed document runs again
    again = cc.analyze_corpus(paths, 0.5, workers=0, out=out, resume=True)
    assert ran == [str(paths[2])] and again.resumed == 3
    disk = records_on_disk(out)
    assert len(disk) == 4 * L and disk.groupby("document").size().tolist() == [L] * 4  # none duplicated
    assert same_records(again.documents[2].report.result.records, cc.run(np.load(paths[2]), 0.5).records)
    # A resumed document's report is the one first made (records read back from Parquet exactly).
    for before, after in zip(first.documents, again.documents, strict=True):
        if after.resumed:
            assert after.report.result.records == before.report.result.records
            assert after.report.input == before.report.input
    cc.analyze_corpus(paths[:1], 0.5, workers=0, out=out, force=True)  # start over
    assert len(records_on_disk(out)) == L


def test_sources_globs_folders_and_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [synthetic.stacked(L, 30 + 5 * i, 16, seed=i) for i in range(3)]
    table = {f"blocks.{k}.hook_resid_pre": [r[k] for r in rows] for k in range(L)}
    table["prompt"] = ["a", "b", "c"]
    datasets.Dataset.from_dict(table).save_to_disk(str(tmp_path / "cache"))
    corpus = cc.analyze_corpus(tmp_path / "cache", 0.5, workers=0)
    assert [d.document.name for d in corpus.documents] == [f"{tmp_path / 'cache'}#{i}" for i in range(3)]
    for row, done in zip(rows, corpus.documents, strict=True):
        assert same_records(done.report.result.records, cc.run(row, 0.5).records)
        assert done.report.input["format"] == "dataset" and done.report.input["key"] == "blocks.{l}.hook_resid_pre"
    with pytest.raises(CascadeInputError, match="lengths: a row of a datasets folder is one unpadded sequence"):
        raise cc.analyze_document(cc.Document("x", str(tmp_path / "cache"), 0), cc.Analysis(0.5, lengths="n")).error

    # A folder with subfolders: each file and each subfolder (per-layer files) is a document.
    top = tmp_path / "top"
    make_corpus(top, 2)
    layers = top / "zz_doc"
    layers.mkdir()
    for k, layer in enumerate(synthetic.stacked(L, 40, 16, seed=7)):
        np.save(layers / f"layer_{k}.npy", layer)
    assert [Path(d.name).name for d in cc.corpus_documents(top)] == ["prompt00.npy", "prompt01.npy", "zz_doc"]
    assert cc.corpus_documents(layers) == [cc.Document(str(layers), str(layers))]  # per-layer files: one document
    # A flat folder whose files each hold hidden_states: each file is a document.
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(2):
        np.savez(flat / f"p{i}.npz", hidden_states=synthetic.stacked(L, 20, 8, seed=i))
    assert len(cc.corpus_documents(flat)) == 2
    assert len(cc.corpus_documents([str(top / "*.npy"), top / "prompt00.npy"])) == 2  # each document once
    with pytest.raises(CascadeInputError, match="no file matches this pattern"):
        cc.corpus_documents(str(tmp_path / "none*.npy"))


@pytest.fixture(scope="module")
def cluster():
    """The CI's cluster: two single-threaded worker processes."""
    distributed = pytest.importorskip("distributed")
    from cascade_core._corpus import ONE_THREAD, local_cluster

    with local_cluster(2) as c, distributed.Client(c) as client:
        names = [*ONE_THREAD, "MALLOC_TRIM_THRESHOLD_"]
        threads = client.run(lambda: {name: os.environ.get(name) for name in names})
        # Workers do not oversubscribe the cores, and keep glibc's malloc tuning.
        assert list(threads.values()) == [{**ONE_THREAD, "MALLOC_TRIM_THRESHOLD_": None}] * 2
        yield client


def test_worker_killed_mid_task(tmp_path, cluster):
    """SIGKILL a worker process while it holds a document's task: the task runs again, the corpus completes,
    every document is written once."""
    n = 8
    paths = make_corpus(tmp_path / "c", n, shape=(6, 1500, 32))
    (tmp_path / "c" / "zz_corrupt.npy").write_bytes(b"not an array")
    out = tmp_path / "out"
    killed = {}

    def kill_on_first_result(event):
        if event.document is None or killed:
            return
        busy = {addr: keys for addr, keys in cluster.processing().items() if keys}
        addr, keys = next(iter(busy.items()))
        pid = cluster.run(os.getpid, workers=[addr])[addr]
        killed.update(pid=pid, keys=list(keys), parts_before=len(list((out / "records").glob("*.parquet"))))
        os.kill(pid, signal.SIGKILL)

    corpus = cc.analyze_corpus(
        str(tmp_path / "c" / "*.npy"), 0.5, client=cluster, out=out, progress=kill_on_first_result
    )
    assert killed and 1 <= killed["parts_before"] < n
    for key in killed["keys"]:  # the killed worker's tasks ran again elsewhere
        assert (out / "records" / f"{key.split('-')[2]}.parquet").exists()
    assert corpus.workers == 2 and len(corpus.documents) == n + 1
    (failure,) = corpus.failed
    assert failure.document.name.endswith("zz_corrupt.npy") and "not a valid .npy file" in failure.reason
    disk = records_on_disk(out)
    print(
        f"\nworker killed: {killed['parts_before']} parts before, {len(list((out / 'records').glob('*')))} after; "
        f"{len(disk)} rows ({n} x 6 records + 1 error row)"
    )
    assert len(disk) == n * 6 + 1
    assert disk[disk["error"].isna()].groupby("document").size().tolist() == [6] * n  # none lost, none duplicated
    for path, done in zip(paths[:2], corpus.documents, strict=False):
        assert same_records(done.report.result.records, cc.run(np.load(path), 0.5).records)


def test_ctrl_c_then_resume(tmp_path):
    """SIGINT to a real ``cascade-core analyze --workers 2``: exit 130, finished documents kept whole, nothing
    half-written; ``--resume`` runs only the rest."""
    pytest.importorskip("distributed")
    n = 10
    make_corpus(tmp_path / "c", n, shape=(6, 900, 32))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cascade_core.cli", "analyze", str(tmp_path / "c" / "*.npy"), "--out", str(out)]
    proc = subprocess.Popen([*command, "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((out / "records").glob("*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and "WARNING" not in err
    assert "dask: 2 workers, dashboard http://" in err
    parts = sorted((out / "records").glob("*.parquet"))
    before = {p.name: p.stat().st_mtime_ns for p in parts}
    assert 1 <= len(parts) < n, "interrupt the run while it runs: make the documents larger"
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert not (out / "report.json").exists()
    assert len(records_on_disk(out)) == len(parts) * 6  # every part whole
    resumed = subprocess.run([*command, "--workers", "0", "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed: {len(parts)} of {n} documents were already in {out}" in resumed.stdout
    print(
        f"\nCtrl-C: {len(parts)} documents ({len(parts) * 6} records) before, "
        f"{len(list((out / 'records').glob('*.parquet')))} after --resume"
    )
    disk = records_on_disk(out)
    assert len(disk) == n * 6 and disk.groupby("document").size().tolist() == [6] * n
    assert {p.name: p.stat().st_mtime_ns for p in parts} == before  # kept, not run again
    report = json.loads((out / "report.json").read_text())
    assert len(report["files"]) == n and report["aggregate"]["files"] == n
    assert len(pd.read_parquet(out / "documents.parquet")) == n


@pytest.mark.gpu
def test_gpu_workers_match_the_cpu(tmp_path):
    pytest.importorskip("dask_cuda")
    cupy = pytest.importorskip("cupy")
    if cupy.cuda.runtime.getDeviceCount() == 0:
        pytest.skip("no GPU")
    paths = make_corpus(tmp_path / "c", 4)
    gpu = cc.analyze_corpus(paths, 0.5, gpus=True)
    assert gpu.workers == cupy.cuda.runtime.getDeviceCount()
    for path, done in zip(paths, gpu.documents, strict=True):
        assert done.report.result.params["backend"] == "cupy"
        assert same_records(done.report.result.records, cc.run(np.load(path), 0.5).records)


def test_throughput_script_runs(tmp_path):
    """asv_bench/corpus_throughput.py at a tiny size: every run of --cpu, one JSON row each."""
    pytest.importorskip("distributed")
    script = Path(__file__).resolve().parent.parent / "asv_bench" / "corpus_throughput.py"
    size = ["--documents", "4", "--layers", "2", "--tokens", "64", "--features", "16"]
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            "--cpu",
            *size,
            "--json",
            str(tmp_path / "t.json"),
            "--data",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads((tmp_path / "t.json").read_text())
    assert [row["run"] for row in figures["rows"]] == ["sequential", "1 worker", "2 workers"]
    assert figures["threads_per_process"] == "1" and figures["config"]["documents"] == 4
    assert all(row["documents_per_second"] > 0 for row in figures["rows"])
    assert len(list((tmp_path / "d").glob("*.npy"))) == 4  # --data keeps the corpus


def test_cli_scheduler_address_progress_and_flag_errors(tmp_path, cluster, capsys, monkeypatch):
    make_corpus(tmp_path / "c", 3)
    corpus = str(tmp_path / "c" / "*.npy")
    address = cluster.scheduler_info()["address"]
    assert main(["analyze", corpus, "--tau", "0.5", "--scheduler", address, "--json", str(tmp_path / "r.json")]) == 0
    out, err = capsys.readouterr()
    assert "dask: 2 workers, dashboard" in err and "across 3 files" in out
    assert len(json.loads((tmp_path / "r.json").read_text())["files"]) == 3
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a terminal: the corpus's bar and each layer's
    assert main(["analyze", corpus, "--tau", "0.5", "--workers", "0"]) == 0
    err = capsys.readouterr().err
    assert "documents 3/3" in err and "[3/3] prompt02.npy" in err and "layer 3/3" in err
    monkeypatch.undo()
    assert main(["analyze", corpus, "--workers", "-1"]) == 2
    assert "--workers must be an integer >= 0, got -1" in capsys.readouterr().err
    if importlib.util.find_spec("dask_cuda") is None:
        assert main(["analyze", corpus, "--gpus"]) == 2
        assert "one worker per GPU needs dask-cuda: pip install 'cascade-core[dask-cuda]'" in capsys.readouterr().err
