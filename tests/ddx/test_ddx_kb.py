"""Knowledge base: content checks and load-time validation (each error names entity and field)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from calcscan.ddx import KnowledgeBaseError, load_kb
from calcscan.ddx.vocab import MECHANISMS

KB_DIR = Path(__file__).resolve().parents[2] / "src" / "calcscan" / "ddx" / "kb"

GOOD = """
- id: test_entity
  label: Test entity
  category: dystrophic
  mechanism: dystrophic
  prevalence: rare
  mineral: calcification
  compartment: {subcutaneous: strong}
  references: [seed004]
"""


def test_packaged_kb_loads_with_version_and_references() -> None:
    kb = load_kb()
    assert kb.version
    assert len(kb.entities) >= 60
    for ent in kb.entities:
        assert ent.references, ent.id
        assert ent.label and ent.mechanism in MECHANISMS
        for key, _ in ent.references:
            assert key in kb.references


def test_kb_covers_the_seed_entities() -> None:
    """Every entity the issue names from the seeds is present (Tables I-II, seeds 000-003)."""
    kb = load_kb()
    required = {
        "primary_hyperparathyroidism", "milk_alkali_syndrome", "vitamin_d_intoxication",
        "hypercalcemia_other", "secondary_hyperparathyroidism_ckd", "tumoral_calcinosis",
        "familial_hyperphosphatemia", "scleroderma_calcinosis", "mctd_calcinosis",
        "dermatomyositis_calcinosis", "lupus_calcification", "gout", "cppd", "hadd",
        "pseudohypoparathyroidism", "pseudopseudohypoparathyroidism", "werner_syndrome",
        "cysticercosis", "loiasis", "dracunculiasis", "leprosy_nerve_calcification",
        "monckeberg_medial_calcification", "intimal_atherosclerosis", "phleboliths",
        "injection_granuloma", "calcium_gluconate_extravasation", "fat_necrosis_newborn",
        "ehlers_danlos", "pseudoxanthoma_elasticum", "fop", "myositis_ossificans",
        "neurogenic_heterotopic_ossification", "burns_heterotopic_ossification",
        "cppd_wilson", "cppd_hemochromatosis", "cppd_acromegaly", "cppd_ochronosis",
        "cppd_hypophosphatasia", "cppd_familial", "juvenile_dermatomyositis",
        "interferonopathy_calcinosis", "calcium_therapy_calcinosis", "gaci",
        "progressive_osseous_heteroplasia", "primary_osteoma_cutis_plaque",
        "secondary_osteoma_cutis", "miliary_osteoma_cutis", "synovial_chondromatosis",
        "milwaukee_shoulder", "lipoma_ossified", "synovial_sarcoma", "infantile_myofibromatosis",
        "venous_malformation", "osteosarcoma_soft_tissue_metastasis", "calcified_hematoma",
        "calcific_myonecrosis", "panniculitis_ossificans", "arterial_aneurysm_calcification",
        "venous_stasis_calcification", "posttraumatic_tendon_ligament_ossification",
        "calciphylaxis", "idiopathic_calcinosis_cutis", "extraskeletal_osteosarcoma",
        "dish_ligament_ossification", "progeria_vascular_calcification", "liposarcoma",
        "longus_colli_tendinitis", "dermal_filler", "postsurgical_heterotopic_ossification",
        "granulomatous_infection_calcification",
    }  # fmt: skip
    assert required <= set(kb.by_id), sorted(required - set(kb.by_id))


def _kb_with(tmp_path: Path, entities: str) -> Path:
    root = tmp_path / "kb"
    (root / "entities").mkdir(parents=True)
    shutil.copy(KB_DIR / "meta.yaml", root / "meta.yaml")
    shutil.copy(KB_DIR / "references.yaml", root / "references.yaml")
    (root / "entities" / "test.yaml").write_text(entities, encoding="utf-8")
    return root


def test_minimal_valid_kb_loads(tmp_path: Path) -> None:
    kb = load_kb(_kb_with(tmp_path, GOOD))
    assert [e.id for e in kb.entities] == ["test_entity"]


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (
            "compartment: {subcutaneous: strong}",
            "compartment: {subcutanous: strong}",
            "compartment",
        ),
        (
            "compartment: {subcutaneous: strong}",
            "compartment: {subcutaneous: huge}",
            "compartment.subcutaneous",
        ),
        (
            "compartment: {subcutaneous: strong}",
            "labs: {phosphate: {sky_high: strong}}",
            "labs.phosphate",
        ),
        ("compartment: {subcutaneous: strong}", "labs: {ferritin: {high: strong}}", "labs"),
        ("compartment: {subcutaneous: strong}", "history: {time_travel: strong}", "history"),
        ("references: [seed004]", "references: []", "references"),
        ("references: [seed004]", "references: [nobody2099]", "references[0]"),
        ("category: dystrophic", "category: magical", "category"),
        ("mechanism: dystrophic", "mechanism: unknown_mechanism", "mechanism"),
        ("  prevalence: rare", "  prevalence: rare\n  colour: blue", "colour"),
        (
            "compartment: {subcutaneous: strong}",
            "compartment: {subcutaneous: strong, subcutaneous: against}",
            "duplicate key",
        ),
        (
            "mineral: calcification",
            "mineral: calcification\n  age_years: {typical: [10, 90], possible: [20, 80]}",
            "age_years",
        ),
        (
            "mineral: calcification",
            "mineral: calcification\n  age_years: {typical: [50, 10]}",
            "age_years.typical",
        ),
        (
            "compartment: {subcutaneous: strong}",
            "labs: {phosphate: {high: strong, normal: very_strong}}",
            "labs.phosphate",
        ),
        (
            "compartment: {subcutaneous: strong}",
            "labs: {uric_acid: {high: against, normal: against}}",
            "labs.uric_acid",
        ),
        (
            "compartment: {subcutaneous: strong}",
            "timing: [{min_weeks: 0, max_weeks: 10, lr: 3},"
            " {min_weeks: 5, max_weeks: 20, lr: 0.3}]",
            "timing",
        ),
        ("compartment: {subcutaneous: strong}", "mimics: [no_such_entity]", "mimics"),
        (
            "  prevalence: rare",
            "  prevalence: rare\n  prevalence_by_age: [[0, 20, common], [10, 40, rare]]",
            "prevalence_by_age[1]",
        ),
        (
            "  prevalence: rare",
            "  prevalence: rare\n  prevalence_by_age: [[0, 20, frequent]]",
            "prevalence_by_age[0]",
        ),
        (
            "mineral: calcification",
            "mineral: calcification\n  mismatch_lr: {colour: 0.1}",
            "mismatch_lr",
        ),
        (
            "mineral: calcification",
            "mineral: calcification\n  mismatch_lr: {compartment: 3}",
            "mismatch_lr",
        ),
        (
            "mineral: calcification",
            "mineral: calcification\n  mismatch_lr: {body_region: 0.1}",
            "mismatch_lr.body_region",
        ),
    ],
)
def test_validation_names_entity_and_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    assert old in GOOD
    root = _kb_with(tmp_path, GOOD.replace(old, new))
    with pytest.raises(KnowledgeBaseError) as err:
        load_kb(root)
    message = str(err.value)
    assert "\n" not in message
    assert field in message
    if field != "duplicate key":
        assert "test_entity" in message


def test_duplicate_entity_id_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="test_entity"):
        load_kb(_kb_with(tmp_path, GOOD + GOOD))


def test_vocabulary_accepts_every_contract_term() -> None:
    """Every term of CONTRACTS.md section 3 (docs copy) is accepted (additions allowed)."""
    import re

    from calcscan.ddx import vocab

    text = (Path(__file__).resolve().parents[2] / "docs" / "CONTRACTS.md").read_text("utf-8")
    section = text[text.index("## 3.") : text.index("## 4.")]

    def terms(key: str, following: str) -> set[str]:
        start = section.index(key) + len(key)
        return set(re.findall(r"[a-z][a-z0-9_]*", section[start : section.index(following, start)]))

    expected = {
        "body_region": (terms("body_region", "compartment"), vocab.BODY_REGIONS),
        "compartment": (terms("compartment  ", "mineral"), vocab.COMPARTMENTS),
        "mineral": (terms("mineral  ", "morphology"), vocab.MINERALS),
        "morphology": (terms("morphology ", "distribution"), vocab.MORPHOLOGIES),
        "distribution": (terms("distribution ", "size_mm"), vocab.DISTRIBUTIONS),
        "history": (terms("history ", "symptoms"), vocab.HISTORY),
        "symptoms": (terms("symptoms ", "Output"), vocab.SYMPTOMS),
    }
    for key, (contract, accepted) in expected.items():
        assert contract <= set(accepted), (key, sorted(contract - set(accepted)))
    labs = terms("labs  ", "history")
    accepted_labs = set(vocab.LAB_NUMERIC) | set(vocab.LAB_CATEGORICAL)
    assert {t for t in labs if t.endswith(("_dl", "_dl2"))} | {"pth", "vitamin_d"} <= accepted_labs
    assert {"uric_acid", "renal_failure"} <= accepted_labs


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ("- {entities: [nobody], text: t, references: [seed004]}", "unknown entity"),
        ("- {entities: [test_entity], text: t, references: [nobody2099]}", "unknown key"),
        ("- {entities: [test_entity], text: t}", "references"),
        ("- {entities: [test_entity], text: t, references: [seed004], colour: red}", "colour"),
        (
            "- {entities: [test_entity], text: t, references: [seed004], min_probability: 2}",
            "[0, 1]",
        ),
    ],
)
def test_advice_rules_are_validated(tmp_path: Path, rule: str, needle: str) -> None:
    root = _kb_with(tmp_path, GOOD)
    (root / "advice.yaml").write_text(rule + "\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError) as err:
        load_kb(root)
    assert needle in str(err.value) and "advice.yaml" in str(err.value)
