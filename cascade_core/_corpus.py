"""Corpora: many documents analysed on Dask (or in this process), streamed to Parquet, resumable.

One task per document (every layer and slice of it: the cascade runs through
the layers in order, so a document is the unit of work), mapped over a
``dask.distributed`` cluster with ``client.map`` and collected with
``as_completed`` as tasks finish. Without a client, :func:`analyze_corpus`
starts a ``LocalCluster`` sized to the machine (one single-threaded worker
process per core, BLAS and Numba pinned to one thread each), or a
``dask_cuda.LocalCUDACluster`` (one worker per GPU, the ``cupy`` backend);
small corpora run in this process.

With `out`, every finished document is written at once as one Parquet part
(``records/<key>.parquet``, through a rename: a part is whole or absent),
so an interrupted corpus keeps what it finished and ``resume=True`` runs
only the rest. A document that cannot be read or analysed becomes an error
row (its name and the reason) and the corpus goes on; a worker that dies
mid-task has its task run again elsewhere by the scheduler, and a document
is written once, by this process, when its task's result arrives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ._analysis import Analysis, FileReport, analyze_activations, read_key
from ._errors import CascadeInputError
from ._io import write_atomic
from ._metrics import summarize
from ._params import check_tau
from ._runner import RunResult
from ._sources import Document, expand, identity, open_document, part_key
from ._version import __version__

__all__ = [
    "CORPUS_SCHEMA",
    "CorpusProgress",
    "CorpusResult",
    "DocumentResult",
    "analyze_corpus",
    "analyze_document",
    "fingerprint",
]

#: Version of ``corpus.json``, the parameters of a corpus folder.
CORPUS_SCHEMA = "cascade-core/corpus/1"
#: Fewer documents than this run in this process unless workers are asked for (a cluster takes seconds to start).
SMALL_CORPUS = 4
#: Threads of the libraries a worker process uses: one each, so workers do not oversubscribe the cores.
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}
#: Analysis fields left out of the fingerprint: they change wall times or extra outputs, not records
#: (SPEC §9: backends agree; views are pages drawn from the sets).
_NOT_FINGERPRINTED = ("backend", "tile", "views")


@dataclass(frozen=True)
class CorpusProgress:
    """Where a corpus stands, as :func:`analyze_corpus` reports it to its `progress` callable.

    Attributes
    ----------
    total : int
        Documents in the corpus.
    done : int
        Documents finished, resumed ones included.
    failed : int
        Documents that ended in an error row.
    resumed : int
        Documents found finished in `out` and not run again.
    workers : int
        Dask workers (0: in this process).
    dashboard : str or None
        The Dask dashboard's address.
    document : str or None
        The document this event is about (None for the first event).
    index : int or None
        Its position in the corpus.
    layer, layers : int or None
        In this process only: layers done of the document being run, and its layer count.
    """

    total: int
    done: int
    failed: int
    resumed: int
    workers: int
    dashboard: str | None = None
    document: str | None = None
    index: int | None = None
    layer: int | None = None
    layers: int | None = None


@dataclass
class DocumentResult:
    """One document's outcome.

    Attributes
    ----------
    document : Document
        Which document.
    report : FileReport or None
        Its analysis (records and totals; no sets), None when it failed.
    error : Exception or None
        Why it failed.
    seconds : float
        Wall time of its task (read, select, score).
    resumed : bool
        Read back from the corpus folder rather than run.
    """

    document: Document
    report: FileReport | None = None
    error: BaseException | None = None
    seconds: float = 0.0
    resumed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def reason(self) -> str | None:
        """Why it failed, in one line (the document's name is not repeated)."""
        err = self.error
        if err is None:
            return None
        if isinstance(err, CascadeInputError):
            return str(CascadeInputError(err.reason, layer=err.layer, slice=err.slice, token=err.token))
        text = str(err).strip().splitlines()
        return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


@dataclass
class CorpusResult:
    """The outcome of :func:`analyze_corpus`: every document's, in corpus order.

    Attributes
    ----------
    documents : list of DocumentResult
        One per document, in the order of the sources.
    analysis : Analysis
        The parameters.
    fingerprint : str
        Their fingerprint (:func:`fingerprint`).
    out : pathlib.Path or None
        The corpus folder.
    workers : int
        Dask workers used (0: in this process).
    dashboard : str or None
        The Dask dashboard's address, when a cluster ran.
    others : list of str
        Parts of `out` whose documents are not among the sources (left as they were).
    """

    documents: list[DocumentResult]
    analysis: Analysis
    fingerprint: str
    out: Path | None = None
    workers: int = 0
    dashboard: str | None = None
    others: list[str] = field(default_factory=list)

    @property
    def reports(self) -> list[FileReport]:
        """The analyses of the documents that did not fail."""
        return [d.report for d in self.documents if d.report is not None]

    @property
    def failed(self) -> list[DocumentResult]:
        return [d for d in self.documents if not d.ok]

    @property
    def resumed(self) -> int:
        return sum(d.resumed for d in self.documents)

    def to_frame(self):
        """One row per (document, slice, layer), and one error row per failed document (pandas).

        Returns
        -------
        pandas.DataFrame
            Columns: ``document``, the :class:`~cascade_core.LayerRecord`
            fields, ``error`` (see :mod:`cascade_core.report.frame`).
        """
        from .report.frame import error_row, frame_of, record_rows

        rows = []
        for d in self.documents:
            if d.report is not None:
                rows += record_rows(d.document.name, d.report.result.records)
            else:
                rows.append(error_row(d.document.name, d.reason))
        return frame_of(rows)

    def totals_frame(self):
        """One row per document: its status, error and run totals (pandas)."""
        from .report.frame import totals_frame

        rows = []
        for d in self.documents:
            row = {"document": d.document.name, "wall_seconds": d.seconds}
            if d.report is not None:
                row.update(d.report.result.totals.as_dict(), status="resumed" if d.resumed else "ok")
                row["backend"] = d.report.result.params.get("backend")
            else:
                row.update(status="error", error=d.reason)
            rows.append(row)
        return totals_frame(rows)

    def totals(self) -> dict:
        """Corpus totals: document counts and the run totals over every record of every document (SPEC §6, §7)."""
        records = [rec for report in self.reports for rec in report.result.records]
        out = {
            "documents": len(self.documents),
            "analysed": len(self.reports),
            "failed": len(self.failed),
            "resumed": self.resumed,
            "records": len(records),
        }
        if records:
            totals = summarize(records).as_dict()
            out.update({k: v for k, v in totals.items() if k not in ("layers", "slices")})
        return out

    def report(self) -> dict | None:
        """The report document (``cascade-core/report/1``) of the documents that did not fail, with an
        ``errors`` list naming those that did; None when every document failed."""
        from .report import document

        if not self.reports:
            return None
        doc = document(self.reports)
        if self.failed:
            doc["errors"] = [{"document": d.document.name, "reason": d.reason} for d in self.failed]
        return doc

    def views(self) -> list[list] | None:
        """For each document of :meth:`report`, its token views (none for a resumed one); None without views."""
        if not any(report.views is not None for report in self.reports):
            return None
        return [report.views or [] for report in self.reports]

    def report_files(self) -> dict[str, str | bytes]:
        """Every file of the report folder: :func:`cascade_core.report.report_files` (token views included, but
        for resumed documents, whose sets are not kept) and ``documents.parquet``."""
        from .report import report_files

        doc = self.report()
        files = report_files(doc, self.views()) if doc is not None else {}
        buffer = io.BytesIO()
        self.totals_frame().to_parquet(buffer, index=False)
        return {**files, "documents.parquet": buffer.getvalue()}


def fingerprint(analysis: Analysis) -> str:
    """SHA-256 of the parameters that decide the records (every :class:`Analysis` field but backend and tile)."""
    return hashlib.sha256(json.dumps(_fingerprinted(analysis), sort_keys=True).encode()).hexdigest()


def _fingerprinted(analysis: Analysis) -> dict:
    return {k: v for k, v in dataclasses.asdict(analysis).items() if k not in _NOT_FINGERPRINTED}


def _without_arrays(result: RunResult) -> RunResult:
    """A run's records, totals and parameters, without its sets (what a corpus keeps and sends back)."""
    return replace(result, sets={}, reference_sets={}, assignments={}, reference_assignments={})


def analyze_document(
    document: Document,
    analysis: Analysis,
    *,
    progress: Callable[[int, int], None] | None = None,
    keep_sets: bool = False,
) -> DocumentResult:
    """Analyse one document; an error becomes the result's `error` instead of a raise.

    Parameters
    ----------
    document : Document
        A file, folder or dataset row (:func:`cascade_core.corpus_documents`).
    analysis : Analysis
        The parameters.
    progress : callable, optional
        ``progress(done, total)`` after each layer, as for :func:`cascade_core.analyze_file`.
    keep_sets : bool, default False
        Keep the representative sets in the result (a corpus keeps records only).

    Returns
    -------
    DocumentResult
    """
    start = time.perf_counter()
    try:
        data = open_document(
            document,
            key=read_key(analysis),
            layout=analysis.layout,
            lengths=analysis.lengths,
            mask=analysis.mask,
            layers=analysis.layers,
        )
        report = analyze_activations(data, analysis, progress=progress)
    except Exception as err:  # a bad document is an error row; the corpus goes on
        return DocumentResult(document, error=err, seconds=time.perf_counter() - start)
    if not keep_sets:
        report.result = _without_arrays(report.result)
    return DocumentResult(document, report, seconds=time.perf_counter() - start)


# ---- the corpus folder --------------------------------------------------------


class _Store:
    """``OUT/corpus.json`` (the parameters) and ``OUT/records/<key>.parquet`` (one part per document)."""

    def __init__(self, out, analysis: Analysis, params_print: str, *, resume: bool, force: bool) -> None:
        from .report.frame import read_part

        self.root = Path(out)
        self.parts = self.root / "records"
        self.meta = self.root / "corpus.json"
        self.analysis = analysis
        self.fingerprint = params_print
        if self.root.exists() and not self.root.is_dir():
            raise CascadeInputError("exists and is not a directory", path=str(out), param="out")
        existing = sorted(self.parts.glob("*.parquet")) if self.parts.is_dir() else []
        self.started = self.meta.is_file()
        if (existing or self.started) and not resume:
            if not force:
                raise CascadeInputError(
                    "holds the records of an earlier run; resume=True continues it, force=True starts over",
                    path=str(out),
                    param="resume",
                )
            for part in existing:
                part.unlink()
            self.meta.unlink(missing_ok=True)
            existing, self.started = [], False
        if resume and self.started:
            self._check_parameters()
        self.done: dict[str, dict] = {}
        for part in existing if resume else []:
            meta, _ = read_part(part, rows=False)
            self.done[part.stem] = meta

    def _check_parameters(self) -> None:
        saved = json.loads(self.meta.read_text())
        if saved.get("fingerprint") == self.fingerprint:
            return
        ours = _fingerprinted(self.analysis)
        theirs = saved.get("analysis", {})
        differ = [f"{k} {ours.get(k)!r} here, {theirs.get(k)!r} there" for k in ours if ours.get(k) != theirs.get(k)]
        raise CascadeInputError(
            f"its records were made with other parameters ({'; '.join(differ) or 'another version'}); "
            "choose another folder, or force=True to start over",
            path=str(self.meta),
            param="resume",
        )

    def finished(self, doc: Document, ident: dict) -> bool:
        meta = self.done.get(part_key(doc))
        return meta is not None and meta["status"] == "ok" and meta["identity"] == ident

    def write(self, result: DocumentResult, ident: dict) -> None:
        from .report.frame import PART_SCHEMA, error_row, part_bytes, record_rows

        if not self.started:
            self.parts.mkdir(parents=True, exist_ok=True)
            corpus = {
                "schema": CORPUS_SCHEMA,
                "library": {"name": "cascade-core", "version": __version__},
                "fingerprint": self.fingerprint,
                "analysis": _fingerprinted(self.analysis),
            }
            write_atomic(self.meta, json.dumps(corpus, indent=2) + "\n", force=True)
            self.started = True
        name = result.document.name
        report = result.report
        meta = {
            "schema": PART_SCHEMA,
            "document": name,
            "identity": ident,
            "fingerprint": self.fingerprint,
            "status": "ok" if report is not None else "error",
            "error": result.reason,
            "seconds": result.seconds,
            "input": None if report is None else report.input,
            "params": None if report is None else report.result.params,
            "layer_ids": None if report is None else report.result.layer_ids,
            "attention": None if report is None else report.attention,
        }
        rows = record_rows(name, report.result.records) if report is not None else [error_row(name, result.reason)]
        write_atomic(self.parts / f"{part_key(result.document)}.parquet", part_bytes(rows, meta), force=True)

    def load(self, doc: Document) -> DocumentResult:
        from .report.frame import read_part

        meta, records = read_part(self.parts / f"{part_key(doc)}.parquet")
        result = RunResult(records, summarize(records), params=meta["params"], layer_ids=meta["layer_ids"])
        report = FileReport(meta["input"], result, meta["attention"])
        return DocumentResult(doc, report, seconds=meta["seconds"], resumed=True)

    def others(self, docs: list[Document]) -> list[str]:
        keys = {part_key(doc) for doc in docs}
        return [meta["document"] for key, meta in self.done.items() if key not in keys]


# ---- Dask ---------------------------------------------------------------------


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _dask_available() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _dask_client(client, scheduler: str | None, workers: int | None, gpus: bool, processes: bool, tasks: int):
    """The caller's client, one connected to `scheduler`, or a local (CUDA) cluster's, closed afterwards."""
    if client is not None:
        yield client
        return
    try:
        from distributed import Client
    except ImportError:
        raise ImportError(
            "running documents on Dask needs dask and distributed: pip install 'cascade-core[dask]' "
            "(or workers=0 to run them in this process)"
        ) from None
    if scheduler is not None:
        with Client(scheduler) as connected:
            yield connected
        return
    if not gpus and not workers:
        workers = max(1, min(_cpu_count(), tasks))  # sized to the machine, at most one worker per document
    cluster = local_cluster(workers, gpus=gpus, processes=processes)
    with cluster, Client(cluster) as local, _quiet_after_interrupt():
        yield local


@contextlib.contextmanager
def _quiet_after_interrupt():
    """After Ctrl-C, silence this process's Dask loggers while our cluster shuts down (closed connections).

    Innermost in its ``with``, so it runs before the client and cluster close.
    """
    try:
        yield
    except KeyboardInterrupt:
        for name in ("distributed", "tornado", "asyncio"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        raise


def local_cluster(workers: int | None, *, gpus: bool = False, processes: bool = True, devices: str | None = None):
    """A ``LocalCluster`` of single-threaded workers, or a ``LocalCUDACluster`` with one worker per GPU.

    Worker processes start with :data:`ONE_THREAD` (BLAS and Numba on one
    thread) and glibc's own malloc tuning: distributed's default
    ``MALLOC_TRIM_THRESHOLD_`` makes every large array (a Gram tile) a fresh
    ``mmap``, which cost a task 20-30 % here. They log only critical
    failures: a task's own error comes back through its future (the
    document's error row), and what workers log at the error level is about
    connections, such as a heartbeat that finds the scheduler gone after
    Ctrl-C, which is not news. `devices` (``"0,1"``) picks the GPUs;
    `workers` None takes them all.
    """
    import dask
    from distributed import LocalCluster

    # Set before the nannies spawn their workers (dask-cuda sets each worker's env itself: CUDA_VISIBLE_DEVICES).
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    environ.update(ONE_THREAD)
    options = {"silence_logs": logging.CRITICAL, "threads_per_worker": 1}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        if not gpus:
            return LocalCluster(n_workers=workers, processes=processes, **options)
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            raise ImportError("one worker per GPU needs dask-cuda: pip install 'cascade-core[dask-cuda]'") from None
        return LocalCUDACluster(CUDA_VISIBLE_DEVICES=devices, n_workers=workers, **options)


def _cluster_facts(client) -> tuple[int, str | None]:
    info = client.scheduler_info()
    has_dashboard = "dashboard" in info.get("services", {})
    return len(info.get("workers", {})), client.dashboard_link if has_dashboard else None


def _task(document: Document, analysis: Analysis) -> DocumentResult:
    """What a worker runs: one document, records only."""
    return analyze_document(document, analysis)


# ---- the corpus -----------------------------------------------------------------


def analyze_corpus(
    sources,
    analysis: Analysis | float,
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    force: bool = False,
    client=None,
    scheduler: str | None = None,
    workers: int | None = None,
    gpus: bool = False,
    processes: bool = True,
    progress: Callable[[CorpusProgress], None] | None = None,
) -> CorpusResult:
    """Analyse every document of a corpus: one Dask task per document, results streamed as they finish.

    Parameters
    ----------
    sources : path, Document, or a list of them
        Files, glob patterns, directories and Hugging Face ``datasets``
        folders (:func:`corpus_documents` says what each becomes).
    analysis : Analysis or float
        The parameters, or just the threshold tau.
    out : path, optional
        The corpus folder: ``corpus.json`` and one Parquet part per finished
        document in ``records/``, written as each finishes.
    resume : bool, default False
        Keep the documents `out` already holds (same parameters, same file
        size and mtime) and run the others; a failed document runs again.
    force : bool, default False
        Start over in an `out` that holds an earlier run (its parts are deleted).
    client : distributed.Client, optional
        Run on this client's cluster.
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler to connect to.
    workers : int, optional
        Workers of the local cluster (default: one per core, at most one per
        document); ``0`` runs every document in this process. Left out, a
        corpus of fewer than 4 documents to run, or a machine without Dask,
        runs in this process.
    gpus : bool, default False
        One worker per GPU (``dask_cuda.LocalCUDACluster``), and the ``cupy``
        backend when `analysis` says ``"auto"``.
    processes : bool, default True
        Local workers as processes (else threads of this process).
    progress : callable, optional
        Called with a :class:`CorpusProgress` once at the start and after
        each document (and, in this process, after each layer).

    Returns
    -------
    CorpusResult

    Raises
    ------
    CascadeInputError
        Bad parameters, sources that name nothing, an `out` folder that holds
        another run (without `resume` or `force`) or other parameters.
    ImportError
        Dask (or dask-cuda, pandas, pyarrow) is needed and not installed.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> import cascade_core as cc
    >>> from cascade_core import synthetic
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     np.save(os.path.join(folder, f"prompt{i}.npy"), synthetic.stacked(3, 40, 16, seed=i))
    >>> corpus = cc.analyze_corpus(os.path.join(folder, "*.npy"), 0.5, workers=0)
    >>> corpus.totals()["documents"], corpus.totals()["records"]
    (3, 9)
    >>> corpus.to_frame()[["document", "layer", "method"]].shape
    (9, 3)
    """
    if not isinstance(analysis, Analysis):
        analysis = Analysis(tau=check_tau(analysis))
    if workers is not None:
        if not (isinstance(workers, int) and not isinstance(workers, bool) and workers >= 0):
            raise CascadeInputError(f"workers must be an integer >= 0, got {workers!r}", param="workers")
    if gpus and analysis.backend == "auto":
        analysis = replace(analysis, backend="cupy")
    documents = expand(sources)
    if not documents:
        raise CascadeInputError("no documents in the sources", param="sources")
    params_print = fingerprint(analysis)
    store = None if out is None else _Store(out, analysis, params_print, resume=resume, force=force)
    folders: dict = {}
    identities = {doc: identity(doc, folders) for doc in documents}
    done = {doc for doc in documents if store is not None and store.finished(doc, identities[doc])}
    todo = [doc for doc in documents if doc not in done]
    in_process = workers == 0 or (
        workers is None
        and client is None
        and scheduler is None
        and not gpus
        and (len(todo) < SMALL_CORPUS or _cpu_count() < 2 or not _dask_available())
    )
    tracker = _Tracker(documents, len(done), progress)
    outcomes: dict[Document, DocumentResult] = {}

    def finish(result: DocumentResult) -> None:
        if store is not None:
            store.write(result, identities[result.document])
        outcomes[result.document] = result
        tracker.finished(result)

    if in_process:
        tracker.start(0, None)
        for doc in todo:
            finish(analyze_document(doc, analysis, progress=tracker.layers_of(doc)))
    elif todo:
        keys = [f"cascade-core-{part_key(doc)}-{_task_stamp(identities[doc], params_print)}" for doc in todo]
        with _dask_client(client, scheduler, workers, gpus, processes, len(todo)) as dask:
            tracker.start(*_cluster_facts(dask))
            _on_dask(dask, todo, keys, analysis, finish, cancel=dask is client or scheduler is not None)

    results = [outcomes[doc] if doc in outcomes else store.load(doc) for doc in documents]
    others = [] if store is None else store.others(documents)
    path = None if out is None else Path(out)
    return CorpusResult(results, analysis, params_print, path, tracker.workers, tracker.dashboard, others)


def _on_dask(dask, todo: list[Document], keys: list[str], analysis: Analysis, finish, *, cancel: bool) -> None:
    """Map the documents' tasks on a Dask client and hand each result to `finish` as it arrives."""
    from distributed import as_completed

    futures = dask.map(_task, todo, analysis=analysis, key=keys)
    by_key = dict(zip(keys, todo, strict=True))
    try:
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as err:  # the task died with its workers (KilledWorker) or was lost
                result = DocumentResult(by_key[future.key], error=err)
            finish(result)
            future.release()
    except BaseException:
        if cancel:  # someone else's cluster goes on; a cluster of ours stops with its workers
            dask.cancel(futures)
        raise


class _Tracker:
    """Counts finished and failed documents and reports :class:`CorpusProgress` events."""

    def __init__(self, documents: list[Document], resumed: int, progress) -> None:
        self.position = {doc: i for i, doc in enumerate(documents)}
        self.total = len(documents)
        self.resumed = self.done = resumed
        self.failed = 0
        self.progress = progress
        self.workers, self.dashboard = 0, None

    def _event(self, **fields) -> None:
        if self.progress is not None:
            counts = (self.total, self.done, self.failed, self.resumed, self.workers, self.dashboard)
            self.progress(CorpusProgress(*counts, **fields))

    def start(self, workers: int, dashboard: str | None) -> None:
        self.workers, self.dashboard = workers, dashboard
        self._event()

    def finished(self, result: DocumentResult) -> None:
        self.done += 1
        self.failed += not result.ok
        self._event(document=result.document.name, index=self.position[result.document])

    def layers_of(self, doc: Document):
        """``progress(done, total)`` for the layers of a document run in this process."""
        if self.progress is None:
            return None
        index = self.position[doc]
        return lambda step, total: self._event(document=doc.name, index=index, layer=step, layers=total)


def _task_stamp(ident: dict, params_print: str) -> str:
    """A document's version and the parameters, in its task's key (so a changed file is a new task)."""
    return hashlib.sha256((json.dumps(ident, sort_keys=True) + params_print).encode()).hexdigest()[:12]


def corpus_documents(sources) -> list[Document]:
    """The documents of a corpus, in order, each once (see :mod:`cascade_core._sources` for the rules).

    Parameters
    ----------
    sources : path, Document, or a list of them
        Files; glob patterns (``**`` recursive); a folder with subfolders or
        with files that each hold ``hidden_states`` (each file or subfolder
        one document); a folder of per-layer files (one document); a Hugging
        Face ``datasets`` folder (one document per row).

    Returns
    -------
    list of Document
    """
    return expand(sources)
