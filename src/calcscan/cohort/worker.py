"""The per-study task that runs in worker processes: read + detect + return a small record.

Kept free of heavy imports at module level so a freshly spawned worker can limit BLAS/OpenMP to
one thread (:func:`limit_threads`) before numpy is first imported.
"""

from __future__ import annotations

import os
import resource
import time
import traceback
from collections.abc import Callable
from typing import Any

from calcscan.cohort.malloc import tune_malloc

__all__ = [
    "THREAD_ENV",
    "Outcome",
    "ProcessFn",
    "detect_study",
    "limit_threads",
    "pin_process",
    "run_task",
    "warm_up",
]

#: Environment variables that cap BLAS/OpenMP thread pools.
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "BLIS_NUM_THREADS",
)

#: A small, picklable dict: ``{"ok": True, "record": {...}, "elapsed_s": f}`` or
#: ``{"ok": False, "stage": str, "error_type": str, "message": str, "elapsed_s": f}``.
Outcome = dict[str, Any]
#: Signature of a per-study processing function: ``(task, config) -> study record dict``.
#: It may raise; an exception with a ``stage`` attribute names the failing stage.
ProcessFn = Callable[[Any, Any], dict[str, Any]]


def limit_threads(n: int = 1) -> None:
    """Cap BLAS/OpenMP threads of this process (call before numpy is imported)."""
    for name in THREAD_ENV:
        os.environ[name] = str(n)


def pin_process(slot: int, n_slots: int) -> bool:
    """Pin every thread of this process to its CPU ``slot`` of ``n_slots`` (Linux).

    Nothing happens unless the process may use exactly ``n_slots`` CPUs (one worker per
    CPU). Threads started later inherit the CPU. Returns whether the process was pinned.
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return False
    if len(cpus) != n_slots or not 0 <= slot < n_slots:
        return False
    try:
        for tid in os.listdir("/proc/self/task"):
            os.sched_setaffinity(int(tid), {cpus[slot]})
    except OSError:  # pragma: no cover - a thread just ended, container limits...
        return False
    return True


def warm_up(pin: tuple[int, int] | None = None) -> None:
    """Prepare a fresh worker before its first study: malloc settings, reader and detector.

    ``calcscan.detect`` loads its pipeline (scipy, scikit-image, ...) lazily, so the pipeline
    is imported explicitly here (about 0.3 s) rather than inside the first study.

    Parameters
    ----------
    pin : (int, int), optional
        ``(slot, n_slots)``: pin this process to one CPU (:func:`pin_process`).
    """
    if pin is not None:
        pin_process(*pin)
    tune_malloc()
    try:
        import calcscan.io  # noqa: F401
        from calcscan.detect import detect_scan  # noqa: F401
    except ImportError:  # pragma: no cover - a broken install fails in the study instead
        pass


class StageError(Exception):
    """Wraps an exception with the pipeline stage it happened in."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(str(error))
        self.stage = stage
        self.error = error


def detect_study(task: Any, config: Any) -> dict[str, Any]:
    """Default processing: :func:`calcscan.io.read_ct` then :func:`calcscan.detect.detect_scan`.

    Parameters
    ----------
    task : StudyTask
        What to read (``path``, ``series_uid``).
    config : DetectConfig or None
        Detection options.

    Returns
    -------
    dict
        The CONTRACTS §2 study record.
    """
    try:
        from calcscan.io import read_ct

        scan = read_ct(task.path, series_uid=task.series_uid)
    except Exception as exc:
        raise StageError("read", exc) from exc
    try:
        from calcscan.detect import detect_scan

        record: dict[str, Any] = detect_scan(scan, config).to_dict()
    except Exception as exc:
        raise StageError("detect", exc) from exc
    record["input"] = task.path
    fmt = scan.provenance.get("source_format")
    if fmt and "source_format" not in record:
        record["source_format"] = fmt
    return record


def run_task(process: ProcessFn, task: Any, config: Any) -> Outcome:
    """Run ``process`` on one task and turn any exception into a failure outcome.

    Parameters
    ----------
    process : callable
        ``process(task, config) -> record dict``.
    task : StudyTask
        The study.
    config : object
        Passed through to ``process``.

    Returns
    -------
    Outcome
        A small dict that crosses the process boundary back to the driver; ``cpu_s`` and
        ``page_faults`` are the CPU time and minor page faults of the whole process while the
        study ran.

    Notes
    -----
    The first call in a process applies :func:`calcscan.cohort.malloc.tune_malloc` (in the
    serial driver, a local worker and a Dask worker alike).
    """
    tune_malloc()
    t0, cpu0 = time.perf_counter(), time.process_time()
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    try:
        record = process(task, config)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a study failure must never stop the batch
        stage = "process"
        error: BaseException = exc
        if isinstance(exc, StageError):
            stage, error = exc.stage, exc.error
        else:
            stage = str(getattr(exc, "stage", stage))
        lines = [ln for ln in str(error).splitlines() if ln.strip()]
        return {
            "ok": False,
            "input_key": task.input_key,
            "stage": stage,
            "error_type": type(error).__name__,
            "message": (lines[0] if lines else type(error).__name__)[:1000],
            "detail": "".join(traceback.format_exception_only(error))[-2000:],
            "elapsed_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - cpu0,
            "page_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0,
        }
    return {
        "ok": True,
        "input_key": task.input_key,
        "record": record,
        "elapsed_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - cpu0,
        "page_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0,
        "pid": os.getpid(),
    }
