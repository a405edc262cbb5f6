"""Knowledge base of soft-tissue calcification/ossification: loading and validation.

The knowledge base is data (``calcscan/ddx/kb/*.yaml``): ``meta.yaml`` (version, scoring
constants, lab rules, guidance), ``references.yaml`` (citations) and ``entities/*.yaml`` (one list
of entities per file). Loading validates everything and raises :class:`KnowledgeBaseError` naming
the entity and field on unknown vocabulary, missing references or contradictory rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from calcscan.ddx.vocab import LAB_STATES, MECHANISMS, SLOTS, STRENGTHS
from calcscan.errors import CalcscanError

__all__ = [
    "Entity",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "TimingRule",
    "load_kb",
]

PREVALENCES = ("very_common", "common", "uncommon", "rare", "very_rare")
MINERAL_TYPES = ("calcification", "ossification", "either")
_ENTITY_KEYS = {
    "id", "label", "synonyms", "category", "mechanism", "prevalence", "age_years",
    "female_fraction", "mineral", "labs", "size_mm", "timing", "references", "summary",
    "mimics", "mismatch_lr", "prevalence_by_age", *SLOTS,
}  # fmt: skip


class KnowledgeBaseError(CalcscanError):
    """The knowledge base data are invalid (names the file, entity and field)."""

    exit_code = 1


@dataclass(frozen=True)
class TimingRule:
    """Likelihood ratio for a time window since the inciting event, in weeks."""

    min_weeks: float
    max_weeks: float
    lr: float
    note: str


@dataclass(frozen=True)
class Entity:
    """One diagnosis of the differential with its scoring data and references."""

    id: str
    label: str
    synonyms: tuple[str, ...]
    category: str
    mechanism: str
    prevalence: str
    age_typical: tuple[float, float]
    age_possible: tuple[float, float]
    female_fraction: float
    mineral: str
    slots: dict[str, dict[str, float]]
    labs: dict[str, dict[str, float]]
    size_typical_mm: tuple[float, float] | None
    timing: tuple[TimingRule, ...]
    references: tuple[tuple[str, str], ...]
    summary: str
    mimics: tuple[str, ...] = ()
    mismatch_lr: dict[str, float] = field(default_factory=dict)
    prevalence_by_age: tuple[tuple[float, float, str], ...] = ()

    def prevalence_at(self, age_years: float | None) -> str:
        """Base-rate class at ``age_years`` (the age band's, else the entity's default)."""
        if age_years is not None:
            for lo, hi, prevalence in self.prevalence_by_age:
                if lo <= age_years < hi:
                    return prevalence
        return self.prevalence


@dataclass(frozen=True)
class KnowledgeBase:
    """The validated knowledge base: entities, references and scoring constants."""

    version: str
    entities: tuple[Entity, ...]
    references: dict[str, str]
    meta: dict[str, Any]
    by_id: dict[str, Entity] = field(default_factory=dict)

    def cite(self, key: str, section: str = "") -> str:
        """Citation text for reference ``key`` (with the section, if any)."""
        text = self.references[key]
        return f"{text} [{section}]" if section else text


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML loader that refuses duplicate mapping keys (a silent override hides contradictions)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (contradictory rule)", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KnowledgeBaseError(
            f"knowledge base file {path}: cannot read ({exc.strerror})"
        ) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        one_line = " ".join(str(exc).split())
        raise KnowledgeBaseError(f"knowledge base file {path.name}: {one_line}") from None


class _Ctx:
    """Error context: file and entity id, for messages that name both."""

    def __init__(self, source: str, entity: str) -> None:
        self.source = source
        self.entity = entity

    def fail(self, fld: str, problem: str) -> KnowledgeBaseError:
        return KnowledgeBaseError(
            f"knowledge base {self.source}: entity '{self.entity}', field '{fld}': {problem}"
        )


def _lr(ctx: _Ctx, fld: str, value: Any) -> float:
    if isinstance(value, str):
        if value not in STRENGTHS:
            raise ctx.fail(fld, f"unknown strength {value!r}; accepted: {', '.join(STRENGTHS)}")
        return STRENGTHS[value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ctx.fail(fld, f"likelihood ratio must be a number or a strength name, got {value!r}")
    if not (0 < float(value) < math.inf):
        raise ctx.fail(fld, f"likelihood ratio must be positive and finite, got {value}")
    return float(value)


def _range(ctx: _Ctx, fld: str, value: Any) -> tuple[float, float]:
    if not (isinstance(value, list | tuple) and len(value) == 2):
        raise ctx.fail(fld, f"expected [low, high], got {value!r}")
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ctx.fail(fld, f"contradictory range: low {lo} > high {hi}")
    return lo, hi


def _terms(ctx: _Ctx, fld: str, raw: Any, vocab: tuple[str, ...]) -> dict[str, float]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ctx.fail(fld, "expected a mapping term -> strength")
    out: dict[str, float] = {}
    for term, strength in raw.items():
        name = str(term).lower() if isinstance(term, bool) else str(term)
        if name not in vocab:
            raise ctx.fail(fld, f"unknown term {name!r}; accepted: {', '.join(vocab)}")
        out[name] = _lr(ctx, f"{fld}.{name}", strength)
    return out


def _parse_labs(ctx: _Ctx, raw: Any) -> dict[str, dict[str, float]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ctx.fail("labs", "expected a mapping lab -> {state: strength}")
    labs: dict[str, dict[str, float]] = {}
    for lab, states in raw.items():
        if lab not in LAB_STATES:
            raise ctx.fail("labs", f"unknown lab {lab!r}; accepted: {', '.join(LAB_STATES)}")
        parsed = _terms(ctx, f"labs.{lab}", states, LAB_STATES[lab])
        strong = [s for s, v in parsed.items() if v >= STRENGTHS["strong"]]
        if len(strong) > 1:
            raise ctx.fail(
                f"labs.{lab}", f"contradictory rule: mutually exclusive states {strong} all strong"
            )
        if parsed and len(parsed) == len(LAB_STATES[lab]) and all(v < 1 for v in parsed.values()):
            raise ctx.fail(f"labs.{lab}", "contradictory rule: every state is evidence against")
        labs[lab] = parsed
    return labs


def _parse_timing(ctx: _Ctx, raw: Any) -> tuple[TimingRule, ...]:
    rules: list[TimingRule] = []
    for i, item in enumerate(raw or []):
        fld = f"timing[{i}]"
        if not isinstance(item, dict) or "lr" not in item:
            raise ctx.fail(fld, "expected {min_weeks, max_weeks, lr, note}")
        lo = float(item.get("min_weeks", 0.0))
        hi = float(item.get("max_weeks", math.inf))
        if lo >= hi:
            raise ctx.fail(fld, f"contradictory window: min_weeks {lo} >= max_weeks {hi}")
        rules.append(
            TimingRule(lo, hi, _lr(ctx, f"{fld}.lr", item["lr"]), str(item.get("note", "")))
        )
    for a in rules:
        for b in rules:
            overlap = a.min_weeks < b.max_weeks and b.min_weeks < a.max_weeks
            if a is not b and overlap and (a.lr - 1) * (b.lr - 1) < 0:
                raise ctx.fail(
                    "timing", "contradictory rule: overlapping windows favour and oppose"
                )
    return tuple(rules)


def _parse_age_bands(ctx: _Ctx, raw: Any) -> tuple[tuple[float, float, str], ...]:
    bands: list[tuple[float, float, str]] = []
    for i, band in enumerate(raw or []):
        fld = f"prevalence_by_age[{i}]"
        if not (isinstance(band, list) and len(band) == 3):
            raise ctx.fail(fld, f"expected [min_age, max_age, prevalence], got {band!r}")
        lo, hi = _range(ctx, fld, band[:2])
        if band[2] not in PREVALENCES:
            raise ctx.fail(fld, f"unknown prevalence {band[2]!r}; accepted: {PREVALENCES}")
        if any(lo < b_hi and b_lo < hi for b_lo, b_hi, _ in bands):
            raise ctx.fail(fld, "contradictory rule: overlapping age bands")
        bands.append((lo, hi, str(band[2])))
    return tuple(bands)


def _parse_entity(raw: Any, source: str, kb_refs: dict[str, str], categories: list[str]) -> Entity:
    if not isinstance(raw, dict) or "id" not in raw:
        raise KnowledgeBaseError(f"knowledge base {source}: an entity without 'id'")
    ctx = _Ctx(source, str(raw["id"]))
    unknown = sorted(set(raw) - _ENTITY_KEYS)
    if unknown:
        raise ctx.fail(unknown[0], f"unknown field; accepted: {', '.join(sorted(_ENTITY_KEYS))}")
    for req in ("label", "category", "mechanism", "prevalence", "references", "mineral"):
        if not raw.get(req):
            raise ctx.fail(req, "missing (required)")
    if raw["category"] not in categories:
        raise ctx.fail(
            "category", f"unknown {raw['category']!r}; accepted: {', '.join(categories)}"
        )
    if raw["mechanism"] not in MECHANISMS:
        raise ctx.fail("mechanism", f"unknown {raw['mechanism']!r}; accepted: {MECHANISMS}")
    if raw["prevalence"] not in PREVALENCES:
        raise ctx.fail("prevalence", f"unknown {raw['prevalence']!r}; accepted: {PREVALENCES}")
    if raw["mineral"] not in MINERAL_TYPES:
        raise ctx.fail("mineral", f"unknown {raw['mineral']!r}; accepted: {MINERAL_TYPES}")
    ages = raw.get("age_years") or {}
    typical = _range(ctx, "age_years.typical", ages.get("typical", [0, 120]))
    possible = _range(ctx, "age_years.possible", ages.get("possible", [0, 120]))
    if typical[0] < possible[0] or typical[1] > possible[1]:
        raise ctx.fail("age_years", "contradictory rule: typical range outside possible range")
    ff = float(raw.get("female_fraction", 0.5))
    if not 0.0 <= ff <= 1.0:
        raise ctx.fail("female_fraction", f"must lie in [0, 1], got {ff}")
    slots = {s: _terms(ctx, s, raw.get(s), vocab) for s, vocab in SLOTS.items()}
    refs: list[tuple[str, str]] = []
    for i, ref in enumerate(raw["references"]):
        key, section = (
            (ref, "") if isinstance(ref, str) else (ref.get("ref"), ref.get("section", ""))
        )
        if key not in kb_refs:
            raise ctx.fail(
                f"references[{i}]", f"unknown reference key {key!r} (add it to references.yaml)"
            )
        refs.append((str(key), str(section)))
    size = raw.get("size_mm")
    mismatch = raw.get("mismatch_lr") or {}
    if not isinstance(mismatch, dict):
        raise ctx.fail("mismatch_lr", "expected a mapping slot -> likelihood ratio")
    for slot in mismatch:
        if slot not in ("compartment", "body_region", "morphology", "distribution"):
            raise ctx.fail("mismatch_lr", f"unknown slot {slot!r}")
        if not slots[slot]:
            raise ctx.fail(f"mismatch_lr.{slot}", "contradictory rule: no typical values listed")
    mismatch_lr = {k: _lr(ctx, f"mismatch_lr.{k}", v) for k, v in mismatch.items()}
    if any(v > 1 for v in mismatch_lr.values()):
        raise ctx.fail("mismatch_lr", "contradictory rule: a mismatch cannot favour the entity")
    return Entity(
        prevalence_by_age=_parse_age_bands(ctx, raw.get("prevalence_by_age")),
        id=ctx.entity,
        label=str(raw["label"]),
        synonyms=tuple(str(s) for s in raw.get("synonyms") or ()),
        category=str(raw["category"]),
        mechanism=str(raw["mechanism"]),
        prevalence=str(raw["prevalence"]),
        age_typical=typical,
        age_possible=possible,
        female_fraction=ff,
        mineral=str(raw["mineral"]),
        slots=slots,
        labs=_parse_labs(ctx, raw.get("labs")),
        size_typical_mm=_range(ctx, "size_mm", size["typical"]) if size else None,
        timing=_parse_timing(ctx, raw.get("timing")),
        references=tuple(refs),
        summary=str(raw.get("summary", "")),
        mimics=tuple(str(m) for m in raw.get("mimics") or ()),
        mismatch_lr=mismatch_lr,
    )


def load_kb(directory: str | Path | None = None) -> KnowledgeBase:
    """Load and validate the knowledge base.

    Parameters
    ----------
    directory : str or Path, optional
        Folder with ``meta.yaml``, ``references.yaml`` and ``entities/*.yaml``; the packaged
        knowledge base when omitted (cached).

    Returns
    -------
    KnowledgeBase

    Raises
    ------
    KnowledgeBaseError
        On unknown vocabulary, missing references, duplicate ids or contradictory rules; the
        message names the file, entity and field.
    """
    if directory is None:
        return _load_packaged()
    return _load(Path(directory))


@lru_cache(maxsize=1)
def _load_packaged() -> KnowledgeBase:
    return _load(Path(str(resources.files("calcscan.ddx") / "kb")))


def _load(root: Path) -> KnowledgeBase:
    meta = _read_yaml(root / "meta.yaml")
    refs_raw = _read_yaml(root / "references.yaml")
    if not isinstance(meta, dict) or not meta.get("version"):
        raise KnowledgeBaseError("knowledge base meta.yaml: missing 'version'")
    references = {str(k): str(v) for k, v in (refs_raw or {}).items()}
    entities: list[Entity] = []
    for path in sorted((root / "entities").glob("*.yaml")):
        items = _read_yaml(path) or []
        if not isinstance(items, list):
            raise KnowledgeBaseError(f"knowledge base {path.name}: expected a list of entities")
        entities += [_parse_entity(it, path.name, references, meta["categories"]) for it in items]
    by_id: dict[str, Entity] = {}
    for ent in entities:
        if ent.id in by_id:
            raise KnowledgeBaseError(f"knowledge base: entity '{ent.id}' defined twice")
        by_id[ent.id] = ent
    for ent in entities:
        for m in ent.mimics:
            if m not in by_id:
                raise KnowledgeBaseError(
                    f"knowledge base: entity '{ent.id}', field 'mimics': unknown entity {m!r}"
                )
    if not entities:
        raise KnowledgeBaseError(f"knowledge base {root}: no entities")
    advice_path = root / "advice.yaml"
    advice = _read_yaml(advice_path) if advice_path.exists() else []
    meta = dict(meta, advice=_parse_advice(advice, by_id, references))
    return KnowledgeBase(str(meta["version"]), tuple(entities), references, meta, by_id)


def _parse_advice(raw: Any, by_id: dict[str, Entity], refs: dict[str, str]) -> list[dict[str, Any]]:
    """Validate advice rules: known entities and references, sane thresholds."""
    rules: list[dict[str, Any]] = []
    for i, rule in enumerate(raw or []):
        where = f"knowledge base advice.yaml: rule {i}"
        if not isinstance(rule, dict) or not rule.get("text") or not rule.get("entities"):
            raise KnowledgeBaseError(f"{where}: needs 'entities' and 'text'")
        unknown = sorted(set(rule) - {"entities", "top", "min_probability", "max_age_years",
                                      "min_age_years", "text", "references"})  # fmt: skip
        if unknown:
            raise KnowledgeBaseError(f"{where}: unknown field '{unknown[0]}'")
        for eid in rule["entities"]:
            if eid not in by_id:
                raise KnowledgeBaseError(f"{where}, field 'entities': unknown entity {eid!r}")
        if not rule.get("references"):
            raise KnowledgeBaseError(f"{where}, field 'references': missing (required)")
        for key in rule["references"]:
            if key not in refs:
                raise KnowledgeBaseError(f"{where}, field 'references': unknown key {key!r}")
        if not 0 <= float(rule.get("min_probability", 0)) <= 1 or int(rule.get("top", 3)) < 1:
            raise KnowledgeBaseError(f"{where}: min_probability must lie in [0, 1], top >= 1")
        rules.append(dict(rule))
    return rules
