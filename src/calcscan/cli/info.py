"""``calcscan info``: what a CT input holds (placeholder until the reader lands)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``info`` command to ``app``."""

    @app.command("info")
    def info(
        path: str = typer.Argument(..., help="DICOM folder/zip, NIfTI, NRRD or MHA file."),
    ) -> None:
        """Describe a CT input: series, geometry, HU statistics, demographics, warnings."""
        from calcscan.io import read_ct

        read_ct(path)
