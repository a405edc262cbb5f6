"""Vocabulary of the ``calcscan ddx`` findings (CONTRACTS.md section 3, plus additions).

The contract terms are accepted exactly; a few terms are added (marked below) where the seeds'
differential needs them. Terms are never removed.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BODY_REGIONS",
    "COMPARTMENTS",
    "DISTRIBUTIONS",
    "FINDING_KEYS",
    "HISTORY",
    "LAB_CATEGORICAL",
    "LAB_NUMERIC",
    "LAB_STATES",
    "MECHANISMS",
    "MINERALS",
    "MORPHOLOGIES",
    "SEXES",
    "SLOTS",
    "STRENGTHS",
    "SYMPTOMS",
]

SEXES: Final = ("M", "F")

BODY_REGIONS: Final = (
    "head_face", "scalp", "neck", "shoulder", "upper_arm", "elbow", "forearm", "wrist", "hand",
    "fingers", "chest_wall", "breast", "abdominal_wall", "back", "pelvis_hip", "buttock", "thigh",
    "knee", "leg", "ankle", "foot", "toes", "generalized",
)  # fmt: skip

COMPARTMENTS: Final = (
    "cutaneous", "subcutaneous", "fascial", "muscle", "tendon", "bursa", "periarticular",
    "intra_articular", "cartilage", "vascular_arterial", "vascular_venous", "nerve", "unknown",
)  # fmt: skip

MINERALS: Final = ("calcification", "ossification", "unknown")

MORPHOLOGIES: Final = (
    "punctate", "nodular", "amorphous", "cloud_like", "linear", "sheet_like", "leaf_like", "lacy",
    "reticular", "rice_grain", "fusiform", "ring_like", "central_lucency", "tubular", "tram_track",
    "plaque_like", "lobulated", "multicystic", "fluid_calcium_level", "cortical_trabecular",
    "zonal_peripheral", "homogeneous_dense", "chain_mail", "streak", "stratified",
    "rounded_bodies",
)  # fmt: skip

DISTRIBUTIONS: Final = (
    "solitary", "localized", "multiple", "diffuse", "symmetric", "bilateral",
    "periarticular_large_joints", "extensor_surfaces", "fingertips", "along_fascial_planes",
    "parallel_to_muscle_fibers", "along_vessel", "along_nerve", "pressure_points", "face",
    "generalized",
)  # fmt: skip

#: Contract history terms, then additions (Table II CPPD associations and a few others).
HISTORY: Final = (
    "trauma", "surgery", "burns", "cns_injury", "spinal_cord_injury", "immobilization",
    "connective_tissue_disease", "scleroderma", "dermatomyositis", "lupus",
    "chronic_kidney_disease", "dialysis", "renal_transplant", "hyperparathyroidism",
    "vitamin_d_intake", "calcium_therapy", "milk_alkali_intake", "injections",
    "calcium_gluconate_infusion", "parasite_exposure", "endemic_area", "acne", "diabetes",
    "venous_insufficiency", "malignancy", "family_history", "congenital_anomaly_great_toe",
    "brachydactyly", "short_stature", "neonatal_birth_trauma", "genetic_syndrome",
    # additions
    "mixed_connective_tissue_disease", "raynaud", "sarcoidosis", "myeloma", "paget_disease",
    "hemochromatosis", "wilson_disease", "acromegaly", "alkaptonuria", "hypophosphatasia",
    "hemophilia", "osteoarthritis", "gout", "compartment_syndrome", "cosmetic_filler",
    "premature_aging", "cataracts", "skin_papules_flexural", "angioid_streaks",
    "joint_hypermobility", "leprosy", "maternal_diabetes", "hypothermia", "warfarin",
    "radiotherapy", "joint_replacement", "tuberculosis",
)  # fmt: skip

SYMPTOMS: Final = (
    "painful", "painless", "palpable_mass", "skin_ulceration", "chalky_discharge", "joint_pain",
    "restricted_motion", "asymptomatic", "progressive",
    # additions
    "acute_onset", "swelling", "skin_discoloration", "neuropathy", "growing_mass",
)  # fmt: skip

#: Numeric lab inputs (mg/dL) and the categorical ones with their accepted values.
LAB_NUMERIC: Final = ("calcium_mg_dl", "phosphate_mg_dl", "ca_x_p_mg2_dl2")
LAB_CATEGORICAL: Final[dict[str, tuple[str, ...]]] = {
    "pth": ("high", "normal", "low"),
    "vitamin_d": ("high", "normal", "low"),
    "uric_acid": ("high", "normal"),
    "renal_failure": ("true", "false"),
    "alkaline_phosphatase": ("high", "normal", "low"),  # addition
}
#: Derived lab states the knowledge base scores (numeric labs are binned by kb/meta.yaml rules).
LAB_STATES: Final[dict[str, tuple[str, ...]]] = {
    "calcium": ("low", "normal", "high"),
    "phosphate": ("low", "normal", "high"),
    "ca_x_p": ("normal", "borderline", "high"),
    **LAB_CATEGORICAL,
}

#: Top-level keys of a findings object (contract keys, then additions).
FINDING_KEYS: Final = (
    "age_years", "sex", "site", "body_region", "compartment", "mineral", "morphology",
    "distribution", "size_mm", "labs", "history", "symptoms",
    "weeks_since_event",  # addition: time since the trauma/injection/infusion/onset, weeks
)  # fmt: skip

#: Slots scored by value lists in the knowledge base, with their vocabularies.
SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "compartment": COMPARTMENTS,
    "body_region": BODY_REGIONS,
    "morphology": MORPHOLOGIES,
    "distribution": DISTRIBUTIONS,
    "history": HISTORY,
    "symptoms": SYMPTOMS,
}

MECHANISMS: Final = ("metastatic", "dystrophic", "idiopathic", "iatrogenic", "ossification")

#: Named likelihood-ratio strengths usable in the knowledge base instead of numbers.
STRENGTHS: Final[dict[str, float]] = {
    "pathognomonic": 30.0,
    "very_strong": 10.0,
    "strong": 5.0,
    "moderate": 2.5,
    "weak": 1.5,
    "neutral": 1.0,
    "against": 0.5,
    "strongly_against": 0.2,
    "excludes": 0.05,
}
