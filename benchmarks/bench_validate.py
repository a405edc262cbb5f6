"""Validation benchmark: detect on phantoms, insertions into the real heads and the real
negatives, then print the validation table (acceptance seeds >= 1000).

Usage: ``python benchmarks/bench_validate.py [--trials N] [--seed S] [--json]``
"""

from __future__ import annotations

import argparse
import json
import time

from calcscan.cli.console import to_jsonable
from calcscan.validate.runner import ACCEPTANCE_SEED, run_validation
from calcscan.validate.table import acceptance_rows, summary_rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--seed", type=int, default=ACCEPTANCE_SEED)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    run = run_validation(trials=args.trials, seed=args.seed)
    wall = time.perf_counter() - t0
    if args.json:
        print(json.dumps(to_jsonable(run.to_dict()), indent=2))
        return 0
    width = max(len(k) for k, _ in summary_rows(run.summary))
    for k, v in summary_rows(run.summary):
        print(f"{k:<{width}}  {v}")
    print(f"{'wall time (s)':<{width}}  {wall:.1f}")
    print("\nissue 3 acceptance targets")
    for k, v in acceptance_rows(run.summary):
        print(f"{k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
