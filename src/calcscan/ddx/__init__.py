"""Differential diagnosis of soft-tissue calcification and ossification.

A knowledge base of entities as versioned YAML data with references (:mod:`calcscan.ddx.kb`),
validated findings (:mod:`calcscan.ddx.findings`), a deterministic naive-Bayes-like engine with
reasons for and against each hypothesis (:mod:`calcscan.ddx.engine`), next steps by expected
information gain (:mod:`calcscan.ddx.nextsteps`) and findings from a detect record
(:mod:`calcscan.ddx.record`). A research tool, never a diagnosis.
"""

from __future__ import annotations

from calcscan.ddx.engine import diagnose
from calcscan.ddx.findings import Findings, parse_findings
from calcscan.ddx.kb import Entity, KnowledgeBase, KnowledgeBaseError, load_kb
from calcscan.ddx.record import findings_from_record

__all__ = [
    "Entity",
    "Findings",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "diagnose",
    "findings_from_record",
    "load_kb",
    "parse_findings",
]
