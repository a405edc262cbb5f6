"""``calcscan info``: what a CT input holds and how it is read.

Series found (and the one chosen, with the reason), geometry, HU statistics, demographics and
warnings; Rich tables on stdout by default, strict JSON with ``--json``. Exit codes follow
CONTRACTS §2: 0 success, 1 usage error (e.g. unknown ``--series``), 2 unusable input.
"""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["register", "render_info"]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def render_info(report: dict[str, Any]) -> None:
    """Print an info report (from :func:`calcscan.io.describe.describe_scan`) as Rich tables."""
    from rich.table import Table

    from calcscan.cli.console import out_console

    out_console.print(f"[bold]{report['input']}[/bold]  ({report['source_format']})")
    for study in report["studies"]:
        table = Table(title=f"Study {study['study_instance_uid'] or '(no StudyInstanceUID)'}")
        for col in (
            "",
            "#",
            "description",
            "modality",
            "image type",
            "slices",
            "thick mm",
            "covered mm",
            "axial",
        ):
            table.add_column(col)
        for s in study["series"]:
            table.add_row(
                "[green]chosen[/green]" if s["chosen"] else "",
                _fmt(s["series_number"]),
                s["description"] or "",
                s["modality"],
                "/".join(s["image_type"][:3]),
                str(s["n_slices"]),
                _fmt(s["slice_thickness_mm"]),
                f"{s['coverage_mm']:.0f}",
                "yes" if s["axial"] else "no",
            )
        out_console.print(table)
    if report["choice_reason"]:
        out_console.print(f"Chosen: {report['choice_reason']}")
    if report["files"]:
        f = report["files"]
        out_console.print(
            f"Files: {f['examined']} examined, {f['non_dicom']} not DICOM, {f['corrupt']} corrupt"
        )
    geo = Table(title="Geometry", show_header=False)
    geo.add_column("key")
    geo.add_column("value")
    for key, value in report["geometry"].items():
        geo.add_row(key, _fmt(value))
    out_console.print(geo)
    hu = report["hu"]
    stats = Table(title="HU statistics", show_header=False)
    stats.add_column("key")
    stats.add_column("value")
    for key in ("min", "max", "mean", "air_peak_hu", "soft_tissue_peak_hu"):
        stats.add_row(key, _fmt(hu[key]))
    stats.add_row("percentiles", "  ".join(f"{k}={v:g}" for k, v in hu["percentiles"].items()))
    out_console.print(stats)
    patient = report["patient"]
    prov = report["provenance"]
    out_console.print(
        f"Patient: age {_fmt(patient['age_years'])} y, sex {_fmt(patient['sex'])}   "
        f"Scanner: {_fmt(prov.get('manufacturer'))} {_fmt(prov.get('manufacturer_model_name'))}, "
        f"kernel {_fmt(prov.get('convolution_kernel'))}, kVp {_fmt(prov.get('kvp'))}, "
        f"{_fmt(prov.get('transfer_syntax'))}"
    )
    out_console.print(f"study_key: {report['study_key']}")
    if report["warnings"]:
        out_console.print("[bold yellow]Warnings[/bold yellow]")
        for w in report["warnings"]:
            out_console.print(f"  - {w}", markup=False)
    else:
        out_console.print("No warnings.")


def register(app: typer.Typer) -> None:
    """Add the ``info`` command to ``app``."""

    @app.command("info")
    def info(
        path: str = typer.Argument(..., help="DICOM folder/zip, NIfTI, NRRD or MHA/MHD file."),
        json_out: bool = typer.Option(False, "--json", help="Print strict JSON only."),
        series: str | None = typer.Option(
            None, "--series", help="SeriesInstanceUID to read instead of the automatic choice."
        ),
    ) -> None:
        """Describe a CT input: series, geometry, HU statistics, demographics, warnings."""
        from calcscan.cli.console import print_json
        from calcscan.io import read_ct_with_discovery
        from calcscan.io.describe import describe_scan

        scan, found = read_ct_with_discovery(path, series_uid=series)
        report = describe_scan(scan, found)
        if json_out:
            print_json(report)
        else:
            render_info(report)
