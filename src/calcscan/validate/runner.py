"""The validation run: detect on phantoms, insertions and real negatives, then score.

Scenarios (each scored by :func:`calcscan.validate.metrics.score_scan`):

- ``negative``: the real heads of the shared data folder, unmodified (every detection is a
  false positive);
- ``insertion``: ``trials`` random insertions per real head (:func:`random_insertion`: sizes
  0.6-4 mm, densities 300-1400 HU, 20 % of nodules >= 1.5 mm with a central lucency);
- ``phantom``: ``trials`` synthetic heads with nodules in every facial region (region truth
  by construction);
- ``miliary``: one symmetric phantom with 60 small nodules (30 mirrored left/right pairs).

Seeds: trial ``i`` uses ``seed + i``. The detector is tuned on seeds < 1000; the acceptance run
uses the default ``seed=1000`` and up, which nobody looks at while tuning.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calcscan.errors import UsageError
from calcscan.phantom.head import PHANTOM_REGIONS, make_head_phantom
from calcscan.phantom.insertion import random_insertion
from calcscan.phantom.sites import SkinSiteSampler
from calcscan.phantom.truth import TruthNodule
from calcscan.scan import CTScan
from calcscan.validate.acceptance import acceptance_checks
from calcscan.validate.metrics import CANDIDATES_KEY, ScanOutcome, score_scan, summarize

__all__ = ["ACCEPTANCE_SEED", "REAL_HEADS", "ValidationRun", "default_data_dir", "run_validation"]

log = logging.getLogger(__name__)

#: First seed of the acceptance run; tuning uses seeds below it.
ACCEPTANCE_SEED = 1000
#: Real heads (relative to the data folder holding ``ct/``) used as negatives and insertion bases.
REAL_HEADS: tuple[tuple[str, str], ...] = (
    ("invesalius", "ct/invesalius_0051_head/dicom"),
    ("ge_tilt", "ct/dcm_qa_ct_GE_head/dicom"),
    ("dicom2stl", "ct/dicom2stl_ct_example/ct_example.nii.gz"),
)

Detector = Callable[[CTScan], dict[str, Any]]


@dataclass
class ValidationRun:
    """Scored scans and the summary table."""

    outcomes: list[ScanOutcome] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: settings, summary and per-scan counts."""
        return {
            "settings": self.settings,
            "summary": self.summary,
            "scans": [
                {
                    "name": o.name,
                    "kind": o.kind,
                    "seconds": o.seconds,
                    "n_truth": o.n_truth,
                    "n_counted": o.n_counted,
                    "false_positives": o.false_positives,
                    "possible_unmatched": o.possible_unmatched,
                    "missed": [r for r in o.rows if not r["hit"] and not r["faint"]],
                }
                for o in self.outcomes
            ],
        }


def default_data_dir() -> Path:
    """``$CALCSCAN_TEST_DATA``, else ``../shared/data`` next to the working directory or, for a
    source checkout, next to the repository."""
    env = os.environ.get("CALCSCAN_TEST_DATA")
    if env:
        return Path(env)
    candidates = [Path.cwd().parent / "shared" / "data"]
    repo = Path(__file__).resolve().parents[3]
    if (repo / "pyproject.toml").is_file():
        candidates.append(repo.parent / "shared" / "data")
    for c in candidates:
        if (c / "ct").is_dir():
            return c
    return candidates[0]


def _default_detector() -> Detector:
    """``detect`` with every measured candidate's fate added (key ``_candidates``)."""
    try:
        from calcscan.detect.pipeline import run_detection
    except ImportError as exc:  # pragma: no cover - only before the detector exists
        raise UsageError(f"the detector is not available ({exc}): install calcscan fully") from None

    def run(scan: CTScan) -> dict[str, Any]:
        result = run_detection(scan)
        rec: dict[str, Any] = result.record.to_dict()
        rec[CANDIDATES_KEY] = [
            {"centroid_lps_mm": c.centroid_lps_mm.tolist(), "fate": c.reason or c.status}
            for c in result.candidates
        ]
        return rec

    return run


def _named_heads(paths: Sequence[str | Path]) -> list[tuple[str, Path]]:
    """(name, path) for user heads: the file or folder name, made unique with a suffix."""
    out: list[tuple[str, Path]] = []
    seen: dict[str, int] = {}
    for p in paths:
        path = Path(p)
        name = path.name.removesuffix(".gz").removesuffix(".nii") or str(path)
        seen[name] = seen.get(name, 0) + 1
        out.append((name if seen[name] == 1 else f"{name}-{seen[name]}", path))
    return out


def _voxel_diagonal(scan: CTScan) -> float:
    return float(np.linalg.norm(scan.spacing_mm))


def _score(
    name: str, kind: str, scan: CTScan, truth: list[TruthNodule], detector: Detector
) -> ScanOutcome:
    t0 = time.perf_counter()
    record = detector(scan)
    secs = time.perf_counter() - t0
    return score_scan(
        name,
        kind,
        truth,
        record,
        voxel_diagonal_mm=_voxel_diagonal(scan),
        slice_normal=tuple(float(v) for v in scan.slice_normal_lps),
        seconds=secs,
    )


def miliary_phantom(seed: int, n: int = 60) -> tuple[CTScan, list[TruthNodule]]:
    """Symmetric "miliary" phantom: ``n`` small nodules in mirrored left/right pairs.

    Half on the forehead, half on the cheeks; 0.8-1.6 mm, 700-1300 HU (most render above
    200 HU), no lucency; pairs of equal size and density mirrored across the midline.
    """
    half = n // 2
    return make_head_phantom(
        seed=seed,
        nodules={"frontal": half + half % 2, "maxillary": n - half - half % 2},
        sizes_mm=(0.8, 1.6),
        densities_hu=(700.0, 1300.0),
        ring_fraction=0.0,
        min_separation_mm=7.0,
        symmetric=True,
    )


def run_validation(
    *,
    data_dir: Path | None = None,
    trials: int = 5,
    seed: int = ACCEPTANCE_SEED,
    nodules_per_insertion: int = 10,
    per_region: int = 2,
    miliary: bool = True,
    real: bool = True,
    detector: Detector | None = None,
    on_scan: Callable[[str], None] | None = None,
    heads: Sequence[str | Path] | None = None,
) -> ValidationRun:
    """Run every scenario and return the scored scans with the summary.

    Parameters
    ----------
    data_dir : Path, optional
        Folder holding ``ct/`` (default :func:`default_data_dir`); real-head scenarios are
        skipped with a warning when it is absent.
    trials : int
        Insertions per real head and number of region phantoms.
    seed : int
        First seed (default 1000: the acceptance seeds; tune only below 1000).
    nodules_per_insertion, per_region : int
        Nodules per insertion scan; nodules per region in each phantom.
    miliary, real : bool
        Include the miliary phantom / the real heads.
    detector : callable, optional
        ``scan -> record dict`` (default :func:`calcscan.detect.detect_scan`).
    on_scan : callable, optional
        Called with each scan's name when it is done (progress).
    heads : sequence of path, optional
        Your own head CTs *without* dermal calcifications, used instead of the shared real
        heads: each is scored as a negative (every counted detection is a false positive)
        and is the base of ``trials`` insertions. Regions of inserted nodules are known only
        on the shared heads, so region agreement comes from the phantoms.
    """
    if trials < 0:
        raise UsageError(f"--trials must be >= 0, got {trials}")
    if seed < ACCEPTANCE_SEED:
        log.warning(
            "seed %d < %d: these are tuning seeds, not the acceptance run", seed, ACCEPTANCE_SEED
        )
    det = detector or _default_detector()
    run = ValidationRun(
        settings={
            "trials": trials,
            "seed": seed,
            "nodules_per_insertion": nodules_per_insertion,
            "per_region": per_region,
            "miliary": miliary,
        }
    )
    done = on_scan or (lambda _name: None)
    for i in range(trials):
        s = seed + i
        scan, truth = make_head_phantom(
            seed=s,
            nodules=dict.fromkeys(PHANTOM_REGIONS, per_region),
            metal=(i % 3 == 2),
            tilt_deg=(10.0 if i % 4 == 3 else 0.0),
        )
        run.outcomes.append(_score(f"phantom-{s}", "phantom", scan, truth, det))
        done(f"phantom-{s}")
    if miliary:
        scan, truth = miliary_phantom(seed)
        run.outcomes.append(_score(f"miliary-{seed}", "miliary", scan, truth, det))
        done(f"miliary-{seed}")
    if heads:
        bases = _named_heads(heads)
        missing = [str(p) for _, p in bases if not p.exists()]
        if missing:
            raise UsageError(
                f"head CT not found: {', '.join(missing)}; give existing DICOM folders or files"
            )
    else:
        root = data_dir or default_data_dir()
        bases = [(name, root / rel) for name, rel in REAL_HEADS]
        missing = [str(p) for _, p in bases if not p.exists()]
        if real and missing:
            log.warning("real heads not found (%s): only phantoms validated", ", ".join(missing))
    if real and not missing:
        from calcscan.io import read_ct

        for name, path in bases:
            base = read_ct(path)
            run.outcomes.append(_score(name, "negative", base, [], det))
            done(name)
            sampler = SkinSiteSampler(base)
            for i in range(trials):
                s = seed + i
                scan, truth = random_insertion(base, nodules_per_insertion, seed=s, sampler=sampler)
                run.outcomes.append(_score(f"{name}+{s}", "insertion", scan, truth, det))
                done(f"{name}+{s}")
    run.summary = summarize(run.outcomes)
    run.summary["acceptance"] = acceptance_checks(run.summary, run.outcomes)
    return run
