"""``calcscan cohort``: run detection over a whole archive, list failures, export tables.

Exit codes (CONTRACTS §5): 0 all studies processed, 1 usage/config error (including an
unreachable database), 2 some studies failed (listed by ``calcscan cohort failures``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.progress import Task

__all__ = ["register"]

_DB_HELP = "SQLAlchemy URL of the results store: sqlite:///results.db or postgresql://user@host/db."


def _load_config(path: Path | None, threshold_hu: float | None) -> Any:
    """DetectConfig from a JSON/YAML file of options (unknown keys are a usage error)."""
    from dataclasses import fields

    from calcscan.detect import DetectConfig
    from calcscan.errors import UsageError

    options: dict[str, Any] = {}
    if path is not None:
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"cannot read config {path}: {exc}") from None
        if not isinstance(data, dict):
            raise UsageError(f"config {path} must be a mapping of option: value")
        known = {f.name for f in fields(DetectConfig)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(
                f"unknown options in {path}: {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        options.update(data)
    if threshold_hu is not None:
        options["threshold_hu"] = threshold_hu
    try:
        return DetectConfig().with_options(**options)
    except TypeError as exc:
        raise UsageError(f"bad detection option: {exc}") from None


def _rate_columns() -> list[Any]:
    """Progress columns: studies/s and ETA from the whole run so far (not a short window)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    def rate(task: Task) -> float | None:
        elapsed = task.elapsed
        return task.completed / elapsed if elapsed and task.completed else None

    class StudiesPerSecond(ProgressColumn):
        def render(self, task: Task) -> Text:
            r = rate(task)
            return Text("-- studies/s" if r is None else f"{r:.2f} studies/s", style="cyan")

    class Eta(ProgressColumn):
        def render(self, task: Task) -> Text:
            r = rate(task)
            if r is None or task.total is None:
                return Text("ETA --:--", style="cyan")
            seconds = int(max(0.0, task.total - task.completed) / r)
            return Text(f"ETA {seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}")

    return [StudiesPerSecond(), Eta()]


def register(app: typer.Typer) -> None:
    """Add the ``cohort`` command group to ``app``."""
    cohort = typer.Typer(
        help="Batch detection over many studies, with a resumable results store.",
        no_args_is_help=True,
    )
    app.add_typer(cohort, name="cohort")

    @cohort.command("run")
    def run(
        inputs: Annotated[
            list[str],
            typer.Argument(
                help="Folders, .zip files, NIfTI/NRRD/MHA files or manifest CSVs of paths."
            ),
        ],
        db: str = typer.Option("sqlite:///results.db", "--db", help=_DB_HELP),
        demographics: Annotated[
            Path | None,
            typer.Option(
                "--demographics",
                help="CSV keyed by study_key, StudyInstanceUID, accession or path, with "
                "age_years, sex and indication; overrides the headers.",
            ),
        ] = None,
        workers: int | None = typer.Option(
            None, "--workers", "-j", help="Local worker processes (default: CPUs; 1 = serial)."
        ),
        scheduler: str | None = typer.Option(
            None, "--scheduler", help="Dask scheduler address (tcp://host:8786) to run on."
        ),
        config: Annotated[
            Path | None,
            typer.Option("--config", help="JSON/YAML file of detection options (DetectConfig)."),
        ] = None,
        threshold_hu: float | None = typer.Option(
            None, "--threshold-hu", help="Candidate threshold in HU (default 150)."
        ),
        keep_identifiers: bool = typer.Option(
            False, "--keep-identifiers", help="Store input paths, UIDs and accession numbers."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
    ) -> None:
        """Run detection on every study of INPUTS and store the results (resumable)."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        from calcscan.cli.console import err_console, print_json
        from calcscan.cohort.runner import run_cohort

        detect_config = _load_config(config, threshold_hu)
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            # one line per study from the reader would drown the progress bar (-vv shows it)
            logging.getLogger("calcscan.io").setLevel(logging.WARNING)
        bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            *_rate_columns(),
            TimeElapsedColumn(),
            TextColumn("[red]{task.fields[failed]} failed"),
            console=err_console,
            transient=False,
        )
        # parallel runs start studies while discovery is still finding more: the total grows
        # until on_start gives the final count
        state: dict[str, Any] = {}

        def bar_task() -> Any:
            if "task" not in state:
                bar.start()
                state["task"] = bar.add_task("studies", total=None, failed=0)
            return state["task"]

        def on_start(total: int) -> None:
            bar.update(bar_task(), total=total)

        def on_progress(done: int, total: int, failed: int) -> None:
            bar.update(bar_task(), completed=done, total=max(done, total), failed=failed)

        try:
            summary = run_cohort(
                inputs,
                db,
                config=detect_config,
                demographics=demographics,
                workers=workers,
                scheduler=scheduler,
                keep_identifiers=keep_identifiers,
                on_start=on_start,
                on_progress=on_progress,
            )
        finally:
            bar.stop()
        if as_json:
            print_json(summary.to_dict())
        rate = (
            f", {summary.studies_per_minute:.1f} studies/min" if summary.studies_per_minute else ""
        )
        err_console.print(
            f"{summary.n_studies} studies: {summary.n_processed} processed, {summary.n_skipped} "
            f"already done, {summary.n_failed} failed, {summary.n_duplicates} duplicates "
            f"(config {summary.config_digest}, {summary.wall_s:.1f} s{rate})"
        )
        if summary.n_failed:
            err_console.print(f"list the failures with: calcscan cohort failures --db {db}")
        raise typer.Exit(summary.exit_code)

    @cohort.command("failures")
    def failures(
        db: str = typer.Option("sqlite:///results.db", "--db", help=_DB_HELP),
        show_all: bool = typer.Option(False, "--all", help="Include failures fixed by a rerun."),
        as_json: bool = typer.Option(False, "--json", help="Print the failures as JSON."),
    ) -> None:
        """List the studies that could not be processed (stage, error type, message)."""
        from rich.table import Table

        from calcscan.cli.console import out_console, print_json
        from calcscan.cohort.store import open_store

        store = open_store(db)
        try:
            rows = store.failures(include_resolved=show_all)
        finally:
            store.close()
        if as_json:
            print_json(rows)
            return
        table = Table(title=f"{len(rows)} failures in {store.url}")
        for column in ("run", "study (input key)", "stage", "error", "message"):
            table.add_column(column, overflow="fold")
        for r in rows:
            table.add_row(
                str(r["run_id"]),
                r["input_key"] or r["input"],
                r["stage"],
                r["error_type"],
                r["message"] + (" [resolved]" if r["resolved"] else ""),
            )
        out_console.print(table)

    @cohort.command("export")
    def export(
        output: Annotated[
            Path, typer.Option("--output", "-o", help="Output .csv or .parquet file.")
        ],
        db: str = typer.Option("sqlite:///results.db", "--db", help=_DB_HELP),
        nodules: bool = typer.Option(False, "--nodules", help="One row per nodule instead."),
        config_digest: str | None = typer.Option(
            None, "--config-digest", help="Which config's results (default: the latest)."
        ),
        keep_identifiers: bool = typer.Option(
            False, "--keep-identifiers", help="Add path/UID/accession columns (if stored)."
        ),
    ) -> None:
        """Export one row per study (the table `calcscan stats` reads) or per nodule."""
        from calcscan.cli.console import err_console
        from calcscan.cohort.export import export_nodules, export_studies

        if nodules:
            path, n = export_nodules(db, output, config_digest=config_digest)
        else:
            path, n = export_studies(
                db, output, config_digest=config_digest, keep_identifiers=keep_identifiers
            )
        err_console.print(f"wrote {n} {'nodules' if nodules else 'studies'} to {path}")
