"""Next steps: the test or finding that best separates the leading hypotheses.

Each candidate question (a lab, calcification vs ossification, a history item) is scored by its
expected information gain over the leading hypotheses, using the knowledge base's likelihood
ratios as a generative model: ``P(answer | entity)`` is proportional to the base rate of the answer
times the entity's likelihood ratio for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from calcscan.ddx.findings import Findings
from calcscan.ddx.kb import Entity, KnowledgeBase
from calcscan.ddx.vocab import HISTORY, LAB_STATES

__all__ = ["expected_information_gain", "next_steps"]


def _entropy_bits(p: list[float]) -> float:
    return -sum(x * math.log2(x) for x in p if x > 0)


def expected_information_gain(prior: list[float], likelihood: list[list[float]]) -> float:
    """Expected reduction in entropy (bits) of ``prior`` from observing one answer.

    Parameters
    ----------
    prior : list of float
        Probabilities of the hypotheses (sum 1).
    likelihood : list of list of float
        ``likelihood[i][a]`` = P(answer a | hypothesis i); rows sum to 1.

    Returns
    -------
    float
    """
    n_answers = len(likelihood[0])
    gain = _entropy_bits(prior)
    for a in range(n_answers):
        joint = [p * row[a] for p, row in zip(prior, likelihood, strict=True)]
        p_a = sum(joint)
        if p_a > 0:
            gain -= p_a * _entropy_bits([j / p_a for j in joint])
    return max(0.0, gain)


Question = tuple[str, tuple[str, ...], list[list[float]], list[float]]


def _questions(
    kb: KnowledgeBase, f: Findings, labs: dict[str, str], ents: list[Entity]
) -> Iterator[Question]:
    """(label, answers, P(answer | entity) rows, base rate of each answer) per open question."""
    rates = kb.meta["base_rates"]
    labels = kb.meta["questions"]
    known = {f"labs:{lab}" for lab in labs} | {f"history:{t}" for t in f.history or ()}
    # A question restating a finding already given (same redundant group) is not asked.
    answered = {
        key for group in kb.meta.get("redundant_groups", []) if known & set(group) for key in group
    }
    for lab, label in labels["labs"].items():
        given_direct = lab in labs or (lab in ("calcium", "phosphate") and "ca_x_p" in labs)
        if given_direct or f"labs:{lab}" in answered or not any(lab in e.labs for e in ents):
            continue
        states = LAB_STATES[lab]
        base = rates["labs"][lab]
        rows = []
        for e in ents:
            w = [base[s] * e.labs.get(lab, {}).get(s, 1.0) for s in states]
            rows.append([x / sum(w) for x in w])
        yield label, states, rows, [base[s] for s in states]
    if f.mineral in (None, "unknown"):
        states = ("calcification", "ossification")
        base = rates["mineral"]
        rows = []
        for e in ents:
            w = [base[s] * kb.meta["mineral_lr"][e.mineral][s] for s in states]
            rows.append([x / sum(w) for x in w])
        yield labels["mineral"], states, rows, [base[s] for s in states]
    given = set(f.history or ())
    for term in HISTORY:
        if term in given or f"history:{term}" in answered:
            continue
        if not any(term in e.slots["history"] for e in ents):
            continue
        base = float(rates["history"].get(term, rates["history_default"]))
        rows = []
        for e in ents:
            p = min(0.95, base * e.slots["history"].get(term, 1.0))
            rows.append([p, 1 - p])
        label = f"{labels['history_prefix']} {term.replace('_', ' ')}"
        yield label, ("yes", "no"), rows, [base, 1 - base]


def next_steps(
    kb: KnowledgeBase,
    f: Findings,
    lab_states: dict[str, str],
    ranked: list[tuple[Entity, float]],
    *,
    top_k: int = 8,
    n_steps: int = 4,
) -> tuple[list[str], list[dict[str, Any]]]:
    """The questions with the highest expected information gain over the top hypotheses.

    Parameters
    ----------
    kb : KnowledgeBase
    f : Findings
    lab_states : dict
        Derived lab states already known.
    ranked : list of (Entity, probability)
        Hypotheses, best first.
    top_k : int
        Number of leading hypotheses to separate.
    n_steps : int
        Number of steps returned.

    Returns
    -------
    (list of str, list of dict)
        Plain-words steps and their details (question, gain in bits, answer -> favoured entity).
    """
    ents = [e for e, _ in ranked[:top_k]]
    total = sum(p for _, p in ranked[:top_k])
    prior = [p / total for _, p in ranked[:top_k]]
    scored = []
    for label, states, rows, base in _questions(kb, f, lab_states, ents):
        gain = expected_information_gain(prior, rows)
        if gain < 0.01:
            continue
        # An answer favours the leading entity whose own likelihood of it most exceeds its base
        # rate (an explicit likelihood ratio > 1.25 in the knowledge base).
        favours = {}
        for a, state in enumerate(states):
            ratios = [row[a] / base[a] for row in rows]
            best = max(range(len(ents)), key=lambda i: (ratios[i], prior[i]))
            if ratios[best] > 1.25:
                favours[state] = ents[best].label
        scored.append((gain, label, favours))
    scored.sort(key=lambda t: (-t[0], t[1]))
    steps, detail = [], []
    for gain, label, favours in scored[:n_steps]:
        parts = "; ".join(f"{s} favours {lab}" for s, lab in favours.items()) or "separates"
        steps.append(f"{label}: {parts} (expected information gain {gain:.2f} bits)")
        detail.append(
            {"question": label, "information_gain_bits": round(gain, 4), "favours": favours}
        )
    return steps, detail
