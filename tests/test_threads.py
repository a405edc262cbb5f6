"""calcscan.threads: the thread budget and work run beside the caller."""

from __future__ import annotations

import threading

import pytest

from calcscan.threads import Beside, in_runs, kernel_threads


def _whose_thread(x: int) -> tuple[int, str]:
    return 2 * x, threading.current_thread().name


def _fails() -> None:
    raise ValueError("broken input")


def test_kernel_threads_follows_omp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert kernel_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "zero")
    assert 1 <= kernel_threads() <= 2


def test_beside_runs_on_another_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    job = Beside(_whose_thread, 21)
    value, name = job.result()
    assert value == 42
    assert name != threading.current_thread().name
    assert job.seconds >= 0.0


def test_beside_stays_on_the_callers_thread_with_one_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # cohort workers set OMP_NUM_THREADS=1: a worker must not use a second core
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    value, name = Beside(_whose_thread, 5).result()
    assert (value, name) == (10, threading.current_thread().name)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_beside_raises_the_error_in_the_caller(
    monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    job = Beside(_fails)  # no exception yet: it is raised where the result is wanted
    with pytest.raises(ValueError, match="broken input"):
        job.result()


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize(("n", "align"), [(17, 1), (40, 4), (9, 2)])
def test_in_runs_covers_every_item_once_in_aligned_runs(n_threads: int, n: int, align: int) -> None:
    runs: list[tuple[int, int]] = []
    lock = threading.Lock()

    def record(first: int, last: int) -> None:
        with lock:
            runs.append((first, last))

    in_runs(record, n, n_threads, align=align)
    runs.sort()
    covered = [k for a, b in runs for k in range(a, b)]
    assert covered == list(range(n))
    assert len(runs) == n_threads
    assert all(a % align == 0 for a, _ in runs)
