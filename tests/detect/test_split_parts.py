"""How a component is split into parts, and which parts are put back together.

- The watershed floods through all 26 neighbours: a component grouped with diagonal
  neighbours (the rule on thick slices) loses no voxel.
- Touching parts are one nodule, unless together they are larger than a nodule and the
  smaller is the brighter (a nodule on a vessel): synthetic phantoms where each rule mattered.
- Thick slices: a nodule clear of the bone in its own slice but straight above the next
  slice's bone is judged slice by slice (a virtual insertion into the real 4 mm-slice head).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from calcscan.detect.pipeline import run_detection
from calcscan.detect.summits import _split
from calcscan.validate.matching import match_detections


def test_split_labels_every_voxel_of_a_diagonal_component() -> None:
    # a staircase: each voxel touches the next only across an edge or a corner
    cmask = np.zeros((8, 12, 12), dtype=bool)
    steps = [(k, 2 + k, 2 + k) for k in range(8)]
    for k, r, c in steps:
        cmask[k, r, c] = True
    image = np.zeros(cmask.shape)
    for i, (k, r, c) in enumerate(steps):
        image[k, r, c] = 100.0 + 60.0 * abs(i - 3.5)  # two summits, at both ends
    split = _split(image, cmask, 20.0)
    assert split is not None
    labels, n = split
    assert n == 2
    assert bool((labels[cmask] > 0).all()), "voxels of the component were left unlabelled"


def _phantom(seed: int, first: int) -> tuple[Any, list[Any], dict[str, Any]]:
    """A phantom exactly as ``calcscan validate --seed FIRST`` builds its ``seed - first``-th."""
    from calcscan.phantom import PHANTOM_REGIONS, make_head_phantom

    i = seed - first
    scan, truth = make_head_phantom(
        seed=seed,
        nodules=dict.fromkeys(PHANTOM_REGIONS, 2),
        metal=(i % 3 == 2),
        tilt_deg=(10.0 if i % 4 == 3 else 0.0),
    )
    return scan, truth, run_detection(scan).record.to_dict()


def _match(scan: Any, truth: list[Any], record: dict[str, Any]) -> Any:
    spacing = np.asarray(scan.spacing_mm)
    nodules = record["nodules"]
    assert isinstance(nodules, list)
    return match_detections(truth, nodules, voxel_diagonal_mm=float(np.linalg.norm(spacing)))


def test_brighter_nodule_touching_a_vessel_stays_apart() -> None:
    # tuning phantom 607: a 1.8 mm, ~500 HU nodule on the phantom's temporal vessel
    scan, truth, record = _phantom(607, 600)
    m = _match(scan, truth, record)
    missed = [truth[i] for i in m.unmatched_truth]
    assert not [t for t in missed if t.region == "temporal" and t.diameter_mm > 1.5], missed


def test_branch_of_a_vessel_is_not_a_nodule() -> None:
    # tuning phantom 606: a branch of the vessel, no brighter than it, got a summit of its own
    scan, truth, record = _phantom(606, 600)
    m = _match(scan, truth, record)
    assert m.unmatched_detections == []


def test_thick_slices_nodule_over_the_next_slices_bone(shared_ct: Path) -> None:
    from calcscan.io import read_ct
    from calcscan.phantom.insertion import random_insertion
    from calcscan.phantom.sites import SkinSiteSampler

    path = shared_ct / "dicom2stl_ct_example" / "ct_example.nii.gz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    base = read_ct(path)
    # tuning seed 312: a 3.3 mm nodule 2.8 mm under the skin of the orbital rim, clear of the
    # bone in its slice, the bone of the next slice (4 mm on) straight below it
    scan, truth = random_insertion(base, 10, seed=312, sampler=SkinSiteSampler(base))
    target = [t for t in truth if abs(t.diameter_mm - 3.32) < 0.01]
    assert len(target) == 1
    record = run_detection(scan).record.to_dict()
    m = _match(scan, [target[0]], record)
    assert m.unmatched_truth == []


def test_parts_measured_late_get_the_measures_they_would_get_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the parts of a split component are measured only once they are known not to be joined
    # (_Part): what they end up with must be what measuring each part at once gives
    from calcscan.detect import candidates as cmod
    from calcscan.phantom import PHANTOM_REGIONS, make_head_phantom

    scan, _ = make_head_phantom(seed=606, nodules=dict.fromkeys(PHANTOM_REGIONS, 2))
    made: list[Any] = []
    finished: list[Any] = []
    real_measure_part, real_finished = cmod._measure_part, cmod._finished

    def counting_measure_part(*args: Any, **kwargs: Any) -> Any:
        out = real_measure_part(*args, **kwargs)
        if isinstance(out, cmod._Part):
            made.append(out)
        return out

    def counting_finished(cand: Any) -> Any:
        if isinstance(cand, cmod._Part):
            finished.append(cand)
        return real_finished(cand)

    monkeypatch.setattr(cmod, "_measure_part", counting_measure_part)
    monkeypatch.setattr(cmod, "_finished", counting_finished)
    late = run_detection(scan).candidates
    assert finished, "no part was measured late: the case does not test the waiting parts"
    assert len(finished) < len(made), "no waiting part was joined: the case tests too little"

    def at_once(*args: Any, **kwargs: Any) -> Any:
        return real_measure_part(*args, **{**kwargs, "lazy": False})

    monkeypatch.setattr(cmod, "_measure_part", at_once)
    now = run_detection(scan).candidates

    def signature(cands: list[Any]) -> list[Any]:
        return sorted(
            (c.label, c.reason or "", c.voxels.tolist(), c.centroid_lps_mm.tolist(), c.measures)
            for c in cands
        )

    assert not [c for c in late if isinstance(c, cmod._Part)]
    assert signature(late) == signature(now)
