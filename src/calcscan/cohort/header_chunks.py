"""Discovery's file reading, done on the workers: DICOM headers in chunks, volume hashes.

Discovery groups DICOM files into studies from their headers and keys volume files by a hash
of their content. On one process that is serial work in the driver (about 1-2.5 ms per DICOM
file, 20 ms per 6 MB NIfTI), which the workers would wait for, and which becomes the
bottleneck as detection gets faster. Here the driver sends file paths to the same workers that
run the studies and gets small records back. Header chunks are contiguous slices of the file
list merged in order, so the result equals :func:`calcscan.io.discover_series` on all files.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["CHUNK_FILES", "WorkerReader", "content_key", "merge_discoveries", "read_header_chunk"]

log = logging.getLogger(__name__)

#: Files per chunk: large enough that a chunk's round trip (~10 ms) is small next to reading
#: it (~0.15 s), small enough that 2 workers share a 700-file folder evenly.
CHUNK_FILES = 64


def read_header_chunk(paths: list[str]) -> Any:
    """Worker side: :func:`calcscan.io.discover_series` on some files (headers only).

    Parameters
    ----------
    paths : list of str
        Files, in the driver's order.

    Returns
    -------
    calcscan.io.DiscoveryResult
        Series of these files (file geometry and one header of selected tags per series: a
        few kB, no pixel data).
    """
    from calcscan.io import discover_series

    return discover_series([Path(p) for p in paths])


def content_key(path: str) -> str:
    """Worker side: the content key of a volume file (see :mod:`calcscan.cohort.discovery`)."""
    from calcscan.cohort.discovery import content_key as key_of

    return key_of(Path(path))


def merge_discoveries(parts: list[Any]) -> Any:
    """Merge the results of consecutive chunks into one, as if read in one go.

    Series are keyed by (StudyInstanceUID, SeriesInstanceUID) in order of first appearance;
    a series spread over several chunks keeps the header of its first file.
    """
    from calcscan.io import DiscoveryResult

    series: dict[tuple[str, str], Any] = {}
    merged = DiscoveryResult([], 0, [], [])
    for part in parts:
        for info in part.series:
            key = (info.study_uid, info.series_uid)
            if key in series:
                series[key].files.extend(info.files)
            else:
                series[key] = info
        merged.n_files += part.n_files
        merged.non_dicom.extend(part.non_dicom)
        merged.corrupt.extend(part.corrupt)
    merged.series = list(series.values())
    return merged


class WorkerReader:
    """Discovery's file reading spread over the workers of a run.

    Parameters
    ----------
    submit : callable
        ``submit(fn, *args) -> future`` of the run's executor (process pool or Dask client);
        the future's ``result()`` returns ``fn(*args)``.
    chunk_files : int
        Files per chunk; folders with no more than this are read in this process.
    stop : threading.Event, optional
        Set when the run ends early: reading stops at the next chunk.

    Notes
    -----
    Work whose future fails (a worker died, the cluster went away) is done again in this
    process, so discovery never loses files because of the executor.
    """

    def __init__(
        self,
        submit: Callable[..., Any],
        *,
        chunk_files: int = CHUNK_FILES,
        stop: threading.Event | None = None,
    ) -> None:
        self.submit = submit
        self.chunk_files = max(1, int(chunk_files))
        self.stop = stop or threading.Event()

    def content_keys(self, files: list[Path]) -> Callable[[Path], str]:
        """Start hashing ``files`` on the workers; return ``key_of(path)`` that waits for one.

        ``key_of`` raises :class:`OSError` for a file that cannot be read, as
        :func:`calcscan.cohort.discovery.content_key` does.
        """
        from calcscan.cohort.discovery import content_key as key_here

        futures: dict[Path, Any] = {}
        for path in files:
            try:
                futures[path] = self.submit(content_key, str(path))
            except Exception as exc:  # executor gone: hash it here
                log.debug("cannot send a file to hash to the workers (%s)", exc)

        def key_of(path: Path) -> str:
            future = futures.pop(path, None)
            if future is not None:
                try:
                    return str(future.result())
                except OSError:
                    raise
                except Exception as exc:  # worker lost: hash it here
                    log.debug("hashing failed on a worker (%s); hashing here", exc)
            return key_here(path)

        return key_of

    def read_headers(self, files: list[Path]) -> Any:
        """Read the headers of ``files``; same result as ``discover_series(files)``."""
        from calcscan.io import discover_series

        if len(files) <= self.chunk_files:
            return discover_series(files)
        chunks = [
            [str(p) for p in files[i : i + self.chunk_files]]
            for i in range(0, len(files), self.chunk_files)
        ]
        futures: list[Any] = []
        for chunk in chunks:
            try:
                futures.append(self.submit(read_header_chunk, chunk))
            except Exception as exc:  # executor gone: read the chunk here instead
                log.debug("cannot send a header chunk to the workers (%s)", exc)
                futures.append(None)
        parts = []
        for future, chunk in zip(futures, chunks, strict=True):
            if self.stop.is_set():
                raise RuntimeError("cohort run stopped during discovery")
            try:
                if future is None:
                    raise RuntimeError("not submitted")
                parts.append(future.result())
            except Exception as exc:  # worker lost: read the chunk here instead
                log.debug("header chunk failed on a worker (%s); reading it here", exc)
                parts.append(discover_series([Path(p) for p in chunk]))
        return merge_discoveries(parts)
