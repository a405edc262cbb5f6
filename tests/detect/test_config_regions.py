"""DetectConfig, region rules, distribution pattern and symmetry."""

from __future__ import annotations

import numpy as np
import pytest

from calcscan.contracts import DISTRIBUTION_PATTERNS, REGION_KEYS
from calcscan.detect import DetectConfig
from calcscan.detect.landmarks import FaceFrame
from calcscan.detect.regions import (
    assign_region,
    binomial_p_half,
    distribution_pattern,
    load_region_rules,
    symmetry,
)
from calcscan.errors import UsageError


def test_config_digest_is_stable_and_option_sensitive() -> None:
    a, b = DetectConfig(), DetectConfig()
    assert a.digest() == b.digest() and len(a.digest()) == 16
    assert DetectConfig(threshold_hu=200).digest() != a.digest()
    assert a.to_dict()["threshold_hu"] == 150.0


@pytest.mark.parametrize(
    "options", [{"connectivity": 5}, {"max_depth_mm": 0.0}, {"possible_conspicuity": 9.0}]
)
def test_config_rejects_bad_options(options: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        DetectConfig(**options)


FRAME = FaceFrame(
    origin_lps_mm=np.zeros(3),
    lateral=np.array([1.0, 0.0, 0.0]),
    anterior=np.array([0.0, -1.0, 0.0]),
    superior=np.array([0.0, 0.0, 1.0]),
    method="test",
)
ANT = np.array([0.0, -1.0, 0.0])
LAT_LEFT = np.array([1.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("point", "normal", "region", "side"),
    [
        ((20.0, -60.0, 45.0), ANT, "frontal", "left"),
        ((-31.0, -40.0, -8.0), ANT, "periorbital", "right"),
        ((0.0, -70.0, -25.0), ANT, "nasal", "midline"),
        ((35.0, -45.0, -30.0), ANT, "maxillary", "left"),
        ((70.0, 10.0, 15.0), LAT_LEFT, "temporal", "left"),
        ((-40.0, -40.0, -80.0), ANT, "mandibular_buccal", "right"),
        ((30.0, 60.0, 90.0), np.array([0.0, 1.0, 0.0]), "scalp", "left"),
        ((-50.0, 80.0, -60.0), np.array([0.0, 1.0, 0.0]), "other", "right"),
    ],
)
def test_every_region_has_a_canonical_point(
    point: tuple[float, float, float], normal: np.ndarray, region: str, side: str
) -> None:
    assert assign_region(FRAME, np.array(point), normal) == (region, side)


def test_region_rules_are_valid_data() -> None:
    rules = load_region_rules()
    names = {r["region"] for r in rules["rules"]}
    assert names == set(REGION_KEYS)


@pytest.mark.parametrize(
    ("counts", "pattern"),
    [
        ({}, "none"),
        ({"frontal": 10}, "frontal"),
        ({"frontal": 6, "maxillary": 4}, "frontal_maxillary"),
        ({"maxillary": 5, "nasal": 1}, "maxillary"),
        ({"temporal": 3}, "temporal"),
        ({"mandibular_buccal": 2}, "mandibular_buccal"),
        ({"periorbital": 4, "frontal": 1}, "orbital"),
        ({"scalp": 5}, "other"),
        ({"frontal": 9, "maxillary": 1}, "frontal"),
    ],
)
def test_distribution_pattern_rule(counts: dict[str, int], pattern: str) -> None:
    full = dict.fromkeys(REGION_KEYS, 0) | counts
    assert distribution_pattern(full) == pattern
    assert pattern in DISTRIBUTION_PATTERNS


def test_symmetry() -> None:
    s = symmetry(["left"] * 5 + ["right"] * 5 + ["midline"])
    assert s["balance"] == 0 and s["symmetric"] is True and s["midline"] == 1
    lop = symmetry(["left"] * 12)
    assert lop["balance"] == 1.0 and lop["symmetric"] is False
    assert symmetry([])["balance"] is None


def test_binomial_p_half_matches_scipy_binomtest() -> None:
    from scipy.stats import binomtest

    for n in range(1, 61):
        for k in range(n + 1):
            expected = binomtest(k, n, 0.5).pvalue
            assert binomial_p_half(k, n) == pytest.approx(expected, rel=1e-11, abs=1e-300)
    assert symmetry(["left"] * 9 + ["right"] * 2)["binomial_p"] == pytest.approx(
        binomtest(9, 11, 0.5).pvalue, rel=1e-11
    )
