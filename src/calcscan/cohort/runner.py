"""``run_cohort``: discover studies, process the ones not done yet, store every result.

Resumable and idempotent: each study is committed in its own transaction as soon as its result
arrives, keyed by (input key, config digest), so a run killed at any moment and started again
processes only what is missing, and a changed detection config (new digest) processes every
study again while keeping the earlier results. Parallel runs start processing while discovery
is still walking the inputs (:mod:`calcscan.cohort.stream`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from calcscan import __version__
from calcscan.cohort.discovery import StudyTask, expand_inputs, iter_discovery
from calcscan.cohort.executors import EXECUTORS, DaskBackend, ProcessBackend, connect_dask
from calcscan.cohort.header_chunks import WorkerReader
from calcscan.cohort.stream import Event, ParallelStream, stream_serial
from calcscan.cohort.worker import ProcessFn, detect_study
from calcscan.errors import UsageError

if TYPE_CHECKING:  # SQLAlchemy and the store load in run_cohort, after the workers start
    from calcscan.cohort.demographics import Demographics
    from calcscan.cohort.store import ResultStore

__all__ = ["RunSummary", "config_identity", "default_workers", "run_cohort"]

log = logging.getLogger(__name__)

#: Progress callback: ``(studies_done, studies_to_process_found_so_far, failures_so_far)``.
ProgressFn = Callable[[int, int, int], None]


@dataclass
class RunSummary:
    """What a cohort run did.

    Attributes
    ----------
    exit_code : int
        0 when every study was processed (or already done), 2 when some failed (CONTRACTS §5).
    worker_cpu_s, worker_page_faults : float, int
        CPU seconds and minor page faults of the processes running the studies, summed over
        the studies of this run (measured around each study).
    """

    run_id: int
    config_digest: str
    executor: str
    workers: int
    n_inputs: int = 0
    n_studies: int = 0
    n_processed: int = 0
    n_skipped: int = 0
    n_failed: int = 0
    n_duplicates: int = 0
    wall_s: float = 0.0
    studies_per_minute: float | None = None
    worker_cpu_s: float = 0.0
    worker_page_faults: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """Contract exit code of ``cohort run``."""
        return 2 if self.n_failed else 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for ``--json``)."""
        out = dict(self.__dict__)
        out["exit_code"] = self.exit_code
        return out


def default_workers() -> int:
    """CPUs available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def config_identity(config: Any) -> tuple[Any, str, dict[str, Any]]:
    """Resolve a detection config into ``(config, digest, dict)``.

    ``None`` means the default :class:`calcscan.detect.DetectConfig`; objects with
    ``digest()``/``to_dict()`` are used as they are; a plain mapping is digested as canonical
    JSON (for injected processing functions).
    """
    _check_config(config)
    if config is None:
        from calcscan.detect import DetectConfig

        config = DetectConfig()
    if isinstance(config, dict):
        text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
        return config, hashlib.sha256(text.encode()).hexdigest()[:12], dict(config)
    return config, str(config.digest()), dict(config.to_dict())


def _check_config(config: Any) -> None:
    """UsageError for a config :func:`config_identity` cannot digest (before any work)."""
    if config is None or isinstance(config, dict):
        return
    if not (hasattr(config, "digest") and hasattr(config, "to_dict")):
        raise UsageError(f"unsupported detection config of type {type(config).__name__}")


def _versions(executor: str) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, Any] = {"calcscan": __version__, "python": platform.python_version()}
    names = ["numpy", "scipy", "pydicom", "nibabel", "SQLAlchemy", "alembic"]
    if executor == "dask":
        names += ["dask", "distributed"]
    for name in names:
        try:
            out[name.lower()] = version(name)
        except PackageNotFoundError:
            out[name.lower()] = None
    out["platform"] = platform.platform()
    return out


def _mode(executor: str | None, workers: int, scheduler: str | None) -> str:
    if scheduler:
        if executor not in (None, "dask"):
            raise UsageError("--scheduler runs on Dask; do not combine it with another executor")
        return "dask"
    if executor is None:
        return "serial" if workers == 1 else "processes"
    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor {executor!r}: use one of {', '.join(EXECUTORS)}")
    if executor == "dask":
        raise UsageError("the dask executor needs a scheduler address (--scheduler tcp://...)")
    return executor


def run_cohort(
    inputs: Sequence[str | os.PathLike[str]],
    db_url: str | None = None,
    *,
    config: Any = None,
    demographics: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    executor: str | None = None,
    process: ProcessFn | None = None,
    keep_identifiers: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> RunSummary:
    """Run detection over every study of the inputs and store the results.

    Parameters
    ----------
    inputs : sequence of path-like
        Folders, zip files, NIfTI/NRRD/MHA files or manifest CSVs.
    db_url : str, optional
        SQLAlchemy URL of the results store (opened and migrated before any study runs);
        default :data:`calcscan.cohort.store.DEFAULT_DB_URL`.
    config : DetectConfig or dict, optional
        Detection config (default ``DetectConfig()``); its digest keys the results.
    demographics : path-like, optional
        CSV joined on study_key / StudyInstanceUID / accession / path (see
        :mod:`calcscan.cohort.demographics`).
    workers : int, optional
        Local worker processes (default: the CPUs available; 1 runs serially).
    scheduler : str, optional
        Dask scheduler address; runs the studies on that cluster.
    executor : {"serial", "processes", "dask"}, optional
        Force an executor (default from ``workers``/``scheduler``).
    process : callable, optional
        ``process(task, config) -> record dict``; default reads and detects
        (:func:`calcscan.cohort.worker.detect_study`). Must be picklable for processes/Dask.
    keep_identifiers : bool
        Store input paths, UIDs and accession numbers (default: de-identified).
    on_start, on_progress : callable, optional
        ``on_progress(done, total, failed)`` after each study, ``total`` being the studies to
        process found so far; ``on_start(n_to_process)`` once discovery is complete (serial
        runs: before the first study; parallel runs: studies may already be running).

    Returns
    -------
    RunSummary

    Raises
    ------
    UsageError
        Unreachable database, unreadable demographics CSV, bad options: before any work.

    Notes
    -----
    Every process that runs studies (this one when serial) gets the glibc malloc settings of
    :mod:`calcscan.cohort.malloc` (``CALCSCAN_MALLOC_TUNING=0`` turns them off).
    """
    t0 = time.perf_counter()
    n_workers = default_workers() if workers is None else int(workers)
    if n_workers < 1:
        raise UsageError(f"--workers must be at least 1, got {n_workers}")
    mode = _mode(executor, n_workers, scheduler)
    client: Any = None
    store: ResultStore | None = None
    parallel: ParallelStream | None = None
    # local workers start first: their spawn and imports (~0.4 s) overlap the driver's set-up
    # (store, demographics, config); no study is submitted before the store is open
    backend: Any = ProcessBackend(n_workers) if mode == "processes" else None
    try:
        from calcscan.cohort.demographics import load_demographics
        from calcscan.cohort.store import DEFAULT_DB_URL, open_store

        store = open_store(DEFAULT_DB_URL if db_url is None else db_url)
        if mode == "dask":
            assert scheduler is not None
            client = connect_dask(scheduler)
            backend = DaskBackend(client)
            n_workers = backend.workers
        demo = load_demographics(demographics) if demographics is not None else None
        want_accession = demo is not None and demo.key_column == "accession_number"
        n_inputs = len(expand_inputs(inputs))
        _check_config(config)

        def discover(reader: WorkerReader | None = None) -> Any:
            return iter_discovery(
                inputs,
                want_accession=want_accession,
                read_headers=reader.read_headers if reader else None,
                content_keys=reader.content_keys if reader else None,
            )

        if backend is not None:  # discovery starts now, overlapping the set-up below
            parallel = ParallelStream(backend, discover)
        config, digest, config_dict = config_identity(config)
        summary = RunSummary(
            run_id=0,
            config_digest=digest,
            executor=mode,
            workers=1 if mode == "serial" else n_workers,
            n_inputs=n_inputs,
        )
        if demo is not None:
            summary.problems.extend(demo.problems)
        for line in summary.problems:
            log.warning("%s", line)
        done_keys = store.done_input_keys(digest)
        summary.run_id = store.start_run(
            config_digest=digest,
            config=config_dict,
            software_version=__version__,
            versions=_versions(mode),
            executor=mode,
            workers=summary.workers,
            n_inputs=n_inputs,
            n_studies=0,  # counts are known when discovery ends; finish_run stores them
            n_processed=0,
            n_skipped=0,
            n_failed=0,
            n_duplicates=0,
        )
        task_fn = process or detect_study
        if parallel is None:
            events = stream_serial(discover(), task_fn, config, done_keys)
        else:
            events = parallel.events(task_fn, config, done_keys, window=2 * n_workers)
        stage_totals = _consume(
            store, events, digest, demo, keep_identifiers, summary, on_start, on_progress
        )
        if demo is not None:
            unmatched = demo.unmatched_rows()
            if unmatched:
                shown = ", ".join(map(str, unmatched[:20])) + (
                    ", ..." if len(unmatched) > 20 else ""
                )
                line = f"{len(unmatched)} demographics rows matched no study (rows {shown})"
                log.warning("%s", line)
                summary.problems.append(line)
        summary.wall_s = time.perf_counter() - t0
        if summary.n_processed and summary.wall_s > 0:
            summary.studies_per_minute = 60.0 * summary.n_processed / summary.wall_s
        store.finish_run(
            summary.run_id,
            status="failed" if summary.n_failed else "done",
            n_studies=summary.n_studies,
            n_processed=summary.n_processed,
            n_skipped=summary.n_skipped,
            n_failed=summary.n_failed,
            n_duplicates=summary.n_duplicates,
            wall_s=summary.wall_s,
            studies_per_minute=summary.studies_per_minute,
            timings_s={**stage_totals, "worker_cpu": summary.worker_cpu_s},
        )
        return summary
    finally:
        if parallel is not None:
            parallel.stop()
        if backend is not None:
            backend.close()
        if client is not None:
            client.close()
        if store is not None:
            store.close()


def _consume(
    store: ResultStore,
    events: Iterator[Event],
    digest: str,
    demo: Demographics | None,
    keep_identifiers: bool,
    summary: RunSummary,
    on_start: Callable[[int], None] | None,
    on_progress: ProgressFn | None,
) -> dict[str, float]:
    """Act on each event of the run as it arrives; return summed stage timings.

    Every outcome is committed (its own transaction) before the next event is looked at.
    """
    from calcscan.cohort.persist import store_outcome, update_done_demographics

    totals: dict[str, float] = {}
    done_tasks: list[StudyTask] = []
    n_todo = n_done = 0
    for event in events:
        task = event.task
        if event.kind == "todo":
            summary.n_studies += 1
            n_todo += 1
        elif event.kind == "skipped":
            summary.n_studies += 1
            summary.n_skipped += 1
            assert task is not None
            done_tasks.append(task)
        elif event.kind == "duplicate":
            dup = event.item
            summary.n_duplicates += 1
            line = (
                f"duplicate study {dup.input_key}: {dup.duplicate_path} is the same study as "
                f"{dup.kept_path} (processed once)"
            )
            log.warning("%s", line)
            summary.problems.append(line)
        elif event.kind == "problem":
            problem = event.item
            log.error("input %s: %s", problem.path, problem.message)
            store.add_failure(
                run_id=summary.run_id,
                input_key=None,
                config_digest=digest,
                stage="discover",
                error_type="InputError",
                message=problem.message,
                input_label="input folder or file",
                input_path=problem.path if keep_identifiers else None,
            )
            summary.n_failed += 1
        elif event.kind == "discovered":
            update_done_demographics(store, demo, done_tasks, digest)
            log.info(
                "%d studies found (%d already done with config %s, %d duplicates); "
                "processing %d with %s",
                summary.n_studies, summary.n_skipped, digest, summary.n_duplicates, n_todo,
                summary.executor if summary.executor != "processes"
                else f"{summary.workers} processes",
            )  # fmt: skip
            if on_start is not None:
                on_start(n_todo)
        elif event.kind == "result":
            assert task is not None
            outcome = event.item
            n_done += 1
            summary.worker_cpu_s += float(outcome.get("cpu_s") or 0.0)
            summary.worker_page_faults += int(outcome.get("page_faults") or 0)
            store_outcome(
                store, task, outcome, digest, summary.run_id, demo, keep_identifiers, summary
            )
            if outcome.get("ok"):
                for stage, seconds in (outcome["record"].get("timings_s") or {}).items():
                    if isinstance(seconds, int | float):
                        totals[stage] = totals.get(stage, 0.0) + float(seconds)
            if on_progress is not None:
                on_progress(n_done, n_todo, summary.n_failed)
    return totals
