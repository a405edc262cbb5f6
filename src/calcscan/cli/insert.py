"""``calcscan insert``: virtual nodules in the facial skin of a real CT, with LPS truth."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``insert`` command to ``app``."""

    @app.command("insert")
    def insert(
        path: str = typer.Argument(..., help="CT input (DICOM folder/zip, NIfTI, NRRD, MHA)."),
        out: str = typer.Option(..., "-o", "--out", help="Output folder (created)."),
        n: int = typer.Option(10, "--n", help="Number of nodules."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        sizes_mm: str = typer.Option("0.6:4", "--sizes-mm", help="Diameter range LO:HI (mm)."),
        densities_hu: str = typer.Option("300:1400", "--densities-hu", help="Density LO:HI."),
        ring_fraction: float = typer.Option(0.2, "--ring-fraction", help="Share with lucency."),
        fmt: str | None = typer.Option(
            None, "--format", help="dicom or nifti (default: like the input)."
        ),
        series_uid: str | None = typer.Option(None, "--series-uid", help="Series to read."),
        json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    ) -> None:
        """Insert random nodules (partial volume, scanner blur) into the dermis/hypodermis of
        the face and write the modified CT (same geometry) and truth.json in LPS mm."""
        from pathlib import Path

        from calcscan.cli.console import err_console, print_json
        from calcscan.io import read_ct
        from calcscan.phantom.insertion import parse_range, random_insertion
        from calcscan.phantom.output import write_case

        rng_sizes = parse_range(sizes_mm, "--sizes-mm")
        rng_dens = parse_range(densities_hu, "--densities-hu")
        scan = read_ct(path, series_uid=series_uid)
        if fmt is None:
            fmt = (
                "nifti"
                if Path(path).suffix.lower() in (".nii", ".gz", ".nrrd", ".mha", ".mhd")
                else "dicom"
            )
        with err_console.status(f"inserting {n} nodules"):
            new, truth = random_insertion(
                scan,
                n,
                seed=seed,
                sizes_mm=rng_sizes,
                densities_hu=rng_dens,
                ring_fraction=ring_fraction,
            )
            gen = {
                "generator": "calcscan.phantom.random_insertion",
                "source": path,
                "source_study_key": scan.study_key,
                "n": n,
                "seed": seed,
                "sizes_mm": list(rng_sizes),
                "densities_hu": list(rng_dens),
                "ring_fraction": ring_fraction,
            }
            paths = write_case(new, truth, out, fmt=fmt, generator=gen)
        summary = {"ct": str(paths["ct"]), "truth": str(paths["truth"]), "nodules": len(truth)}
        if json_out:
            print_json(summary)
        else:
            err_console.print(f"wrote {paths['ct']} ({len(truth)} nodules, truth {paths['truth']})")
