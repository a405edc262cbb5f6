"""Vignettes written from the seeds' legends and cases: top-1 / top-3 accuracy.

Acceptance (issue 6): top-3 >= 0.90 on the full vignettes. The accuracy with history and labs
removed is reported (imaging, age and sex alone) with a regression floor well below the value
measured when the test was written (top-3 0.87, top-1 0.74 on 62 vignettes).
"""

from __future__ import annotations

import pytest
from ddx_helpers import accuracy, load_vignettes

from calcscan.ddx import load_kb, parse_findings

VIGNETTES = load_vignettes()


def test_vignette_set_is_well_formed() -> None:
    kb = load_kb()
    assert len(VIGNETTES) >= 30
    ids = [v["id"] for v in VIGNETTES]
    assert len(ids) == len(set(ids))
    for v in VIGNETTES:
        assert v["source"].startswith("seed 00"), v["id"]
        assert v["expected"] in kb.by_id, v["id"]
        assert set(v.get("acceptable", [])) <= set(kb.by_id), v["id"]
        parse_findings(v["findings"])


def test_full_vignette_accuracy(record_property: pytest.RecordProperty) -> None:
    top1, top3, misses = accuracy(VIGNETTES, strip=False)
    record_property("top1_full", top1)
    record_property("top3_full", top3)
    print(f"\nvignettes n={len(VIGNETTES)} full: top-1 {top1:.3f} top-3 {top3:.3f}")
    assert top3 >= 0.90, misses


def test_accuracy_without_history_and_labs(record_property: pytest.RecordProperty) -> None:
    top1, top3, misses = accuracy(VIGNETTES, strip=True)
    _full1, full3, _ = accuracy(VIGNETTES, strip=False)
    record_property("top1_imaging_only", top1)
    record_property("top3_imaging_only", top3)
    print(f"\nvignettes n={len(VIGNETTES)} without history/labs: top-1 {top1:.3f} top-3 {top3:.3f}")
    assert top3 <= full3 + 1e-9
    assert top3 >= 0.70, misses
