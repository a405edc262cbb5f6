"""``calcscan detect``: find, measure and map facial dermal calcified nodules in one CT."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``detect`` command to ``app``."""

    @app.command("detect")
    def detect(
        input_path: str = typer.Argument(
            ..., metavar="INPUT", help="DICOM folder/zip, NIfTI, NRRD or MHA/MHD file."
        ),
        outdir: str | None = typer.Option(
            None, "-o", "--outdir", help="Write record JSON, nodules CSV, key image, HTML here."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the study record to stdout."),
        threshold_hu: float | None = typer.Option(
            None, "--threshold-hu", help="Candidate threshold, inclusive [150]."
        ),
        min_size_mm: float | None = typer.Option(
            None, "--min-size-mm", help="Smallest counted equivalent diameter [0]."
        ),
        max_depth_mm: float | None = typer.Option(
            None, "--max-depth-mm", help="Deepest distance below the skin searched [10]."
        ),
        connectivity: int | None = typer.Option(
            None, "--connectivity", help="Voxel connectivity 6, 18 or 26 [26]."
        ),
        definite_conspicuity: float | None = typer.Option(
            None, "--definite-conspicuity", help="Contrast-to-noise of a counted nodule [5]."
        ),
        series_uid: str | None = typer.Option(
            None, "--series", help="SeriesInstanceUID to use from a study folder."
        ),
    ) -> None:
        """Detect facial dermal calcified nodules (research use only, never a diagnosis)."""
        import logging

        from calcscan.cli.console import err_console, print_json
        from calcscan.detect import DetectConfig, run_detection
        from calcscan.detect.outputs import write_outputs
        from calcscan.detect.pipeline import read_scan

        log = logging.getLogger("calcscan.detect")
        config = DetectConfig().with_options(
            threshold_hu=threshold_hu,
            min_size_mm=min_size_mm,
            max_depth_mm=max_depth_mm,
            connectivity=connectivity,
            definite_conspicuity=definite_conspicuity,
        )
        with err_console.status("reading", spinner="dots"):
            scan = read_scan(input_path, series_uid=series_uid)
        with err_console.status("detecting", spinner="dots"):
            result = run_detection(scan, config)
        record = result.record.to_dict()
        if outdir is not None:
            with err_console.status("writing outputs", spinner="dots"):
                paths = write_outputs(result, scan, outdir)
            log.info("report: %s", paths.report_html)
        if as_json:
            print_json(record)
        else:
            qc = record["qc"]
            err_console.print(
                f"{record['nodule_count']} nodules counted, {len(record['possible_nodules'])} "
                f"possible, pattern {record['distribution_pattern']}"
                + (f"; excluded: {', '.join(qc['reasons'])}" if qc["excluded"] else "")
            )
