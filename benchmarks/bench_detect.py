"""Detection speed and memory on the real InVesalius head, in one run.

Ratios printed (issue 3 targets):

- detection time (excluding reading) / reading time of the same series   <= 1.0
- peak traced memory of detection / bytes of the HU volume               <= 10

The headline ratio uses glibc's default malloc, as a plain ``python`` process running
``detect_scan`` gets it. A second pair of numbers is measured after
:func:`calcscan.cohort.malloc.tune_malloc`, the setting every cohort study process runs with
(freed memory is kept, so a process that detects one scan after another stops faulting the
same pages in again); minor page faults per detection are printed for both.

Usage: ``python benchmarks/bench_detect.py [--repeat N] [--data DIR]`` (``DIR`` holds ``ct/``;
default ``$CALCSCAN_TEST_DATA`` or ``../shared/data``). Exits 2 when the data is absent, 1 when
a target is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    root = Path(
        args.data
        or os.environ.get("CALCSCAN_TEST_DATA")
        or Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    series = root / "ct" / "invesalius_0051_head" / "dicom"
    if not series.is_dir():
        print(f"data not found: {series}", file=sys.stderr)
        return 2
    from calcscan.detect import DetectConfig, detect_scan
    from calcscan.io import read_ct

    def rounds() -> tuple[list[float], list[float], float, Any]:
        read_s, detect_s, faults = [], [], 0
        scan = read_ct(series)  # warm-up (imports, file cache, heap)
        detect_scan(scan, DetectConfig())
        for _ in range(args.repeat):
            t = time.perf_counter()
            scan = read_ct(series)
            read_s.append(time.perf_counter() - t)
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t = time.perf_counter()
            record = detect_scan(scan, DetectConfig())
            detect_s.append(time.perf_counter() - t)
            faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
        return read_s, detect_s, faults / args.repeat, (scan, record)

    read_s, detect_s, faults, (scan, record) = rounds()
    volume_bytes = scan.hu.nbytes
    tracemalloc.start()
    detect_scan(scan, DetectConfig())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    r, d = statistics.median(read_s), statistics.median(detect_s)
    time_ratio = d / r
    mem_ratio = peak / volume_bytes
    print(f"volume {scan.shape} {scan.hu.dtype}, {volume_bytes / 1e6:.1f} MB")
    print(f"read   median {r:.3f} s  ({', '.join(f'{x:.2f}' for x in read_s)})")
    print(f"detect median {d:.3f} s  ({', '.join(f'{x:.2f}' for x in detect_s)})")
    print(f"stages (last run): {record.to_dict()['timings_s']}")
    print(
        f"detect/read time ratio {time_ratio:.2f} (target <= 1.0); {faults:.0f} page faults/detect"
    )
    print(f"peak detection memory {peak / 1e6:.1f} MB = {mem_ratio:.2f} x volume (target <= 10)")
    from calcscan.cohort.malloc import tune_malloc

    if tune_malloc():
        read2, detect2, faults2, _ = rounds()
        r2, d2 = statistics.median(read2), statistics.median(detect2)
        print(
            f"with cohort malloc settings: read {r2:.3f} s, detect {d2:.3f} s "
            f"({', '.join(f'{x:.2f}' for x in detect2)}); {faults2:.0f} page faults/detect"
        )
    ok = time_ratio <= 1.0 and mem_ratio <= 10.0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
