"""Local workers are pinned one per CPU when there are as many workers as CPUs."""

from __future__ import annotations

import os
import time

import pytest

from calcscan.cohort.executors import ProcessBackend, _cpus_to_pin

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux-only"
)


def _affinities(backend: ProcessBackend, n_calls: int) -> set[frozenset[int]]:
    seen: set[frozenset[int]] = set()
    for _ in range(n_calls):  # several calls so that every worker answers at least once
        futures = [backend.submit(os.sched_getaffinity, 0) for _ in range(backend.workers)]
        seen |= {frozenset(f.result()) for f in futures}
        time.sleep(0.05)
    return seen


def test_one_cpu_per_worker() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    backend = ProcessBackend(len(cpus))
    try:
        seen = _affinities(backend, 5)
    finally:
        backend.close()
    assert all(len(s) == 1 for s in seen), seen
    assert set().union(*seen) <= set(cpus)


def test_not_pinned_when_turned_off_or_fewer_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    n = len(os.sched_getaffinity(0))
    assert _cpus_to_pin(n) is not None
    assert _cpus_to_pin(n + 1) is None
    monkeypatch.setenv("CALCSCAN_PIN_WORKERS", "0")
    assert _cpus_to_pin(n) is None
    backend = ProcessBackend(n)
    try:
        seen = _affinities(backend, 2)
    finally:
        backend.close()
    assert seen == {frozenset(os.sched_getaffinity(0))}


def test_dask_pins_by_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from calcscan.cohort.executors import _dask_pins

    workers = {
        "tcp://a:2": {"host": "a", "nthreads": 1},
        "tcp://a:1": {"host": "a", "nthreads": 1},
        "tcp://b:1": {"host": "b", "nthreads": 1},
        "tcp://c:1": {"host": "c", "nthreads": 4},
    }
    assert _dask_pins(workers) == {
        "tcp://a:1": (0, 2),
        "tcp://a:2": (1, 2),
        "tcp://b:1": (0, 1),
        "tcp://c:1": None,
    }
    monkeypatch.setenv("CALCSCAN_PIN_WORKERS", "0")
    assert set(_dask_pins(workers).values()) == {None}


def test_dask_workers_pinned_one_per_cpu() -> None:
    distributed = pytest.importorskip("distributed")
    from calcscan.cohort.executors import DaskBackend

    n = len(os.sched_getaffinity(0))
    with (
        distributed.LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        backend = DaskBackend(client)
        for future in backend._warm:
            future.result()
        cpus = client.run(os.sched_getaffinity, 0)
        backend.close()
    assert all(len(c) == 1 for c in cpus.values()), cpus
    assert len(set().union(*cpus.values())) == n
