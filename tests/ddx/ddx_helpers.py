"""Helpers for the ddx tests: vignettes and generated typical cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from calcscan.ddx import Entity, diagnose, load_kb, parse_findings

HERE = Path(__file__).resolve().parent
VIGNETTES = HERE / "vignettes.yaml"

# Representative numeric values for a lab state (mg/dL; adult limits of kb/meta.yaml).
_NUMERIC = {
    "calcium": ("calcium_mg_dl", {"low": 7.5, "normal": 9.5, "high": 12.0}),
    "phosphate": ("phosphate_mg_dl", {"low": 2.0, "normal": 3.5, "high": 7.0}),
    "ca_x_p": ("ca_x_p_mg2_dl2", {"normal": 40.0, "borderline": 65.0, "high": 85.0}),
}


def load_vignettes() -> list[dict[str, Any]]:
    """The vignette list of ``vignettes.yaml``."""
    return list(yaml.safe_load(VIGNETTES.read_text(encoding="utf-8")))


def _top(terms: dict[str, float], n: int) -> list[str]:
    return [t for t, lr in sorted(terms.items(), key=lambda kv: (-kv[1], kv[0])) if lr > 1][:n]


def typical_findings(ent: Entity) -> dict[str, Any]:
    """Findings made of an entity's own most typical findings (a KB self-consistency case)."""
    f: dict[str, Any] = {"age_years": sum(ent.age_typical) / 2}
    for slot in ("compartment", "body_region"):
        top = _top(ent.slots[slot], 1)
        if top:
            f[slot] = top[0]
    for slot, n in (("morphology", 2), ("distribution", 2), ("history", 2), ("symptoms", 1)):
        top = _top(ent.slots[slot], n)
        if top:
            f[slot] = top
    if ent.mineral != "either":
        f["mineral"] = ent.mineral
    labs: dict[str, Any] = {}
    for lab, states in ent.labs.items():
        best = _top(states, 1)
        if not best:
            continue
        if lab in _NUMERIC:
            key, values = _NUMERIC[lab]
            labs[key] = values[best[0]]
        elif lab == "renal_failure":
            labs[lab] = best[0] == "true"
        else:
            labs[lab] = best[0]
    if labs:
        f["labs"] = labs
    return f


def accuracy(
    vignettes: list[dict[str, Any]], *, strip: bool, drop_assumed: bool = False
) -> tuple[float, float, list[str]]:
    """Top-1 and top-3 accuracy over vignettes.

    ``strip`` removes history and labs; ``drop_assumed`` removes the finding keys whose values
    the source did not give (listed in each vignette's ``assumed``).
    """
    kb = load_kb()
    hit1 = hit3 = 0
    misses: list[str] = []
    for v in vignettes:
        findings = dict(v["findings"])
        if strip:
            findings.pop("history", None)
            findings.pop("labs", None)
        if drop_assumed:
            for key in v.get("assumed", []):
                findings.pop(key, None)
        result = diagnose(parse_findings(findings), top=3, kb=kb)
        ids = [d["id"] for d in result["differential"]]
        ok = {v["expected"], *v.get("acceptable", [])}
        hit1 += ids[0] in ok
        if ok & set(ids):
            hit3 += 1
        else:
            misses.append(f"{v['id']}: expected {v['expected']}, got {ids}")
    n = len(vignettes)
    return hit1 / n, hit3 / n, misses
