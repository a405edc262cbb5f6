"""``calcscan validate``: detection validation on phantoms, insertions and real negatives."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``validate`` command to ``app``."""

    @app.command("validate")
    def validate(
        data: str | None = typer.Option(
            None,
            "--data",
            help="Folder holding ct/ (default $CALCSCAN_TEST_DATA or ../shared/data).",
        ),
        trials: int = typer.Option(5, "--trials", help="Insertions per real head and phantoms."),
        seed: int = typer.Option(
            1000, "--seed", help="First seed. Default 1000 = acceptance seeds (tune below 1000)."
        ),
        n: int = typer.Option(10, "--n", help="Nodules per insertion scan."),
        no_real: bool = typer.Option(False, "--no-real", help="Phantoms only."),
        no_miliary: bool = typer.Option(False, "--no-miliary", help="Skip the miliary phantom."),
        json_out: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
        head: list[str] | None = typer.Option(  # noqa: B008 - typer's declaration style
            None,
            "--head",
            help="Your own head CT without skin calcifications (repeatable): scored as a "
            "negative and used for the insertions instead of the shared heads.",
        ),
    ) -> None:
        """Run detect on phantoms and insertions into the real heads and print sensitivity by
        size, false positives per scan, region agreement, count error, centroid error, time.

        The default seeds (>= 1000) are the acceptance seeds nobody tunes on. With --head,
        insertions go into your own nodule-free head CTs (validate on your scanner)."""
        from pathlib import Path

        from rich.table import Table

        from calcscan.cli.console import err_console, out_console, print_json, progress
        from calcscan.cohort.malloc import tune_malloc
        from calcscan.validate.runner import run_validation
        from calcscan.validate.table import acceptance_rows, summary_rows

        tune_malloc()  # one scan after another in this process, as a cohort worker
        with progress(transient=True) as bar:
            task = bar.add_task("validating", total=None)
            result = run_validation(
                data_dir=Path(data) if data else None,
                trials=trials,
                seed=seed,
                nodules_per_insertion=n,
                miliary=not no_miliary,
                real=not no_real,
                on_scan=lambda name: bar.update(task, advance=1, description=name),
                heads=head or None,
            )
        if json_out:
            print_json(result.to_dict())
            return
        table = Table(title=f"calcscan validation (seeds {seed}..{seed + max(trials - 1, 0)})")
        table.add_column("metric")
        table.add_column("value")
        for k, v in summary_rows(result.summary):
            table.add_row(k, v)
        out_console.print(table)
        acc = Table(title="issue 3 acceptance targets")
        acc.add_column("check")
        acc.add_column("result")
        for k, v in acceptance_rows(result.summary):
            acc.add_row(k, v)
        out_console.print(acc)
        err_console.print(f"{len(result.outcomes)} scans scored")
