"""``calcscan stats``: the reference study's statistics (and more) on a cohort table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``stats`` command to ``app``."""

    @app.command("stats")
    def stats(
        cohort: str = typer.Argument(
            None, help="Cohort table (.csv or .parquet), one row per study.", show_default=False
        ),
        db: str = typer.Option(
            None, "--db", help="SQLAlchemy URL of a cohort results store (instead of a file)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print only the JSON to stdout."),
        report_dir: str = typer.Option(
            None, "--output", "-o", help="Write the HTML cohort report and figures here."
        ),
        p_adjust: str = typer.Option(
            "bonferroni",
            "--p-adjust",
            help="Dunn/Conover p adjustment: bonferroni, holm, fdr_bh or none.",
        ),
        top_decade: str = typer.Option(
            "80",
            "--top-decade",
            help="Lower edge of the open top age bin (multiple of 10), "
            "or 'none' for closed decades only.",
        ),
        no_profile: bool = typer.Option(
            False, "--no-profile-ci", help="Skip profile-likelihood intervals (faster)."
        ),
    ) -> None:
        """Prevalence by sex, age by sex, logistic and linear regression, Kruskal-Wallis with
        Dunn post hoc, Tables 1-2, count and spline models, and the cohort report."""
        import logging

        from calcscan.errors import UsageError
        from calcscan.stats import AnalysisOptions, analyze_cohort, load_cohort

        log = logging.getLogger("calcscan.stats")
        logging.captureWarnings(True)  # stray library warnings go through the stderr log
        if top_decade.strip().lower() == "none":
            top: int | None = None
        else:
            try:
                top = int(top_decade)
            except ValueError:
                top = -1
            if top is None or top < 10 or top % 10:
                raise UsageError(
                    f"--top-decade '{top_decade}': give a multiple of 10 (e.g. 80) or 'none'"
                )
        if cohort is None and db is None:
            raise UsageError("give a cohort table (CSV/Parquet) or --db URL")
        if cohort is not None and db is not None:
            raise UsageError("give either a cohort table or --db, not both")
        if p_adjust not in ("bonferroni", "holm", "fdr_bh", "none"):
            raise UsageError(f"--p-adjust '{p_adjust}': use bonferroni, holm, fdr_bh or none")
        df = load_cohort(cohort, db_url=db)
        opts = AnalysisOptions(p_adjust=p_adjust, top_decade=top, profile_ci=not no_profile)
        result = analyze_cohort(df, opts)
        payload = result.to_dict()
        if report_dir is not None:
            from calcscan.report.cohort import write_cohort_report

            html = write_cohort_report(result, df, Path(report_dir))
            payload["report"] = str(html)
            log.info("cohort report written to %s", html)
        if as_json:
            from calcscan.cli.console import print_json

            print_json(payload)
        else:
            _print_summary(payload)


def _fmt_p(p: object) -> str:
    if not isinstance(p, float):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _print_summary(r: dict[str, Any]) -> None:
    from rich.table import Table

    from calcscan.cli.console import out_console

    t = Table(title=f"calcscan stats: n={r['n']} (male {r['n_male']}, female {r['n_female']})")
    t.add_column("analysis")
    t.add_column("result")
    t.add_column("P", justify="right")

    def row(name: str, block: dict[str, Any], text: str, p_key: str = "p") -> None:
        if not isinstance(block, dict) or not block.get("estimable", True):
            reason = block.get("reason", "") if isinstance(block, dict) else ""
            t.add_row(name, f"not estimable: {reason}", "")
        else:
            t.add_row(name, text.format(**block), _fmt_p(block.get(p_key)))

    prev = r["prevalence"]
    male = prev["male"] if prev["male"] is not None else float("nan")
    female = prev["female"] if prev["female"] is not None else float("nan")
    t.add_row(
        "prevalence",
        f"overall {100 * prev['overall']:.1f}%, male {100 * male:.1f}%, female {100 * female:.1f}%",
        _fmt_p(prev.get("chi2_p")),
    )
    row("age by sex (Z)", r["age_by_sex"], "mean {mean_male:.1f} vs {mean_female:.1f} y, z={z:.2f}")
    lg = r["logistic"]
    if lg.get("estimable"):
        row("logistic: age", lg["age"], "OR {odds_ratio:.3f} per year")
        row("logistic: male sex", lg["sex_male"], "OR {odds_ratio:.3f}")
    else:
        row("logistic", lg, "")
    row("linear count ~ age", r["linear_count_age"], "b={slope:.3f}, F={f:.2f}, R2={r2:.3f}")
    row("Kruskal-Wallis decade", r["kruskal_decade"], "H({df})={h:.2f}")
    row("Kruskal-Wallis sex", r["kruskal_sex"], "H({df})={h:.3f}")
    if isinstance(r["dunn_decade"], list):
        sig = [f"{d['a']} vs {d['b']}" for d in r["dunn_decade"] if d["p_adj"] < 0.05]
        t.add_row(f"Dunn ({r['dunn_p_adjust']})", f"{len(sig)} significant pair(s)", "")
    out_console.print(t)
    if r.get("report"):
        out_console.print(f"report: {r['report']}")
