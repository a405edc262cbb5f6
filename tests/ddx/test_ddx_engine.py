"""Engine: determinism, probabilities, numeric rules, mechanism, next steps, per-entity cases."""

from __future__ import annotations

import math

import pytest
from ddx_helpers import typical_findings

from calcscan.ddx import diagnose, load_kb, parse_findings
from calcscan.ddx.findings import derive_lab_states
from calcscan.ddx.nextsteps import expected_information_gain
from calcscan.errors import UsageError

KB = load_kb()


def _ids(result: dict) -> list[str]:
    return [d["id"] for d in result["differential"]]


def _rank(result: dict, entity_id: str) -> int:
    return _ids(result).index(entity_id)


def test_deterministic_and_probabilities_sum_to_one() -> None:
    f = parse_findings({"age_years": 45, "compartment": "muscle", "morphology": ["rice_grain"]})
    a = diagnose(f, top=len(KB.entities))
    b = diagnose(f, top=len(KB.entities))
    assert a == b
    assert math.isclose(sum(d["probability"] for d in a["differential"]), 1.0, abs_tol=1e-3)
    probs = [d["probability"] for d in a["differential"]]
    assert probs == sorted(probs, reverse=True)
    assert a["differential"][0]["id"] == "cysticercosis"


def test_contract_keys_present() -> None:
    result = diagnose(parse_findings({"body_region": "knee", "compartment": "cartilage"}), top=3)
    assert set(result) >= {"differential", "mechanism", "next_steps", "knowledge_base_version"}
    assert len(result["differential"]) == 3
    for d in result["differential"]:
        assert set(d) >= {
            "id", "label", "synonyms", "category", "score", "probability",
            "reasons_for", "reasons_against", "references",
        }  # fmt: skip
        assert d["references"]


def test_empty_findings_give_flagged_prior_only_differential() -> None:
    result = diagnose(parse_findings({}))
    assert result["prior_only"] is True
    assert "prior-only" in result["next_steps"][0]
    assert diagnose(parse_findings({"age_years": 40}))["prior_only"] is False


def test_labels_carry_usual_names() -> None:
    tc = KB.by_id["tumoral_calcinosis"]
    assert tc.label == "Tumoral calcinosis"
    assert "tumoural calcinosis" in tc.synonyms


@pytest.mark.parametrize(
    ("labs", "age", "expected"),
    [
        (
            {"calcium_mg_dl": 9.5, "phosphate_mg_dl": 3.5},
            40,
            {"calcium": "normal", "phosphate": "normal", "ca_x_p": "normal"},
        ),
        (
            {"calcium_mg_dl": 10.0, "phosphate_mg_dl": 6.6},
            40,
            {"calcium": "normal", "phosphate": "high", "ca_x_p": "borderline"},
        ),
        (
            {"calcium_mg_dl": 11.0, "phosphate_mg_dl": 7.0},
            40,
            {"calcium": "high", "phosphate": "high", "ca_x_p": "high"},
        ),
        ({"phosphate_mg_dl": 5.5}, 6, {"phosphate": "normal"}),
        ({"phosphate_mg_dl": 5.5}, 30, {"phosphate": "high"}),
        (
            {"ca_x_p_mg2_dl2": 76, "renal_failure": True},
            None,
            {"ca_x_p": "high", "renal_failure": "true"},
        ),
    ],
)
def test_lab_rules(labs: dict, age: float | None, expected: dict) -> None:
    assert derive_lab_states(labs, KB.meta["lab_rules"], age) == expected


def test_ca_x_p_product_moves_mechanism_to_metastatic() -> None:
    base = {
        "body_region": "pelvis_hip",
        "compartment": "periarticular",
        "morphology": ["amorphous"],
    }
    low = diagnose(parse_findings({**base, "labs": {"calcium_mg_dl": 9.4, "phosphate_mg_dl": 3.4}}))
    high = diagnose(
        parse_findings({**base, "labs": {"calcium_mg_dl": 10.2, "phosphate_mg_dl": 8.5}})
    )
    assert (
        high["mechanism"]["probabilities"]["metastatic"]
        > low["mechanism"]["probabilities"]["metastatic"]
    )
    assert high["mechanism"]["most_likely"] == "metastatic"
    assert any("Ca x P = 87" in r and "metastatic" in r for r in high["mechanism"]["reasoning"])
    assert any("Ca x P = 32" in r and "unlikely" in r for r in low["mechanism"]["reasoning"])


def test_calcium_gluconate_time_window() -> None:
    base = {
        "age_years": 1,
        "compartment": "subcutaneous",
        "body_region": "hand",
        "history": ["calcium_gluconate_infusion"],
    }
    early = diagnose(parse_findings({**base, "weeks_since_event": 2}), top=len(KB.entities))
    late = diagnose(parse_findings({**base, "weeks_since_event": 30}), top=len(KB.entities))
    p_early = next(
        d["probability"]
        for d in early["differential"]
        if d["id"] == "calcium_gluconate_extravasation"
    )
    p_late = next(
        d["probability"]
        for d in late["differential"]
        if d["id"] == "calcium_gluconate_extravasation"
    )
    assert p_early > p_late
    assert any("2 weeks" in r for r in early["differential"][0]["reasons_for"])


def test_cysticercosis_size_and_latency_rules() -> None:
    base = {
        "compartment": "muscle",
        "body_region": "thigh",
        "morphology": ["fusiform"],
        "distribution": ["multiple"],
    }
    typical = diagnose(parse_findings({**base, "size_mm": 3, "weeks_since_event": 520}), top=80)
    atypical = diagnose(parse_findings({**base, "size_mm": 60, "weeks_since_event": 20}), top=80)
    score = {d["id"]: d["score"] for d in typical["differential"]}
    score_a = {d["id"]: d["score"] for d in atypical["differential"]}
    assert score["cysticercosis"] > score_a["cysticercosis"]


def test_reasons_for_and_against_are_plain_words() -> None:
    result = diagnose(
        parse_findings({"age_years": 70, "compartment": "muscle", "morphology": ["rice_grain"]}),
        top=80,
    )
    cpp = next(d for d in result["differential"] if d["id"] == "cppd")
    assert any("compartment 'muscle' is not typical" in r for r in cpp["reasons_against"])
    cyst = result["differential"][0]
    assert any("rice grain" in r for r in cyst["reasons_for"])


def test_absent_expected_history_lowers_fop() -> None:
    base = {
        "age_years": 10,
        "compartment": "muscle",
        "mineral": "ossification",
        "body_region": "back",
    }
    without = diagnose(parse_findings(base), top=80)
    denied = diagnose(parse_findings({**base, "history": ["trauma"]}), top=80)
    p = {d["id"]: d["probability"] for d in without["differential"]}
    q = {d["id"]: d["probability"] for d in denied["differential"]}
    assert q["fop"] < p["fop"]


def test_next_steps_separate_tumoral_calcinosis_from_renal_calcinosis() -> None:
    f = {"age_years": 25, "body_region": "pelvis_hip", "compartment": "periarticular",
         "morphology": ["lobulated", "fluid_calcium_level"]}  # fmt: skip
    result = diagnose(parse_findings(f))
    top2 = set(_ids(result)[:2])
    assert top2 == {"tumoral_calcinosis", "secondary_hyperparathyroidism_ckd"}
    joined = " ".join(result["next_steps"][:3]).lower()
    assert "renal" in joined or "kidney" in joined or "phosphate" in joined
    assert result["next_steps_detail"][0]["information_gain_bits"] > 0.1


def test_information_gain_bounds() -> None:
    assert math.isclose(expected_information_gain([0.5, 0.5], [[1.0, 0.0], [0.0, 1.0]]), 1.0)
    assert math.isclose(
        expected_information_gain([0.5, 0.5], [[0.5, 0.5], [0.5, 0.5]]), 0.0, abs_tol=1e-12
    )


def test_mineral_guidance_present() -> None:
    result = diagnose(parse_findings({"mineral": "ossification", "compartment": "muscle"}))
    assert result["mineral"]["observed"] == "ossification"
    assert any("trabecular" in g for g in result["mineral"]["guidance"])
    assert result["mechanism"]["most_likely"] == "ossification"


@pytest.mark.parametrize("entity_id", [e.id for e in KB.entities])
def test_every_entity_ranks_top3_on_its_typical_findings(entity_id: str) -> None:
    """Self-consistency: an entity's own typical findings put it in the top 3."""
    findings = typical_findings(KB.by_id[entity_id])
    result = diagnose(parse_findings(findings), top=3)
    assert entity_id in _ids(result), (findings, _ids(result))


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"colour": "red"}, "accepted keys"),
        ({"compartment": "bone"}, "accepted values"),
        ({"morphology": ["spiky"]}, "rice_grain"),
        ({"sex": "X"}, "M, F"),
        ({"labs": {"ferritin": 3}}, "accepted keys"),
        ({"labs": {"pth": "very high"}}, "high, normal, low"),
        ({"age_years": "old"}, "number"),
        ([1, 2], "one JSON object"),
    ],
)
def test_bad_findings_are_one_line_usage_errors(data: object, needle: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_findings(data)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_mimics_compared_with_cues_to_look_for() -> None:
    f = parse_findings(
        {"age_years": 60, "body_region": "head_face", "compartment": "subcutaneous",
         "morphology": ["punctate"], "distribution": ["face", "multiple", "symmetric"]}
    )  # fmt: skip
    result = diagnose(f)
    assert result["differential"][0]["id"] == "miliary_osteoma_cutis"
    mimics = {m["id"]: m for m in result["mimics"]}
    assert {"dermal_filler", "secondary_osteoma_cutis", "pseudohypoparathyroidism"} <= set(mimics)
    assert "history: cosmetic filler" in mimics["dermal_filler"]["would_favour_it"]
    assert "history: acne" in mimics["secondary_osteoma_cutis"]["would_favour_it"]
    assert all(m["bayes_factor_vs_top"] < 1 for m in result["mimics"])
    # A cosmetic filler history raises the filler; linear deposits along tracks put it first.
    p_before = mimics["dermal_filler"]["probability"]
    filler = diagnose(parse_findings({**f.to_dict(), "history": ["cosmetic_filler"]}))
    p_after = next(d["probability"] for d in filler["differential"] if d["id"] == "dermal_filler")
    assert p_after > 10 * p_before
    tracks = {**f.to_dict(), "history": ["cosmetic_filler"], "morphology": ["linear"]}
    assert diagnose(parse_findings(tracks))["differential"][0]["id"] == "dermal_filler"


def test_face_and_head_face_are_counted_once() -> None:
    both = {"body_region": "head_face", "distribution": ["face"]}
    one = {"body_region": "head_face"}
    s_both = {d["id"]: d["score"] for d in diagnose(parse_findings(both), top=80)["differential"]}
    s_one = {d["id"]: d["score"] for d in diagnose(parse_findings(one), top=80)["differential"]}
    assert math.isclose(s_both["miliary_osteoma_cutis"], s_one["miliary_osteoma_cutis"])


def test_site_text_fills_body_region() -> None:
    result = diagnose(parse_findings({"site": "fingertips of both hands", "sex": "F"}))
    assert result["derived_from_site"] == {
        "body_region": "fingers",
        "distribution": ["fingertips", "bilateral"],
    }
    assert result["differential"][0]["id"] == "scleroderma_calcinosis"
    explicit = diagnose(parse_findings({"site": "left thigh", "body_region": "knee"}))
    assert "body_region" not in explicit["derived_from_site"]


def test_random_valid_findings_never_fail() -> None:
    """Seeded fuzz over the whole vocabulary: ranked, normalised, explained, JSON-ready."""
    import json
    import random

    from calcscan.ddx import vocab

    rng = random.Random(20261121)
    for _ in range(150):
        data: dict = {}
        if rng.random() < 0.7:
            data["age_years"] = round(rng.uniform(0, 100), 1)
        if rng.random() < 0.5:
            data["sex"] = rng.choice(vocab.SEXES)
        for key, choices in (
            ("body_region", vocab.BODY_REGIONS),
            ("compartment", vocab.COMPARTMENTS),
            ("mineral", vocab.MINERALS),
        ):
            if rng.random() < 0.6:
                data[key] = rng.choice(choices)
        for key, choices in (
            ("morphology", vocab.MORPHOLOGIES),
            ("distribution", vocab.DISTRIBUTIONS),
            ("history", vocab.HISTORY),
            ("symptoms", vocab.SYMPTOMS),
        ):
            if rng.random() < 0.5:
                data[key] = rng.sample(choices, rng.randint(0, 3))
        if rng.random() < 0.4:
            data["labs"] = {
                "calcium_mg_dl": round(rng.uniform(6, 14), 1),
                "phosphate_mg_dl": round(rng.uniform(1, 9), 1),
                "pth": rng.choice(["high", "normal", "low"]),
                "renal_failure": rng.random() < 0.3,
            }
        if rng.random() < 0.3:
            data["size_mm"] = round(rng.uniform(0.3, 300), 1)
        if rng.random() < 0.3:
            data["weeks_since_event"] = round(rng.uniform(0, 1000), 1)
        result = diagnose(parse_findings(data), top=len(KB.entities))
        probs = [d["probability"] for d in result["differential"]]
        assert math.isclose(sum(probs), 1.0, abs_tol=2e-3)
        assert probs == sorted(probs, reverse=True)
        assert result["next_steps"]
        json.dumps(result, allow_nan=False)


def test_age_banded_base_rate() -> None:
    """Renal (secondary) calcinosis is common in adults on dialysis, rare in children."""
    ckd = KB.by_id["secondary_hyperparathyroidism_ckd"]
    assert ckd.prevalence_at(8) == "rare" and ckd.prevalence_at(50) == "common"
    assert ckd.prevalence_at(None) == "common"
    base = {"body_region": "elbow", "compartment": "periarticular",
            "morphology": ["lobulated", "fluid_calcium_level"]}  # fmt: skip
    child = _ids(diagnose(parse_findings({**base, "age_years": 8})))
    adult = _ids(diagnose(parse_findings({**base, "age_years": 50})))
    assert child.index("tumoral_calcinosis") < child.index("secondary_hyperparathyroidism_ckd")
    assert adult.index("secondary_hyperparathyroidism_ckd") < adult.index("tumoral_calcinosis")


def test_work_up_advice_fires_for_leading_entities() -> None:
    chondro = {"age_years": 70, "body_region": "knee", "compartment": "cartilage",
               "morphology": ["linear"], "distribution": ["multiple", "bilateral"]}  # fmt: skip
    result = diagnose(parse_findings(chondro))
    assert any("check serum calcium and PTH" in a["text"] for a in result["advice"])
    assert any(s.startswith("Work-up") and "PTH" in s for s in result["next_steps"])
    arteries = {"compartment": "vascular_arterial", "morphology": ["tram_track"],
                "body_region": "leg"}  # fmt: skip
    young = diagnose(parse_findings({**arteries, "age_years": 42}))["advice"]
    old = diagnose(parse_findings({**arteries, "age_years": 75}))["advice"]
    assert any("before 50" in a["text"] for a in young)
    assert not any("before 50" in a["text"] for a in old)


def test_next_steps_do_not_ask_what_is_already_known() -> None:
    f = {"age_years": 19, "body_region": "pelvis_hip", "compartment": "bursa",
         "morphology": ["lobulated", "fluid_calcium_level"],
         "labs": {"phosphate_mg_dl": 6.2, "renal_failure": False}}  # fmt: skip
    questions = [d["question"] for d in diagnose(parse_findings(f))["next_steps_detail"]]
    assert not any("kidney" in q or "dialysis" in q or "Renal function" in q for q in questions)
    assert not any(q == "Serum phosphate" for q in questions)
