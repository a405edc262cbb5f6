"""From discovery to outcomes: the event stream a cohort run consumes.

Parallel runs do not wait for discovery to finish. Discovery runs in a driver thread (its
file reading spread over the workers by :class:`~calcscan.cohort.header_chunks.WorkerReader`)
and each study goes to the workers as soon as it is found; at most
``window`` studies are in flight, so a 100,000-study archive never queues 100,000 futures.
The driver thread only submits, and turns finished futures into events; the caller commits
each outcome as its event arrives, so a killed run loses at most the studies in flight. When a
worker process dies (e.g. the out-of-memory killer), the pool is restarted and the studies it
held are run again one at a time, so only the study that kills its worker is recorded as
failed.

Serial runs discover everything first and then run each study in the driver: the same work,
and the progress bar knows its total from the start.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from calcscan.cohort.discovery import Duplicate, Found, StudyTask
from calcscan.cohort.header_chunks import WorkerReader
from calcscan.cohort.worker import Outcome, ProcessFn, run_task

__all__ = ["Event", "ParallelStream", "stream_serial"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One thing that happened in a run.

    Attributes
    ----------
    kind : str
        ``"todo"`` (a study to process was found), ``"skipped"`` (found, already done with this
        config), ``"duplicate"``, ``"problem"`` (an input that cannot be used), ``"result"``
        (a study finished: ``item`` is its outcome) or ``"discovered"`` (discovery is over).
    task : StudyTask or None
    item : Duplicate, InputProblem, Outcome or None
    """

    kind: str
    task: StudyTask | None = None
    item: Any = None


def _found_event(item: Found, done_keys: set[str]) -> Event:
    if isinstance(item, StudyTask):
        return Event("skipped" if item.input_key in done_keys else "todo", task=item)
    return Event("duplicate" if isinstance(item, Duplicate) else "problem", item=item)


def _crash(task: StudyTask, stage: str, exc: BaseException) -> Outcome:
    return {
        "ok": False,
        "input_key": task.input_key,
        "stage": stage,
        "error_type": type(exc).__name__,
        "message": (str(exc).splitlines() or [type(exc).__name__])[0][:1000],
        "elapsed_s": None,
    }


def stream_serial(
    found: Iterable[Found], process: ProcessFn, config: Any, done_keys: set[str]
) -> Iterator[Event]:
    """Discover everything, then run each study in this process (one after the other)."""
    events = [_found_event(item, done_keys) for item in found]
    yield from events
    yield Event("discovered")
    for event in events:
        if event.kind == "todo":
            assert event.task is not None
            yield Event("result", event.task, run_task(process, event.task, config))


class ParallelStream:
    """Discovery started now in a driver thread; studies run on ``backend`` as it finds them.

    Creating the stream starts discovery at once (its file reading goes to the workers), so
    it overlaps whatever the driver still has to set up (detection config, results store)
    before :meth:`events` is iterated.

    Parameters
    ----------
    backend : ProcessBackend or DaskBackend
        Where the studies (and discovery's file reading) run.
    discover : callable
        ``discover(reader) -> iterator`` of discovery items
        (:func:`calcscan.cohort.discovery.iter_discovery` bound to the inputs, reading files
        through ``reader``, a :class:`~calcscan.cohort.header_chunks.WorkerReader`).
    """

    def __init__(self, backend: Any, discover: Callable[[WorkerReader], Iterator[Found]]) -> None:
        self.backend = backend
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._stop = threading.Event()
        reader = WorkerReader(backend.submit, stop=self._stop)

        def produce() -> None:
            try:
                for item in discover(reader):
                    if self._stop.is_set():
                        return
                    self._inbox.put(("found", item))
            except BaseException as exc:  # re-raised in the driver's thread
                self._inbox.put(("error", exc))
            finally:
                self._inbox.put(("end", None))

        self._thread = threading.Thread(
            target=produce, name="calcscan-cohort-discovery", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Ask discovery to stop (it ends after the item or header chunk at hand)."""
        self._stop.set()

    def events(
        self, process: ProcessFn, config: Any, done_keys: set[str], *, window: int
    ) -> Iterator[Event]:
        """Submit each study found and yield what happens, until every study has a result.

        Parameters
        ----------
        process, config
            The per-study function and its config (see :func:`calcscan.cohort.worker.run_task`).
        done_keys : set of str
            Input keys already stored with this config (skipped).
        window : int
            Most studies in flight at once.

        Yields
        ------
        Event
            In the order things happen; every ``todo`` study gets exactly one ``result``.
        """
        try:
            yield from self._run(process, config, done_keys, window)
        finally:
            self.stop()

    def _run(
        self, process: ProcessFn, config: Any, done_keys: set[str], window: int
    ) -> Iterator[Event]:
        backend, inbox = self.backend, self._inbox
        pending: deque[StudyTask] = deque()
        suspects: deque[StudyTask] = deque()  # in flight when a worker died: rerun one by one
        running: dict[Any, tuple[StudyTask, int, bool]] = {}  # future -> task, pool, alone
        discovering = True

        def finished(future: Any) -> None:
            inbox.put(("done", future))

        def submit(task: StudyTask, alone: bool) -> None:
            future = backend.submit(run_task, process, task, config)
            running[future] = (task, backend.generation, alone)
            future.add_done_callback(finished)

        while discovering or pending or suspects or running:
            if suspects:
                if not running:
                    submit(suspects.popleft(), True)
            else:
                while pending and len(running) < window:
                    submit(pending.popleft(), False)
            kind, payload = inbox.get()
            if kind == "found":
                event = _found_event(payload, done_keys)
                if event.kind == "todo":
                    assert event.task is not None
                    pending.append(event.task)
                yield event
            elif kind == "done" and payload in running:
                task, generation, alone = running.pop(payload)
                try:
                    outcome = payload.result()
                except BrokenProcessPool as exc:
                    if generation == backend.generation:  # not restarted yet
                        backend.restart()
                    if not alone:  # which study killed its worker? run each alone to find out
                        broken = [f for f, (_, g, _) in running.items() if g == generation]
                        suspects.append(task)
                        suspects.extend(running.pop(f)[0] for f in broken)
                        continue
                    outcome = _crash(task, "worker", exc)  # it ran alone: it is the culprit
                except Exception as exc:  # Dask: KilledWorker, lost connection...
                    outcome = _crash(task, "worker", exc)
                if hasattr(payload, "release"):
                    payload.release()  # Dask: let the cluster forget the result
                yield Event("result", task, outcome)
            elif kind == "error":
                raise payload
            elif kind == "end":
                discovering = False
                yield Event("discovered")
