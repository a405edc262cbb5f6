"""Deterministic, explainable differential-diagnosis engine.

Score of an entity = log prior (base rate) + log age and sex factors + the sum of log likelihood
ratios of the given findings (and of absent expected history items when a history list is
given). Scores are normalised with a softmax into probabilities over the knowledge base.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from calcscan.ddx.explain import advice_for, compare_mimics, mechanism_summary, mineral_summary
from calcscan.ddx.findings import Findings, derive_lab_states, implied_region, interpret_site
from calcscan.ddx.kb import Entity, KnowledgeBase, load_kb
from calcscan.ddx.nextsteps import next_steps

__all__ = ["Factor", "Hypothesis", "diagnose", "rank", "score_entity"]

_MIN_REPORTED = math.log(1.1)
DISCLAIMER = "Research tool, never a diagnosis: correlate with clinical findings and pathology."


@dataclass(frozen=True)
class Factor:
    """One multiplicative factor of an entity's score, with its plain-words reason."""

    lr: float
    reason: str
    key: str = ""


@dataclass(frozen=True)
class Hypothesis:
    """A scored entity: log score, probability and the factors behind it."""

    entity: Entity
    score: float
    probability: float
    factors: tuple[Factor, ...]


def _words(term: str) -> str:
    return term.replace("_", " ")


def _slot_factor(kb: KnowledgeBase, ent: Entity, slot: str, value: str) -> Factor | None:
    listed = ent.slots[slot]
    if not listed:
        return None
    label = f"{_words(slot)} '{_words(value)}'"
    if value in listed:
        lr = listed[value]
        kind = "typical" if lr > 1 else "argues against it" if lr < 1 else "neutral"
        return Factor(lr, f"{label} {kind}", f"{slot}:{value}")
    exponent = float(kb.meta["neighbour_exponent"])
    default = ent.mismatch_lr.get(slot, float(kb.meta["slot_default_lr"].get(slot, 1.0)))
    best_lr, best_nb = default, ""
    for a, b in kb.meta["neighbours"].get(slot, []):
        nb = b if a == value else a if b == value else None
        if nb in listed and listed[nb] > 1 and listed[nb] ** exponent > best_lr:
            best_lr, best_nb = listed[nb] ** exponent, nb
    if best_nb:
        return Factor(
            best_lr, f"{label} is close to typical '{_words(best_nb)}'", f"{slot}:{value}"
        )
    typical = ", ".join(
        _words(t) for t, v in sorted(listed.items(), key=lambda kv: -kv[1]) if v > 1
    )
    return Factor(best_lr, f"{label} is not typical (typical: {typical})", f"{slot}:{value}")


def _binary_factors(
    kb: KnowledgeBase, ent: Entity, slot: str, given: tuple[str, ...] | None
) -> list[Factor]:
    if given is None:
        return []
    listed = ent.slots[slot]
    rates = kb.meta["base_rates"]
    out = [
        Factor(listed[t], f"{_words(slot)}: {_words(t)}", f"{slot}:{t}")
        for t in given
        if t in listed and listed[t] != 1
    ]
    for term, lr in listed.items():
        if term in given or lr <= 1:
            continue
        base = float(rates[slot].get(term, rates[f"{slot}_default"]))
        absent = (1 - min(0.95, base * lr)) / (1 - base)
        out.append(Factor(absent, f"no {_words(slot)} of {_words(term)} given (expected)"))
    return out


def _age_sex_factors(kb: KnowledgeBase, ent: Entity, f: Findings) -> list[Factor]:
    out: list[Factor] = []
    weights = kb.meta["age_factor"]
    if f.age_years is not None:
        lo, hi = ent.age_typical
        plo, phi = ent.age_possible
        age = f.age_years
        if lo <= age <= hi:
            out.append(
                Factor(weights["typical"], f"age {age:g} y in the typical range {lo:g}-{hi:g} y")
            )
        elif plo <= age <= phi:
            out.append(
                Factor(weights["possible"], f"age {age:g} y outside the typical {lo:g}-{hi:g} y")
            )
        else:
            out.append(
                Factor(weights["outside"], f"age {age:g} y outside the reported {plo:g}-{phi:g} y")
            )
    if f.sex is not None:
        share = ent.female_fraction if f.sex == "F" else 1 - ent.female_fraction
        lr = max(float(kb.meta["sex_floor"]), 2 * share)
        out.append(
            Factor(lr, f"sex {f.sex} ({100 * ent.female_fraction:.0f}% of patients are female)")
        )
    return out


def score_entity(
    kb: KnowledgeBase, ent: Entity, f: Findings, lab_states: dict[str, str]
) -> tuple[float, list[Factor]]:
    """Log score of one entity and the factors behind it.

    Parameters
    ----------
    kb : KnowledgeBase
    ent : Entity
    f : Findings
    lab_states : dict
        Output of :func:`calcscan.ddx.findings.derive_lab_states`.

    Returns
    -------
    (float, list of Factor)
        Natural-log score (unnormalised) and the factors (prior first).
    """
    prevalence = ent.prevalence_at(f.age_years)
    prior = float(kb.meta["prevalence_weights"][prevalence])
    at_age = f" at age {f.age_years:g} y" if prevalence != ent.prevalence else ""
    factors = [Factor(prior, f"base rate{at_age}: {_words(prevalence)}", f"prior:{prevalence}")]
    factors += _age_sex_factors(kb, ent, f)
    for slot, value in (("compartment", f.compartment), ("body_region", implied_region(f))):
        if value is not None and value != "unknown":
            factors.append(_slot_factor(kb, ent, slot, value) or Factor(1.0, ""))
    for slot in ("morphology", "distribution"):
        factors += [x for v in getattr(f, slot) if (x := _slot_factor(kb, ent, slot, v))]
    if f.mineral in ("calcification", "ossification"):
        lr = float(kb.meta["mineral_lr"][ent.mineral][f.mineral])
        factors.append(Factor(lr, f"{f.mineral} (entity: {ent.mineral})", f"mineral:{f.mineral}"))
    if f.size_mm is not None and ent.size_typical_mm is not None:
        lo, hi = ent.size_typical_mm
        inside = lo <= f.size_mm <= hi
        lr = float(kb.meta["size_lr"]["inside" if inside else "outside"])
        where = "within" if inside else "outside"
        factors.append(Factor(lr, f"size {f.size_mm:g} mm {where} the typical {lo:g}-{hi:g} mm"))
    for lab, state in lab_states.items():
        lab_lr = ent.labs.get(lab, {}).get(state)
        if lab_lr is not None and lab_lr != 1:
            factors.append(Factor(lab_lr, f"{_words(lab)} {state}", f"labs:{lab}"))
    factors += _binary_factors(kb, ent, "history", f.history)
    factors += _binary_factors(kb, ent, "symptoms", f.symptoms)
    if f.weeks_since_event is not None:
        for rule in ent.timing:
            if rule.min_weeks <= f.weeks_since_event < rule.max_weeks:
                factors.append(
                    Factor(rule.lr, f"{f.weeks_since_event:g} weeks since the event: {rule.note}")
                )
    factors = _count_redundant_once(kb, factors)
    score = sum(math.log(x.lr) for x in factors)
    return score, factors


def _count_redundant_once(kb: KnowledgeBase, factors: list[Factor]) -> list[Factor]:
    """Keep one factor (the most informative) of each group of redundant findings.

    Naive Bayes assumes independent findings; findings that restate each other (body region
    'head_face' and distribution 'face', 'ring_like' and 'central_lucency', dialysis and chronic
    kidney disease ...) are listed in ``meta.yaml: redundant_groups`` and counted once.
    """
    out = list(factors)
    for group in kb.meta.get("redundant_groups", []):
        members = [x for x in out if x.key in group]
        if len(members) < 2:
            continue
        keep = max(members, key=lambda x: (abs(math.log(x.lr)), x.lr))
        out = [x for x in out if x is keep or x not in members]
    return out


def _softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def rank(kb: KnowledgeBase, f: Findings) -> tuple[list[Hypothesis], dict[str, str]]:
    """Score every entity and rank them best first (ties broken by id, deterministic)."""
    lab_states = derive_lab_states(f.labs, kb.meta["lab_rules"], f.age_years)
    scored = [(ent, *score_entity(kb, ent, f, lab_states)) for ent in kb.entities]
    probs = _softmax([s for _, s, _ in scored])
    hyps = [Hypothesis(ent, s, p, tuple(fs)) for (ent, s, fs), p in zip(scored, probs, strict=True)]
    hyps.sort(key=lambda h: (-h.score, h.entity.id))
    return hyps, lab_states


def _reasons(h: Hypothesis) -> tuple[list[str], list[str]]:
    pro = sorted((x for x in h.factors[1:] if math.log(x.lr) >= _MIN_REPORTED), key=lambda x: -x.lr)
    con = sorted((x for x in h.factors[1:] if math.log(x.lr) <= -_MIN_REPORTED), key=lambda x: x.lr)
    prior = h.factors[0]
    fmt = [f"{x.reason} (LR {x.lr:.2g})" for x in pro]
    against = [f"{x.reason} (LR {x.lr:.2g})" for x in con]
    prevalence = prior.key.removeprefix("prior:")
    if prevalence in ("very_common", "common"):
        fmt.append(prior.reason)
    elif prevalence in ("rare", "very_rare"):
        against.append(prior.reason)
    return fmt, against


def diagnose(f: Findings, *, top: int = 10, kb: KnowledgeBase | None = None) -> dict[str, Any]:
    """Rank the differential for ``f`` and explain it (output of CONTRACTS.md section 3).

    Parameters
    ----------
    f : Findings
        Validated findings (:func:`calcscan.ddx.findings.parse_findings`).
    top : int
        Number of hypotheses in ``differential`` (probabilities are over the whole knowledge base).
    kb : KnowledgeBase, optional
        Defaults to the packaged knowledge base.

    Returns
    -------
    dict
        ``differential``, ``mechanism``, ``next_steps``, ``knowledge_base_version`` and extras
        (``prior_only``, ``mineral``, ``derived_labs``, ``next_steps_detail``, ``disclaimer``).
    """
    kb = kb or load_kb()
    f, from_site = interpret_site(f, kb.meta.get("site_keywords", []))
    hyps, lab_states = rank(kb, f)
    differential = []
    for h in hyps[: max(1, top)]:
        pro, con = _reasons(h)
        differential.append(
            {
                "id": h.entity.id,
                "label": h.entity.label,
                "synonyms": list(h.entity.synonyms),
                "category": h.entity.category,
                "mechanism": h.entity.mechanism,
                "score": round(h.score, 4),
                "probability": round(h.probability, 4),
                "reasons_for": pro,
                "reasons_against": con,
                "references": [kb.cite(k, s) for k, s in h.entity.references],
                "summary": h.entity.summary,
            }
        )
    steps, detail = next_steps(kb, f, lab_states, [(h.entity, h.probability) for h in hyps])
    mimics = compare_mimics(hyps, f)
    if not steps:
        checks = [
            f"{m['would_favour_it'][0]} ({m['label']})" for m in mimics if m["would_favour_it"]
        ]
        steps.append(
            f"{hyps[0].entity.label} is well separated: no single finding or test in the knowledge "
            "base changes the ranking."
            + (f" To exclude its mimics, check: {'; '.join(checks[:4])}." if checks else "")
        )
    advice = advice_for(kb, hyps, f)
    steps += [f"Work-up ({a['because']}): {a['text']}" for a in advice]
    prior_only = f.is_empty()
    if prior_only:
        steps.insert(0, "No findings given: this is a prior-only differential (base rates only).")
    return {
        "differential": differential,
        "mimics": mimics,
        "mechanism": mechanism_summary(kb, hyps, lab_states, f),
        "mineral": mineral_summary(kb, hyps, f),
        "next_steps": steps,
        "next_steps_detail": detail,
        "advice": advice,
        "knowledge_base_version": kb.version,
        "prior_only": prior_only,
        "findings": f.to_dict(),
        "derived_labs": lab_states,
        "derived_from_site": from_site,
        "disclaimer": DISCLAIMER,
    }
