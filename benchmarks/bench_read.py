"""Read benchmark: ``calcscan.io.read_ct`` on the InVesalius head next to a plain pydicom loop.

The baseline is the minimum any reader must do: ``pydicom.dcmread`` every file, sort by
ImagePositionPatient z, stack the pixel arrays and apply rescale slope/intercept to float32.
``read_ct`` additionally discovers the series from headers, checks orientation/spacing
consistency, duplicates and gaps, handles padding and builds the geometry. Both run in the same
process, alternately, several times; medians and their ratio are printed (target <= 1.2).

Usage: ``.venv/bin/python benchmarks/bench_read.py [--repeats N] [--json]``
(skips with a message when ../shared/data/ct is absent; override with CALCSCAN_TEST_DATA).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pydicom

from calcscan.io import read_ct

TARGET_RATIO = 1.2


def series_folder() -> Path:
    env = os.environ.get("CALCSCAN_TEST_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return root / "ct" / "invesalius_0051_head" / "dicom"


def baseline(folder: Path) -> np.ndarray:
    """Plain loop: read every file, sort by z, stack, rescale."""
    sets = [pydicom.dcmread(p) for p in sorted(folder.iterdir()) if p.is_file()]
    sets.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    vol = np.stack([d.pixel_array for d in sets]).astype(np.float32)
    slope = np.array([float(d.RescaleSlope) for d in sets], dtype=np.float32)
    inter = np.array([float(d.RescaleIntercept) for d in sets], dtype=np.float32)
    return vol * slope[:, None, None] + inter[:, None, None]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.getLogger("calcscan").setLevel(logging.ERROR)  # the gap warning, once per read
    folder = series_folder()
    if not folder.is_dir():
        print(f"skipped: {folder} not found (set CALCSCAN_TEST_DATA to the folder holding ct/)")
        return 0
    n_files = sum(1 for p in folder.iterdir() if p.is_file())
    # warm-up (imports, page cache), and a check that both produce the same volume
    ref = baseline(folder)
    scan = read_ct(folder)
    same = bool(
        np.array_equal(np.maximum(ref, -1024.0), scan.hu)
    )  # read_ct raises values below -1024 HU to -1024
    t_base: list[float] = []
    t_read: list[float] = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        baseline(folder)
        t_base.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        read_ct(folder)
        t_read.append(time.perf_counter() - t0)
    med_base, med_read = statistics.median(t_base), statistics.median(t_read)
    ratio = med_read / med_base
    result = {
        "series": str(folder),
        "n_files": n_files,
        "shape": list(scan.shape),
        "repeats": args.repeats,
        "baseline_median_s": round(med_base, 4),
        "read_ct_median_s": round(med_read, 4),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
        "same_volume": same,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"series            {folder} ({n_files} files, shape {scan.shape})")
        print(
            f"baseline loop     median {med_base:.3f} s  ({', '.join(f'{t:.3f}' for t in t_base)})"
        )
        print(
            f"read_ct           median {med_read:.3f} s  ({', '.join(f'{t:.3f}' for t in t_read)})"
        )
        print(
            f"ratio             {ratio:.2f}  (target <= {TARGET_RATIO}; "
            f"{'met' if ratio <= TARGET_RATIO else 'NOT met'})"
        )
        print(f"same HU volume    {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
