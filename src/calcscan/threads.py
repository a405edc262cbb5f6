"""How many threads calcscan's own multithreaded kernels (``edt``) may use.

Cohort workers cap BLAS/OpenMP at one thread per process by setting ``OMP_NUM_THREADS=1``;
the distance transforms follow the same variable so that N workers use N cores, not 2N.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Beside", "in_runs", "kernel_threads"]

T = TypeVar("T")


def kernel_threads(default: int = 2) -> int:
    """Threads for ``edt`` and similar kernels: ``$OMP_NUM_THREADS`` when set, else ``default``.

    Parameters
    ----------
    default : int
        Used when the variable is unset or not a positive integer (capped by the CPU count).
    """
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.strip().isdigit() and int(value) > 0:
        return int(value)
    return max(1, min(default, os.cpu_count() or 1))


def in_runs(fn: Callable[[int, int], None], n: int, n_threads: int, *, align: int = 1) -> None:
    """``fn(first, last)`` over contiguous runs covering ``range(n)``, one run per thread.

    For kernels that write disjoint slices of an output with numpy loops that release the
    GIL. Run boundaries fall on multiples of ``align`` (the last run ends at ``n``); with
    one thread ``fn(0, n)`` runs on the caller's thread.

    Parameters
    ----------
    fn : callable
        Called with ``(first, last)``; must only write its own run.
    n : int
        Items (e.g. slices) to cover.
    n_threads : int
    align : int
        Runs start at multiples of this (e.g. a block size).
    """
    if n_threads <= 1:
        fn(0, n)
        return
    from concurrent.futures import ThreadPoolExecutor
    from itertools import pairwise

    cuts = [align * round(n * i / n_threads / align) for i in range(n_threads)] + [n]
    with ThreadPoolExecutor(n_threads) as pool:
        for job in [pool.submit(fn, a, b) for a, b in pairwise(cuts)]:
            job.result()


class Beside(Generic[T]):
    """``fn(*args)`` run on a thread of its own beside the caller's work.

    Used for stages that need only results already at hand (the face frame and the bumps
    on bone need the tissue maps, not the candidates). Only work that releases the GIL
    (large numpy operations, scipy filters) overlaps; ``edt`` and ``cc3d`` hold it for their
    whole call. When :func:`kernel_threads` is 1 (cohort workers: one core each) the call
    runs at once on the caller's thread, so a worker never uses more than its core.

    Parameters
    ----------
    fn : callable
    *args
        Its arguments.
    """

    def __init__(self, fn: Callable[..., T], *args: object) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self.seconds = 0.0
        self._thread: threading.Thread | None = None
        if kernel_threads() < 2:
            self._run(fn, args)
        else:
            self._thread = threading.Thread(target=self._run, args=(fn, args), daemon=True)
            self._thread.start()

    def _run(self, fn: Callable[..., T], args: tuple[object, ...]) -> None:
        t = time.perf_counter()
        try:
            self._value = fn(*args)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc
        self.seconds = time.perf_counter() - t

    def result(self) -> T:
        """Wait for the call and return its value (or raise its exception here)."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
