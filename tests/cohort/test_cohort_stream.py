"""Streaming runs: studies start before discovery ends, header chunks read on the workers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cohort_fakes import Cohort, die_on_vol_03

from calcscan.cohort import run_cohort
from calcscan.cohort.discovery import Found, StudyTask, iter_discovery
from calcscan.cohort.header_chunks import WorkerReader
from calcscan.cohort.store import open_store
from calcscan.cohort.stream import ParallelStream
from calcscan.io import discover_series
from calcscan.io.discover import scan_files

CONFIG = {"threshold_hu": 150.0}


def _summary(found: Any) -> list[Any]:
    return [
        found.n_files,
        [(s.study_uid, s.series_uid, [f.path for f in s.files]) for s in found.series],
        [s.header.SeriesInstanceUID for s in found.series],
        found.non_dicom,
        [path for path, _ in found.corrupt],
    ]


def _dicom_files(cohort: Cohort) -> list[Path]:
    archive = cohort.inputs[0]
    folders = ["study_02", "study_03", "study_04", "garbage_dicom", "broken_dicom"]
    return scan_files([archive / name for name in folders])


def test_header_chunks_merge_to_the_same_discovery(cohort: Cohort) -> None:
    files = _dicom_files(cohort)
    with ThreadPoolExecutor(2) as pool:
        reader = WorkerReader(pool.submit, chunk_files=7)  # series span chunks
        merged = reader.read_headers(files)
    expected = discover_series(files)
    assert len(files) > 3 * 7 and len(expected.series) == 5 and expected.corrupt
    assert _summary(merged) == _summary(expected)


def test_header_chunks_of_a_lost_worker_are_read_in_the_driver(cohort: Cohort) -> None:
    files = _dicom_files(cohort)
    calls = []

    def failing_submit(fn: Any, *args: Any) -> Future[Any]:
        calls.append(fn)
        future: Future[Any] = Future()
        if len(calls) % 2:
            future.set_exception(RuntimeError("worker lost"))
        else:
            future.set_result(fn(*args))
        return future

    merged = WorkerReader(failing_submit, chunk_files=10).read_headers(files)
    assert len(calls) >= 3
    assert _summary(merged) == _summary(discover_series(files))


def test_volume_files_are_yielded_before_dicom_headers_are_read(cohort: Cohort) -> None:
    read: list[int] = []

    def reader(files: list[Path]) -> Any:
        read.append(len(files))
        return discover_series(files)

    stream = iter_discovery([cohort.inputs[0]], read_headers=reader)
    first = next(stream)
    assert isinstance(first, StudyTask) and first.kind == "volume" and read == []
    rest = list(stream)
    assert read and sum(isinstance(item, StudyTask) for item in rest) >= 20


class _ThreadBackend:
    """The backend interface on threads (no pickling): enough to test the scheduling."""

    generation = 0

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(2)

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        return self.pool.submit(fn, *args)


def _record(task: Any, config: Any) -> dict[str, Any]:
    return {"study_key": task.input_key}


def test_studies_run_while_discovery_is_still_going() -> None:
    first_done = threading.Event()
    waited: list[bool] = []

    def discover(read_headers: Any) -> Iterator[Found]:
        yield StudyTask("a", "/a", None, "volume", "a")
        waited.append(first_done.wait(timeout=60))  # a run that waits for discovery hangs here
        yield StudyTask("b", "/b", None, "volume", "b")

    backend = _ThreadBackend()
    kinds = []
    try:
        for event in ParallelStream(backend, discover).events(_record, None, set(), window=4):
            kinds.append((event.kind, event.task.input_key if event.task else None))
            if event.kind == "result":
                assert event.item["ok"], event.item
                first_done.set()
    finally:
        backend.pool.shutdown()
    assert waited == [True]
    assert kinds.index(("result", "a")) < kinds.index(("discovered", None))
    assert sorted(k for k in kinds if k[0] == "result") == [("result", "a"), ("result", "b")]


@pytest.mark.parametrize("done", [set(), {"b"}])
def test_stream_skips_done_studies(done: set[str]) -> None:
    def discover(read_headers: Any) -> Iterator[Found]:
        yield from (StudyTask(k, f"/{k}", None, "volume", k) for k in "abc")

    backend = _ThreadBackend()
    try:
        stream = ParallelStream(backend, discover)
        events = list(stream.events(_record, None, done, window=1))
    finally:
        backend.pool.shutdown()
    results = sorted(e.task.input_key for e in events if e.kind == "result" and e.task)
    skipped = [e.task.input_key for e in events if e.kind == "skipped" and e.task]
    assert results == sorted(set("abc") - done) and skipped == sorted(done)


def test_a_study_that_kills_its_worker_fails_alone(cohort: Cohort, db_url: str) -> None:
    volumes = [cohort.inputs[0] / f"vol_{j:02d}.nii.gz" for j in range(6)]
    summary = run_cohort(
        volumes, db_url, config=CONFIG, process=die_on_vol_03, workers=2, keep_identifiers=True
    )
    assert summary.n_processed == 5 and summary.n_failed == 1 and summary.exit_code == 2
    (failure,) = open_store(db_url).failures()
    assert failure["stage"] == "worker" and failure["input"].endswith("vol_03.nii.gz")


def test_discovery_through_workers_equals_discovery_here(cohort: Cohort, tmp_path: Path) -> None:
    missing = tmp_path / "gone.nii.gz"
    with ThreadPoolExecutor(2) as pool:
        reader = WorkerReader(pool.submit, chunk_files=16)
        key_of = reader.content_keys([missing])
        with pytest.raises(OSError):  # an unreadable file fails as it does without workers
            key_of(missing)
        found = list(
            iter_discovery(
                cohort.inputs,
                read_headers=reader.read_headers,
                content_keys=reader.content_keys,
            )
        )
    assert found == list(iter_discovery(cohort.inputs))
    # the good studies, plus the truncated DICOM series and the corrupt NIfTI (they fail later)
    assert sum(isinstance(item, StudyTask) for item in found) == cohort.n_good + 2
