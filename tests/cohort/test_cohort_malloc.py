"""malloc settings of study processes, and the per-study cost measured around each study."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from calcscan.cohort.worker import run_task

_GLIBC = sys.platform.startswith("linux") and (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith(
    "glibc"
)

_PROBE = (
    "from calcscan.cohort.malloc import tune_malloc; "
    "import calcscan.cohort.malloc as m; "
    "print(tune_malloc(), tune_malloc(), m._done)"
)


def _probe(**env: str) -> str:
    full = {**os.environ, **env}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=full, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.mark.skipif(not _GLIBC, reason="mallopt tuning applies to glibc only")
def test_tuning_applies_once_on_glibc() -> None:
    assert _probe(CALCSCAN_MALLOC_TUNING="1") == "True True True"


def test_tuning_can_be_turned_off() -> None:
    assert _probe(CALCSCAN_MALLOC_TUNING="0") == "False False False"


def _touch_pages(task: Any, config: Any) -> dict[str, Any]:
    block = bytearray(config["bytes"])  # zero-filled: the kernel maps fresh pages
    for i in range(0, len(block), 4096):
        block[i] = 1
    return {"n": len(block)}


def test_outcome_reports_cpu_and_page_faults() -> None:
    task = SimpleNamespace(input_key="k")
    big = run_task(_touch_pages, task, {"bytes": 96 * 2**20})  # above the 32 MiB mmap limit
    assert big["ok"] and big["record"] == {"n": 96 * 2**20}
    assert big["cpu_s"] >= 0.0
    assert big["page_faults"] >= 96 * 2**20 // (2 * 2**20)  # >= one fault per 2 MiB huge page
    failed = run_task(lambda t, c: 1 / 0, task, None)
    assert not failed["ok"] and isinstance(failed["page_faults"], int)
