"""``calcscan ddx``: ranked, explained, referenced differential of soft-tissue calcification."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import typer

from calcscan.errors import UsageError

__all__ = ["build_findings_dict", "register"]


# List options as module-level singletons (list defaults must not be built per call).
_MORPHOLOGY_OPT = typer.Option(
    None, "--morphology", help="Morphology terms; repeat or comma-separate."
)
_DISTRIBUTION_OPT = typer.Option(
    None, "--distribution", help="Distribution terms; repeat or comma-separate."
)
_HISTORY_OPT = typer.Option(None, "--history", help="History terms; repeat or comma-separate.")
_SYMPTOMS_OPT = typer.Option(None, "--symptoms", help="Symptom terms; repeat or comma-separate.")
_LAB_OPT = typer.Option(
    None, "--lab", help="KEY=VALUE, e.g. phosphate_mg_dl=6.1 or pth=high; repeatable."
)


def _read_json(source: str, what: str) -> Any:
    if source == "-":
        text = sys.stdin.read()
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{what} file not found: {source}")
        text = path.read_text(encoding="utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{what} {source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _parse_lab(item: str) -> tuple[str, Any]:
    from calcscan.ddx.vocab import LAB_NUMERIC

    key, sep, value = item.partition("=")
    if not sep:
        raise UsageError(f"--lab expects KEY=VALUE (e.g. phosphate_mg_dl=6.1), got {item!r}")
    key, value = key.strip(), value.strip()
    if key in LAB_NUMERIC:
        try:
            return key, float(value)
        except ValueError:
            raise UsageError(f"--lab {key} must be a number, got {value!r}") from None
    if key == "renal_failure":
        if value.lower() not in ("true", "false"):
            raise UsageError("--lab renal_failure must be true or false")
        return key, value.lower() == "true"
    return key, value


def build_findings_dict(base: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """Merge quick flags into a findings dict (scalars replace, lists extend, labs merge)."""
    out = dict(base)
    for key, value in flags.items():
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, list):
            prev = out.get(key) or []
            prev = [prev] if isinstance(prev, str) else list(prev)
            out[key] = prev + [v for v in value if v not in prev]
        elif isinstance(value, dict):
            out[key] = {**(out.get(key) or {}), **value}
        else:
            out[key] = value
    return out


def _short(reason: str) -> str:
    """Table form of a reason: drop the '(typical: ...)' list kept in the JSON."""
    return re.sub(r" \(typical: [^)]*\)", "", reason)


def _render(result: dict[str, Any], summary: dict[str, Any] | None, notes: list[str]) -> None:
    from rich.panel import Panel
    from rich.table import Table

    from calcscan.cli.console import out_console

    title = "Differential diagnosis"
    if result["prior_only"]:
        title += " (PRIOR ONLY: no findings given)"
    table = Table(title=title, show_lines=True, expand=True)
    table.add_column("#", justify="right", ratio=1)
    table.add_column("Diagnosis", ratio=6)
    table.add_column("P", justify="right", ratio=2)
    table.add_column("For", ratio=7)
    table.add_column("Against", ratio=6)
    for i, h in enumerate(result["differential"], 1):
        table.add_row(
            str(i),
            f"{h['label']}\n[dim]{h['mechanism']}[/dim]",
            f"{h['probability']:.3f}",
            "\n".join(_short(r) for r in h["reasons_for"][:3]),
            "\n".join(_short(r) for r in h["reasons_against"][:2]),
        )
    if summary is not None:
        counts = ", ".join(f"{k} {v}" for k, v in summary["counts_by_region"].items())
        out_console.print(
            Panel(
                f"{summary['nodule_count']} nodules ({counts});"
                f" sides: {', '.join(summary['sides'])};"
                f" median diameter {summary['median_diameter_mm']} mm, depth"
                f" {summary['median_depth_mm']} mm",
                title=f"detect record {summary.get('study_key') or ''}",
            )
        )
        out_console.print(Panel("\n".join(f"- {n}" for n in notes), title="facial dermal nodules"))
    out_console.print(table)
    if result.get("mimics"):
        mt = Table(title=f"{result['differential'][0]['label']} versus its mimics", expand=True)
        mt.add_column("Mimic / secondary cause", ratio=5)
        mt.add_column("Bayes factor vs leader", justify="right", ratio=2)
        mt.add_column("Would favour it", ratio=5)
        for m in result["mimics"]:
            mt.add_row(
                m["label"], f"{m['bayes_factor_vs_top']:.2g}", ", ".join(m["would_favour_it"])
            )
        out_console.print(mt)
    mech = result["mechanism"]
    probs = "  ".join(f"{k} {v:.2f}" for k, v in mech["probabilities"].items())
    out_console.print(f"[bold]Mechanism:[/bold] {mech['most_likely']}  ({probs})")
    for line in mech["reasoning"]:
        out_console.print(f"  - {line}")
    out_console.print("[bold]Calcification vs ossification:[/bold]")
    for line in result["mineral"]["guidance"][:3]:
        out_console.print(f"  - {line}")
    out_console.print("[bold]Next steps:[/bold]")
    for line in result["next_steps"]:
        out_console.print(f"  - {line}")
    out_console.print(f"knowledge base {result['knowledge_base_version']}. {result['disclaimer']}")


def register(app: typer.Typer) -> None:
    """Add the ``ddx`` command to ``app``."""

    @app.command("ddx")
    def ddx(
        findings: str | None = typer.Argument(
            None, help="FINDINGS.json (CONTRACTS §3), or - for stdin."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON only."),
        top: int = typer.Option(10, "--top", min=1, help="Number of hypotheses shown."),
        from_record: str | None = typer.Option(
            None, "--from-record", help="Build findings from a `calcscan detect --json` record."
        ),
        age: float | None = typer.Option(None, "--age", help="Age in years."),
        sex: str | None = typer.Option(None, "--sex", help="M or F."),
        site: str | None = typer.Option(None, "--site", help="Free-text site."),
        body_region: str | None = typer.Option(
            None, "--body-region", "--region", help="Body region."
        ),
        compartment: str | None = typer.Option(None, "--compartment", help="Compartment."),
        mineral: str | None = typer.Option(None, "--mineral", help="calcification | ossification."),
        morphology: list[str] | None = _MORPHOLOGY_OPT,
        distribution: list[str] | None = _DISTRIBUTION_OPT,
        history: list[str] | None = _HISTORY_OPT,
        symptoms: list[str] | None = _SYMPTOMS_OPT,
        size_mm: float | None = typer.Option(None, "--size-mm", help="Size in mm."),
        weeks: float | None = typer.Option(
            None, "--weeks-since-event", help="Weeks since the event."
        ),
        lab: list[str] | None = _LAB_OPT,
        kb_dir: str | None = typer.Option(
            None, "--kb", help="Knowledge-base folder (default: the packaged one); validated."
        ),
    ) -> None:
        """Rank the differential diagnosis of a soft-tissue calcification or ossification."""
        from calcscan.cli.console import print_json
        from calcscan.ddx import diagnose, findings_from_record, load_kb, parse_findings
        from calcscan.ddx.record import record_summary

        if findings is not None and from_record is not None:
            raise UsageError("give either FINDINGS.json or --from-record, not both")
        summary: dict[str, Any] | None = None
        base: dict[str, Any] = {}
        if from_record is not None:
            record = _read_json(from_record, "record")
            base = findings_from_record(record).to_dict()
            summary = record_summary(record)
        elif findings is not None:
            base = _read_json(findings, "findings")
            if not isinstance(base, dict):
                raise UsageError('findings: expected one JSON object, e.g. {"age_years": 45}')
        flags = {
            "age_years": age,
            "sex": sex,
            "site": site,
            "body_region": body_region,
            "compartment": compartment,
            "mineral": mineral,
            "morphology": _split(morphology),
            "distribution": _split(distribution),
            "history": _split(history),
            "symptoms": _split(symptoms),
            "size_mm": size_mm,
            "weeks_since_event": weeks,
            "labs": dict(_parse_lab(x) for x in lab or []),
        }
        parsed = parse_findings(build_findings_dict(base, flags))
        kb = load_kb(kb_dir)
        result = diagnose(parsed, top=top, kb=kb)
        notes = [" ".join(str(n).split()) for n in kb.meta["facial_nodule_notes"]]
        if summary is not None:
            result["record"] = summary
            result["facial_nodule_notes"] = notes
        if json_out:
            print_json(result)
        else:
            _render(result, summary, notes)
