"""Ways to run the per-study task: serially, on local processes, or on a Dask cluster.

Each executor yields ``(task, outcome)`` pairs in completion order. Only the small
:class:`~calcscan.cohort.discovery.StudyTask` goes out and the small outcome dict comes back:
volumes never cross a process boundary. At most ``2 x workers`` tasks are in flight, so a
100,000-study archive does not queue 100,000 futures at once.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from calcscan.cohort.discovery import StudyTask
from calcscan.cohort.worker import Outcome, ProcessFn, limit_threads, run_task, warm_up
from calcscan.errors import UsageError

__all__ = [
    "EXECUTORS",
    "connect_dask",
    "run_dask",
    "run_processes",
    "run_serial",
    "start_pool",
]

log = logging.getLogger(__name__)

EXECUTORS = ("serial", "processes", "dask")


def _crash(task: StudyTask, stage: str, exc: BaseException) -> Outcome:
    return {
        "ok": False,
        "input_key": task.input_key,
        "stage": stage,
        "error_type": type(exc).__name__,
        "message": (str(exc).splitlines() or [type(exc).__name__])[0][:1000],
        "elapsed_s": None,
    }


def run_serial(
    tasks: Sequence[StudyTask], process: ProcessFn, config: Any
) -> Iterator[tuple[StudyTask, Outcome]]:
    """Run every task in this process, one after the other."""
    for task in tasks:
        yield task, run_task(process, task, config)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=limit_threads,
        initargs=(1,),
    )


def start_pool(workers: int) -> ProcessPoolExecutor:
    """Start ``workers`` spawned processes and let them import the pipeline in the background.

    Called before discovery, so worker start-up overlaps the driver's own set-up work.
    """
    pool = _new_pool(workers)
    for _ in range(workers):
        pool.submit(warm_up)
    return pool


def run_processes(
    tasks: Sequence[StudyTask],
    process: ProcessFn,
    config: Any,
    *,
    workers: int,
    pool: ProcessPoolExecutor | None = None,
) -> Iterator[tuple[StudyTask, Outcome]]:
    """Run the tasks on ``workers`` local processes (spawned, one BLAS thread each).

    A worker that dies (e.g. killed by the out-of-memory killer) fails only the studies it
    held; the pool is restarted for the rest.

    Parameters
    ----------
    pool : ProcessPoolExecutor, optional
        A pool from :func:`start_pool` (shut down here when done); default: a new one.
    """
    pending = list(reversed(tasks))
    window = max(1, 2 * workers)
    pool = pool or _new_pool(workers)
    running: dict[Future[Outcome], StudyTask] = {}
    try:
        while pending or running:
            while pending and len(running) < window:
                task = pending.pop()
                running[pool.submit(run_task, process, task, config)] = task
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                task = running.pop(future)
                try:
                    yield task, future.result()
                except BrokenProcessPool as exc:
                    broken = True
                    yield task, _crash(task, "worker", exc)
            if broken:
                log.warning("a worker process died; restarting the pool")
                pending.extend(running.values())  # not lost: resubmitted to the new pool
                running.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = _new_pool(workers)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def connect_dask(scheduler: str) -> Any:
    """Connect to a Dask scheduler; a one-line :class:`UsageError` when it cannot be reached."""
    from distributed import Client

    try:
        return Client(scheduler, timeout="5s")
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(
            f"cannot reach Dask scheduler {scheduler}: {exc} (start it with dask scheduler, "
            "or drop --scheduler to use local processes)"
        ) from None


def run_dask(
    tasks: Sequence[StudyTask], process: ProcessFn, config: Any, *, client: Any
) -> Iterator[tuple[StudyTask, Outcome]]:
    """Run the tasks on a Dask distributed cluster.

    Parameters
    ----------
    client : distributed.Client
        Connected client (:func:`connect_dask`); Dask's nanny already caps BLAS/OpenMP
        threads of its workers.
    """
    from distributed import as_completed

    n_workers = max(1, sum(w["nthreads"] for w in client.scheduler_info()["workers"].values()))
    window = 2 * n_workers
    pending = list(reversed(tasks))
    owner: dict[Any, StudyTask] = {}

    def submit() -> Any:
        task = pending.pop()
        future = client.submit(run_task, process, task, config, pure=False)
        owner[future.key] = task
        return future

    queue = as_completed([submit() for _ in range(min(window, len(pending)))])
    for future in queue:
        task = owner.pop(future.key)
        try:
            outcome = future.result()
        except Exception as exc:  # KilledWorker, lost connection...
            outcome = _crash(task, "worker", exc)
        future.release()
        yield task, outcome
        if pending:
            queue.add(submit())
