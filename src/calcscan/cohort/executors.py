"""Where the per-study tasks run: local worker processes or a Dask cluster.

A backend only submits picklable calls and returns futures (``result()`` and
``add_done_callback()``); :mod:`calcscan.cohort.stream` decides what to submit and when. Only
the small :class:`~calcscan.cohort.discovery.StudyTask` (or a list of file paths to read
headers from) goes out and a small dict comes back: volumes never cross a process boundary.
Serial runs use no backend: the driver runs each study itself.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from calcscan.cohort.worker import limit_threads, warm_up
from calcscan.errors import UsageError

__all__ = ["EXECUTORS", "DaskBackend", "ProcessBackend", "connect_dask"]

log = logging.getLogger(__name__)

EXECUTORS = ("serial", "processes", "dask")


def _cpus_to_pin(workers: int) -> list[int] | None:
    """One CPU per worker when there are exactly as many workers as CPUs, else None.

    Measured on this project's 2-CPU machine: two unpinned detection processes took 8 % more
    wall time than CPU time per study (0.527 vs 0.486 s) and left the CPUs ~7 % idle, while
    their threads were runnable; pinned one per CPU, 0.480 vs 0.477 s and no idle time. The
    likely cause is the short-lived helper threads of detection's kernels (``edt`` starts
    one per pass and waits for it) being placed on the other, busy CPU. Pinned, a worker's
    helpers run on its own CPU. ``CALCSCAN_PIN_WORKERS=0`` turns it off.
    """
    if os.environ.get("CALCSCAN_PIN_WORKERS", "1").strip() == "0":
        return None
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return None
    return cpus if len(cpus) == workers else None


def _init_worker(n_threads: int, cpus: Any) -> None:
    """Pool initializer: cap BLAS/OpenMP threads; take one CPU from ``cpus`` (a queue)."""
    limit_threads(n_threads)
    if cpus is not None:
        try:
            os.sched_setaffinity(0, {cpus.get()})
        except OSError as exc:  # pragma: no cover - CPU gone offline, container limits...
            log.debug("worker not pinned: %s", exc)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    ctx = multiprocessing.get_context("spawn")
    cpus = _cpus_to_pin(workers)
    queue = None
    if cpus is not None:
        queue = ctx.SimpleQueue()
        for cpu in cpus:
            queue.put(cpu)
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(1, queue),
    )


class ProcessBackend:
    """``workers`` spawned local processes, one BLAS/OpenMP thread each.

    With as many workers as CPUs available, each worker is pinned to its own CPU
    (:func:`_cpus_to_pin`).

    The processes start, and import the reader and detector, as soon as the backend is
    created, so their start-up overlaps the driver's own set-up and discovery. ``submit`` is
    thread-safe (discovery submits header chunks from its own thread).

    Parameters
    ----------
    workers : int
        Number of processes.
    """

    def __init__(self, workers: int) -> None:
        self.workers = int(workers)
        self._lock = threading.Lock()
        self.generation = 0
        self._pool = _new_pool(self.workers)
        for _ in range(self.workers):
            self._pool.submit(warm_up)

    def submit(self, fn: Any, *args: Any) -> Any:
        """Submit ``fn(*args)`` to the current pool (restarted first if it is broken)."""
        with self._lock:
            try:
                return self._pool.submit(fn, *args)
            except BrokenProcessPool:
                self._replace()
                return self._pool.submit(fn, *args)

    def restart(self) -> None:
        """Replace a broken pool (a worker died, e.g. killed by the out-of-memory killer)."""
        with self._lock:
            self._replace()

    def _replace(self) -> None:
        log.warning("a worker process died; restarting the pool")
        old, self._pool = self._pool, _new_pool(self.workers)
        self.generation += 1
        old.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Shut the pool down (queued work is cancelled)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _dask_pins(workers: dict[str, Any]) -> dict[str, tuple[int, int] | None]:
    """Worker address -> ``(slot, n_slots)`` among the one-thread workers of its host.

    A worker pins itself (:func:`calcscan.cohort.worker.pin_process`) only when its host has
    exactly ``n_slots`` CPUs for it, as local workers are (:func:`_cpus_to_pin`);
    ``CALCSCAN_PIN_WORKERS=0`` in the driver's environment turns it off (None: no pinning).
    """
    off = os.environ.get("CALCSCAN_PIN_WORKERS", "1").strip() == "0"
    by_host: dict[str, list[str]] = {}
    for address, info in sorted(workers.items()):
        if info.get("nthreads") == 1:
            by_host.setdefault(str(info.get("host")), []).append(address)
    pins: dict[str, tuple[int, int] | None] = {address: None for address in workers}
    if not off:
        for addresses in by_host.values():
            for slot, address in enumerate(addresses):
                pins[address] = (slot, len(addresses))
    return pins


def _profiler_enabled() -> bool:
    """Worker side: whether this Dask worker runs the statistical profiler."""
    import dask

    return bool(dask.config.get("distributed.worker.profile.enabled", True))


class DaskBackend:
    """A connected Dask client; its nanny already caps BLAS/OpenMP threads of the workers.

    When it connects, each worker runs :func:`~calcscan.cohort.worker.warm_up` (imports,
    malloc settings) and, one-thread workers that fill their host's CPUs exactly, pins itself
    to one CPU like local workers (:func:`_dask_pins`).

    Workers that run Dask's statistical profiler (on by default: it samples every running
    task's stack 100 times a second) spent 16 % more CPU per study in one measurement on the
    benchmark cohort (0.676 vs 0.584 s); a warning says how to turn it off.

    Parameters
    ----------
    client : distributed.Client
        From :func:`connect_dask`.
    """

    generation = 0

    def __init__(self, client: Any) -> None:
        self.client = client
        nthreads = (w["nthreads"] for w in client.scheduler_info()["workers"].values())
        self.workers = max(1, sum(nthreads))
        # each worker imports the reader and detector now, while the driver sets up (as local
        # workers do); the futures are kept, or Dask would cancel the tasks
        pins = _dask_pins(client.scheduler_info()["workers"])
        self._warm = [
            client.submit(warm_up, pin, pure=False, workers=[address], allow_other_workers=False)
            for address, pin in pins.items()
        ]
        try:
            profiling = sum(map(bool, client.run(_profiler_enabled).values()))
        except Exception:  # only a hint: never stop a run for it
            profiling = 0
        if profiling:
            log.warning(
                "%d Dask workers run the statistical profiler, which costs ~15 %% CPU per "
                "study: start them with DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False",
                profiling,
            )

    def submit(self, fn: Any, *args: Any) -> Any:
        """Submit ``fn(*args)`` as a non-pure task (every call runs)."""
        return self.client.submit(fn, *args, pure=False)

    def restart(self) -> None:
        """Nothing to restart: the scheduler reschedules the work of lost workers."""

    def close(self) -> None:
        """Release the warm-up tasks; the client is closed by whoever connected it."""
        for future in self._warm:
            future.release()
        self._warm = []


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
