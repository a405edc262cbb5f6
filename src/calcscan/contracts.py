"""Vocabulary fixed by the external contracts (``CONTRACTS.md``): keys, categories, versions.

Every module that writes or reads a study record takes these names from here, so the contract
is spelled in exactly one place.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "DISTRIBUTION_PATTERNS",
    "MORPHOLOGIES",
    "NODULE_FIELDS",
    "REGION_KEYS",
    "SCHEMA_VERSION",
    "SEXES",
    "SIDES",
    "DistributionPattern",
    "Morphology",
    "Region",
    "Side",
]

#: Version of the study-record JSON schema (CONTRACTS.md section 2).
SCHEMA_VERSION: Final = "1.0"

Region = Literal[
    "frontal",
    "maxillary",
    "temporal",
    "mandibular_buccal",
    "periorbital",
    "nasal",
    "scalp",
    "other",
]
#: Keys of ``counts_by_region``, in report order.
REGION_KEYS: Final[tuple[Region, ...]] = (
    "frontal",
    "maxillary",
    "temporal",
    "mandibular_buccal",
    "periorbital",
    "nasal",
    "scalp",
    "other",
)

DistributionPattern = Literal[
    "none",
    "frontal",
    "frontal_maxillary",
    "maxillary",
    "temporal",
    "mandibular_buccal",
    "orbital",
    "other",
]
#: The Table 2 categories of the reference study, plus "none".
DISTRIBUTION_PATTERNS: Final[tuple[DistributionPattern, ...]] = (
    "none",
    "frontal",
    "frontal_maxillary",
    "maxillary",
    "temporal",
    "mandibular_buccal",
    "orbital",
    "other",
)

Morphology = Literal["punctate", "nodular", "ring", "flocculent", "linear"]
MORPHOLOGIES: Final[tuple[Morphology, ...]] = (
    "punctate",
    "nodular",
    "ring",
    "flocculent",
    "linear",
)

Side = Literal["left", "right", "midline"]
SIDES: Final[tuple[Side, ...]] = ("left", "right", "midline")

SEXES: Final = ("M", "F", "O")

#: Contract fields of one nodule in the study record, in order (CONTRACTS.md section 2).
NODULE_FIELDS: Final[tuple[str, ...]] = (
    "id",
    "centroid_lps_mm",
    "diameter_mm",
    "volume_mm3",
    "peak_hu",
    "mean_hu",
    "depth_mm",
    "region",
    "side",
    "morphology",
    "conspicuity",
)
