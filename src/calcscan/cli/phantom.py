"""``calcscan phantom``: write a synthetic head CT with facial nodules and its ground truth."""

from __future__ import annotations

import typer

__all__ = ["parse_region_counts", "register"]


def parse_region_counts(text: str) -> dict[str, int]:
    """Parse ``"frontal=5,maxillary=3"`` into ``{"frontal": 5, "maxillary": 3}``."""
    from calcscan.errors import UsageError
    from calcscan.phantom import PHANTOM_REGIONS

    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, num = part.partition("=")
        if name not in PHANTOM_REGIONS or not num.strip().isdigit():
            raise UsageError(
                f"bad --nodules entry {part!r}: use REGION=COUNT with REGION one of "
                f"{', '.join(PHANTOM_REGIONS)} (e.g. frontal=5,maxillary=3)"
            )
        out[name] = out.get(name, 0) + int(num)
    return out


def register(app: typer.Typer) -> None:
    """Add the ``phantom`` command to ``app``."""

    @app.command("phantom")
    def phantom(
        out: str = typer.Option(..., "-o", "--out", help="Output folder (created)."),
        fmt: str = typer.Option("dicom", "--format", help="dicom (series folder) or nifti."),
        seed: int = typer.Option(0, "--seed", help="Random seed (sites, sizes, noise)."),
        nodules: str = typer.Option(
            "frontal=5,maxillary=3", "--nodules", help="Counts per region, e.g. frontal=5,nasal=1."
        ),
        sizes_mm: str = typer.Option("0.6:3", "--sizes-mm", help="Diameter range LO:HI (mm)."),
        densities_hu: str = typer.Option("400:1200", "--densities-hu", help="Density LO:HI."),
        ring_fraction: float = typer.Option(0.2, "--ring-fraction", help="Share with lucency."),
        noise_hu: float = typer.Option(12.0, "--noise-hu", help="Noise SD (HU)."),
        blur_fwhm_mm: float = typer.Option(0.7, "--blur-fwhm-mm", help="In-plane blur FWHM."),
        metal: bool = typer.Option(False, "--metal", help="Dental metal with streaks."),
        tilt_deg: float = typer.Option(0.0, "--tilt-deg", help="Gantry tilt (degrees)."),
        full_head: bool = typer.Option(False, "--full-head", help="Vertex and occiput too."),
        shapes: str = typer.Option(
            "sphere", "--shapes", help="Comma list of sphere,ellipsoid,flocculent,linear."
        ),
        symmetric: bool = typer.Option(
            False, "--symmetric", help="Nodules in mirrored left/right pairs."
        ),
        age: float | None = typer.Option(None, "--age", help="Patient age (years)."),
        sex: str | None = typer.Option(None, "--sex", help="M, F or O."),
        json_out: bool = typer.Option(False, "--json", help="Print the truth summary as JSON."),
    ) -> None:
        """Synthetic head CT (skin, fat, muscle, skull, orbits, nose, sinuses, teeth...) with
        nodules by region, written as a DICOM series or NIfTI plus truth.json (LPS mm)."""
        from calcscan.cli.console import err_console, print_json
        from calcscan.phantom import PHANTOM_REGIONS, make_head_phantom
        from calcscan.phantom.insertion import parse_range
        from calcscan.phantom.output import write_case

        counts = parse_region_counts(nodules)
        with err_console.status("generating phantom"):
            scan, truth = make_head_phantom(
                seed=seed,
                nodules=counts,
                noise_hu=noise_hu,
                blur_fwhm_mm=blur_fwhm_mm,
                metal=metal,
                tilt_deg=tilt_deg,
                face_only=not full_head,
                age_years=age,
                sex=sex,
                sizes_mm=parse_range(sizes_mm, "--sizes-mm"),
                densities_hu=parse_range(densities_hu, "--densities-hu"),
                ring_fraction=ring_fraction,
                symmetric=symmetric,
                shapes=tuple(x.strip() for x in shapes.split(",") if x.strip()),
            )
            gen = dict(scan.provenance)
            gen.update(
                symmetric=symmetric,
                shapes=shapes,
                nodules=counts,
                sizes_mm=sizes_mm,
                densities_hu=densities_hu,
                ring_fraction=ring_fraction,
            )
            paths = write_case(
                scan, truth, out, fmt=fmt, regions_present=list(PHANTOM_REGIONS), generator=gen
            )
        summary = {"ct": str(paths["ct"]), "truth": str(paths["truth"]), "nodules": len(truth)}
        if json_out:
            print_json(summary)
        else:
            err_console.print(
                f"wrote {paths['ct']} ({len(truth)} nodules, truth in {paths['truth']})"
            )
