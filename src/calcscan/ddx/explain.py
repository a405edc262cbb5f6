"""Explanations around the ranked differential: mechanism, mineral guidance, mimics."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from calcscan.ddx.findings import Findings, implied_region
from calcscan.ddx.kb import KnowledgeBase
from calcscan.ddx.vocab import MECHANISMS

if TYPE_CHECKING:
    from calcscan.ddx.engine import Hypothesis

__all__ = ["advice_for", "compare_mimics", "mechanism_summary", "mineral_summary"]


def _words(term: str) -> str:
    return term.replace("_", " ")


def mechanism_summary(
    kb: KnowledgeBase, hyps: list[Hypothesis], labs: dict[str, str], f: Findings
) -> dict[str, Any]:
    """Probability mass per mechanism with its reasoning (Ca x P rule, labs, history, mineral).

    Parameters
    ----------
    kb : KnowledgeBase
    hyps : list of Hypothesis
        Ranked hypotheses.
    labs : dict
        Derived lab states.
    f : Findings

    Returns
    -------
    dict
        ``most_likely``, ``probabilities`` (per mechanism) and ``reasoning`` (plain words).
    """
    mass = dict.fromkeys(MECHANISMS, 0.0)
    for h in hyps:
        mass[h.entity.mechanism] += h.probability
    best = max(MECHANISMS, key=lambda m: (mass[m], -MECHANISMS.index(m)))
    rules = kb.meta["lab_rules"]
    reasoning = [" ".join(str(kb.meta["mechanism_notes"][best]).split())]
    product = f.labs.get("ca_x_p_mg2_dl2")
    if product is None and "calcium_mg_dl" in f.labs and "phosphate_mg_dl" in f.labs:
        product = f.labs["calcium_mg_dl"] * f.labs["phosphate_mg_dl"]
    if product is not None:
        lo, hi = rules["ca_x_p_borderline_mg2_dl2"], rules["ca_x_p_high_mg2_dl2"]
        verdict = (
            "above the metastatic threshold: metastatic calcification favoured"
            if product >= hi
            else "in the 60-75 grey zone: metastatic calcification possible"
            if product >= lo
            else "below 60: metastatic calcification unlikely, dystrophic/idiopathic favoured"
        )
        reasoning.append(
            f"Ca x P = {product:.0f} mg2/dL2, {verdict} (thresholds {lo}-{hi}; seeds 003, 004)"
        )
    if labs.get("calcium") == "normal" and labs.get("phosphate") == "normal":
        reasoning.append(
            "Normal serum calcium and phosphate: dystrophic or idiopathic, not metastatic."
        )
    if labs.get("renal_failure") == "true":
        reasoning.append(
            "Renal failure: the commonest cause of metastatic calcification (seed 003)."
        )
    if f.history and {
        "injections",
        "calcium_gluconate_infusion",
        "calcium_therapy",
        "vitamin_d_intake",
        "cosmetic_filler",
    } & set(f.history):
        reasoning.append(
            "Injection, infusion or supplementation history: consider iatrogenic calcification."
        )
    if f.mineral == "ossification":
        reasoning.append(
            "Ossification (cortex/trabeculae) given: heterotopic ossification or osteoma cutis."
        )
    top = [h for h in hyps[:10] if h.entity.mechanism == best][:3]
    if top:
        reasoning.append(
            "Carried by: " + ", ".join(f"{h.entity.label} ({h.probability:.2f})" for h in top)
        )
    if not labs:
        reasoning.append(
            "No labs given: serum calcium, phosphate and renal function separate metastatic "
            "from dystrophic calcification."
        )
    return {
        "most_likely": best,
        "probabilities": {m: round(mass[m], 4) for m in MECHANISMS},
        "reasoning": reasoning,
    }


def mineral_summary(kb: KnowledgeBase, hyps: list[Hypothesis], f: Findings) -> dict[str, Any]:
    """Calcification vs ossification: observed mineral, mass of ossifying entities, guidance."""
    p_oss = sum(h.probability for h in hyps if h.entity.mineral == "ossification")
    p_either = sum(h.probability for h in hyps if h.entity.mineral == "either")
    return {
        "observed": f.mineral or "unknown",
        "p_ossifying_entity": round(p_oss, 4),
        "p_either": round(p_either, 4),
        "guidance": [" ".join(str(g).split()) for g in kb.meta["mineral_guidance"]],
    }


def _present_keys(f: Findings) -> set[str]:
    keys = {
        f"compartment:{f.compartment}",
        f"body_region:{implied_region(f)}",
        f"mineral:{f.mineral}",
    }
    keys |= {f"morphology:{t}" for t in f.morphology} | {
        f"distribution:{t}" for t in f.distribution
    }
    keys |= {f"history:{t}" for t in f.history or ()} | {f"symptoms:{t}" for t in f.symptoms or ()}
    return keys


def compare_mimics(hyps: list[Hypothesis], f: Findings) -> list[dict[str, Any]]:
    """The leading entity against the mimics its knowledge-base entry lists.

    Parameters
    ----------
    hyps : list of Hypothesis
        Ranked hypotheses (best first).
    f : Findings

    Returns
    -------
    list of dict
        One row per mimic: ``id``, ``label``, ``probability``, ``bayes_factor_vs_top`` (how much
        less likely than the leader given the findings) and ``would_favour_it``: its strongest
        typical findings that were not reported (what to look for).
    """
    if not hyps or not hyps[0].entity.mimics:
        return []
    top = hyps[0]
    by_id = {h.entity.id: h for h in hyps}
    present = _present_keys(f)
    # A different value of an observed single-valued slot is not something to look for.
    observed_single = {
        slot
        for slot, value in (("compartment", f.compartment), ("body_region", implied_region(f)))
        if value not in (None, "unknown")
    }
    rows: list[dict[str, Any]] = []
    for mimic_id in top.entity.mimics:
        h = by_id[mimic_id]
        cues = [
            (lr, f"{_words(slot)}: {_words(term)}")
            for slot, terms in h.entity.slots.items()
            for term, lr in terms.items()
            if lr >= 5 and f"{slot}:{term}" not in present and slot not in observed_single
        ]
        cues.sort(key=lambda c: (-c[0], c[1]))
        rows.append(
            {
                "id": mimic_id,
                "label": h.entity.label,
                "probability": round(h.probability, 6),
                "bayes_factor_vs_top": float(f"{math.exp(h.score - top.score):.3g}"),
                "would_favour_it": [c[1] for c in cues[:4]],
            }
        )
    rows.sort(key=lambda r: -float(r["bayes_factor_vs_top"]))
    return rows


def advice_for(kb: KnowledgeBase, hyps: list[Hypothesis], f: Findings) -> list[dict[str, Any]]:
    """Work-up advice (``kb/advice.yaml``) whose entities lead the differential.

    Parameters
    ----------
    kb : KnowledgeBase
    hyps : list of Hypothesis
        Ranked hypotheses.
    f : Findings

    Returns
    -------
    list of dict
        ``text``, ``references`` (citations) and ``because`` (the leading entity that fired it).
    """
    out: list[dict[str, Any]] = []
    for rule in kb.meta.get("advice", []):
        top = hyps[: int(rule.get("top", 3))]
        hits = [
            h
            for h in top
            if h.entity.id in rule["entities"]
            and h.probability >= float(rule.get("min_probability", 0))
        ]
        if not hits:
            continue
        age = f.age_years
        if "max_age_years" in rule and (age is None or age >= float(rule["max_age_years"])):
            continue
        if "min_age_years" in rule and (age is None or age < float(rule["min_age_years"])):
            continue
        out.append(
            {
                "text": " ".join(str(rule["text"]).split()),
                "because": hits[0].entity.label,
                "references": [kb.cite(k) for k in rule["references"]],
            }
        )
    return out
