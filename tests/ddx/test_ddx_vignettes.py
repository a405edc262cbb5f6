"""Vignettes written from the seeds' legends and cases: top-1 / top-3 accuracy.

Acceptance (issue 6): top-3 >= 0.90 on the full vignettes. The accuracy with history and labs
removed is reported (imaging, age and sex alone) with a regression floor well below the value
measured when the test was written (68 vignettes: top-1 0.750, top-3 0.897; the 62 seed
vignettes alone: top-1 0.742, top-3 0.887). Values a source does not give (an exact age ...)
are listed per vignette in `assumed`; accuracy without them is reported too (top-3 0.971).
"""

from __future__ import annotations

import pytest
from ddx_helpers import accuracy, load_vignettes

from calcscan.ddx import diagnose, load_kb, parse_findings

VIGNETTES = load_vignettes()


def test_vignette_set_is_well_formed() -> None:
    kb = load_kb()
    assert len(VIGNETTES) >= 30
    ids = [v["id"] for v in VIGNETTES]
    assert len(ids) == len(set(ids))
    for v in VIGNETTES:
        assert v["source"].startswith(("seed 00", "published: ")), v["id"]
        assert v["expected"] in kb.by_id, v["id"]
        assert set(v.get("acceptable", [])) <= set(kb.by_id), v["id"]
        parse_findings(v["findings"])


def test_full_vignette_accuracy(record_property: pytest.RecordProperty) -> None:
    top1, top3, misses = accuracy(VIGNETTES, strip=False)
    record_property("top1_full", top1)
    record_property("top3_full", top3)
    print(f"\nvignettes n={len(VIGNETTES)} full: top-1 {top1:.3f} top-3 {top3:.3f}")
    assert top3 >= 0.90, misses
    seeds = [v for v in VIGNETTES if v["source"].startswith("seed")]
    s1, s3, seed_misses = accuracy(seeds, strip=False)
    print(f"seed vignettes n={len(seeds)} full: top-1 {s1:.3f} top-3 {s3:.3f}")
    assert s3 >= 0.90, seed_misses


def test_accuracy_without_history_and_labs(record_property: pytest.RecordProperty) -> None:
    top1, top3, misses = accuracy(VIGNETTES, strip=True)
    _full1, full3, _ = accuracy(VIGNETTES, strip=False)
    record_property("top1_imaging_only", top1)
    record_property("top3_imaging_only", top3)
    print(f"\nvignettes n={len(VIGNETTES)} without history/labs: top-1 {top1:.3f} top-3 {top3:.3f}")
    assert top3 <= full3 + 1e-9
    assert top3 >= 0.70, misses


@pytest.mark.parametrize("strip", [False, True])
def test_probabilities_are_roughly_calibrated_on_vignettes(
    strip: bool, record_property: pytest.RecordProperty
) -> None:
    """Mean top-1 probability tracks top-1 accuracy (measured gaps: 0.08 full, 0.01 stripped)."""
    kb = load_kb()
    p_top, hits = [], []
    for v in VIGNETTES:
        findings = dict(v["findings"])
        if strip:
            findings.pop("history", None)
            findings.pop("labs", None)
        first = diagnose(parse_findings(findings), top=1, kb=kb)["differential"][0]
        p_top.append(first["probability"])
        hits.append(first["id"] in {v["expected"], *v.get("acceptable", [])})
    mean_p, acc = sum(p_top) / len(p_top), sum(hits) / len(hits)
    record_property("mean_top1_probability", mean_p)
    print(f"\nstrip={strip}: mean top-1 probability {mean_p:.3f}, top-1 accuracy {acc:.3f}")
    assert abs(mean_p - acc) < 0.15


def test_accuracy_without_assumed_values(record_property: pytest.RecordProperty) -> None:
    """Only what the sources state: drop the finding keys filled with assumed values."""
    for v in VIGNETTES:
        assert set(v.get("assumed", [])) <= set(v["findings"]), v["id"]
    top1, top3, misses = accuracy(VIGNETTES, strip=False, drop_assumed=True)
    both1, both3, _ = accuracy(VIGNETTES, strip=True, drop_assumed=True)
    record_property("top3_source_only", top3)
    print(
        f"\nvignettes n={len(VIGNETTES)} source values only: top-1 {top1:.3f} top-3 {top3:.3f};"
        f" also without history/labs: top-1 {both1:.3f} top-3 {both3:.3f}"
    )
    assert top3 >= 0.85, misses
