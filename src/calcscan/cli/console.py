"""Shared Rich consoles and helpers for the CLI commands.

stdout is reserved for machine-readable output (``--json``) and plain results; progress bars,
logs, warnings and errors go to stderr.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["err_console", "out_console", "print_json", "progress", "to_jsonable"]

#: Human-facing console on stderr (logs, progress, errors).
err_console = Console(stderr=True)
#: Console on stdout for tables and results (not used together with ``--json``).
out_console = Console()


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats to strict-JSON values (NaN -> None)."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None  # type: ignore[assignment]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if np is not None:
        if isinstance(obj, np.ndarray):
            return to_jsonable(obj.tolist())
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            obj = float(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def print_json(obj: Any) -> None:
    """Write ``obj`` as strict JSON (no NaN/Infinity) to stdout, and nothing else."""
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2, allow_nan=False))
    sys.stdout.write("\n")
    sys.stdout.flush()


def progress(*, transient: bool = False) -> Progress:
    """A Rich progress bar on stderr with count, rate-friendly columns and ETA."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
        disable=not err_console.is_terminal and False,
    )
