"""Cohort report: self-contained HTML (inline SVG figures) plus PNG/SVG figure files.

Sections: the reference study's Tables 1-2 and Figures 2-3, every test with a method sentence
ready to paste into a manuscript (software and versions), a side-by-side column with the
reference study's published values, the extended analyses and a research-use disclaimer.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from calcscan.stats.analyze import CohortStats
from calcscan.stats.basic import compare_percentages_n1, compare_proportions
from calcscan.stats.simulate import reference_values

__all__ = ["build_context", "method_sentences", "reference_rows", "write_cohort_report"]

log = logging.getLogger(__name__)

DISCLAIMER = (
    "Research use only. calcscan counts calcified nodules automatically and reports "
    "statistics for research; it is not a medical device and does not make a diagnosis."
)


#: Table 2 row names as printed in the reference study.
_PATTERN_LABELS = {
    "none": "None",
    "frontal": "Frontal",
    "frontal_maxillary": "Frontal-maxillary",
    "maxillary": "Maxillary",
    "temporal": "Temporal",
    "mandibular_buccal": "Mandibular/buccal",
    "orbital": "Orbital",
    "other": "Other",
}


def _p(p: Any) -> str:
    if not isinstance(p, int | float):
        return "n/a"
    return "< .001" if p < 0.001 else f"= {p:.3f}".replace("0.", ".", 1)


def _ok(block: Any) -> bool:
    return isinstance(block, dict) and bool(block.get("estimable", True))


def _na(block: Any) -> str:
    reason = block.get("reason", "") if isinstance(block, dict) else ""
    return f"not estimable ({reason})"


def method_sentences(r: dict[str, Any]) -> list[dict[str, str]]:
    """One row per test: name, result and a manuscript-ready method sentence."""
    sw = r["software"]
    libs = (
        f"calcscan {sw['calcscan']} (Python {sw['python']}; SciPy {sw['scipy']}, statsmodels "
        f"{sw['statsmodels']}, scikit-posthocs {sw['scikit-posthocs']})"
    )
    o = r["options"]
    rows = []
    prev = r["prevalence"]
    rows.append(
        {
            "test": "Prevalence by sex",
            "result": (
                f"{100 * prev['male']:.1f}% vs {100 * prev['female']:.1f}%, χ²(1) = "
                f"{prev['chi2']:.3f}, P {_p(prev['chi2_p'])} (Yates P {_p(prev['chi2_yates_p'])}; "
                f"Fisher P {_p(prev['fisher_p'])})"
            )
            if _ok(prev)
            else _na(prev),
            "method": "The prevalence of facial calcified nodules was compared between men and "
            "women with Pearson's chi-square test without continuity correction (Yates-corrected "
            "and Fisher exact P values are also given); 95% CIs of proportions are Wilson score "
            f"intervals. Analyses were performed with {libs}.",
        }
    )
    a = r["age_by_sex"]
    rows.append(
        {
            "test": "Age by sex",
            "result": f"{a['mean_male']:.1f} vs {a['mean_female']:.1f} years, z = {a['z']:.2f}, "
            f"P {_p(a['p'])}"
            if _ok(a)
            else _na(a),
            "method": "Mean ages of men and women were compared with a two-sample Z test using "
            "each group's own standard deviation (unpooled), two-sided.",
        }
    )
    lg = r["logistic"]
    if _ok(lg):
        age = lg["age"]
        sex = lg["sex_male"]
        res = (
            f"age OR {age['odds_ratio']:.3f} per year (95% CI {age['ci95'][0]:.3f}-"
            f"{age['ci95'][1]:.3f}), P {_p(age['p'])}"
        )
        if _ok(sex):
            res += (
                f"; male sex OR {sex['odds_ratio']:.2f} (95% CI {sex['ci95'][0]:.2f}-"
                f"{sex['ci95'][1]:.2f}), P {_p(sex['p'])}"
            )
    else:
        res = _na(lg)
    rows.append(
        {
            "test": "Logistic regression (presence)",
            "result": res,
            "method": "The presence of nodules was modelled by logistic regression on age (years, "
            "linear) and sex (reference: female), fitted by iteratively reweighted least squares; "
            "odds ratios are given with Wald 95% CIs (profile-likelihood CIs in the JSON) and "
            "two-sided Wald P values.",
        }
    )
    li = r["linear_count_age"]
    rows.append(
        {
            "test": "Linear regression (count ~ age, positives)",
            "result": f"b = {li['slope']:.3f}, F({li['df'][0]},{li['df'][1]}) = {li['f']:.2f}, "
            f"P {_p(li['p'])}, R² = {li['r2']:.3f}"
            if _ok(li)
            else _na(li),
            "method": "Among subjects with nodules, the number of nodules was regressed on age by "
            "ordinary least squares (QR decomposition); the overall F test is reported.",
        }
    )
    kw = r["kruskal_decade"]
    rows.append(
        {
            "test": "Kruskal-Wallis (count by age decade)",
            "result": f"H({kw['df']}) = {kw['h']:.2f}, P {_p(kw['p'])}" if _ok(kw) else _na(kw),
            "method": "Among subjects with nodules, counts were compared across age decades ("
            f"{o['decade_rule']}) with the Kruskal-Wallis test corrected for ties, followed by "
            "Dunn's post hoc test for every pair of decades (z with tie correction, two-sided P, "
            f"{o['p_adjust']} adjustment); the Conover-Iman test is given as an alternative.",
        }
    )
    ks = r["kruskal_sex"]
    rows.append(
        {
            "test": "Kruskal-Wallis (count by sex)",
            "result": f"H({ks['df']}) = {ks['h']:.3f}, P {_p(ks['p'])}" if _ok(ks) else _na(ks),
            "method": "Counts among subjects with nodules were compared between sexes with the "
            "tie-corrected Kruskal-Wallis test.",
        }
    )
    sp = r["spline_age"]
    rows.append(
        {
            "test": "Non-linearity of age (spline)",
            "result": f"LR χ²({sp['df']}) = {sp['lr_chi2']:.2f}, P {_p(sp['p'])}"
            if _ok(sp)
            else _na(sp),
            "method": "Non-linearity of the age effect on presence was tested with a likelihood-"
            "ratio test of a natural cubic regression spline of age (patsy cr, "
            f"{sp.get('spline_df', 4)} df) against a linear age term, adjusted for sex.",
        }
    )
    cm = r["count_models"]
    rows.append(
        {
            "test": "Count models (NB2 / hurdle)",
            "result": (
                f"NB rate ratio {cm['nb_irr_age_per_year']:.3f} per year (95% CI "
                f"{cm['nb_irr_age_ci95'][0]:.3f}-{cm['nb_irr_age_ci95'][1]:.3f}), P "
                f"{_p(cm['nb_p_age'])}; AIC NB {cm['nb_aic']:.1f}, hurdle {cm['hurdle_aic']:.1f}, "
                f"Poisson {cm['poisson_aic']:.1f}"
            )
            if _ok(cm)
            else _na(cm),
            "method": "The number of nodules in all subjects was modelled with a negative binomial "
            "(NB2) regression on age and sex and with a hurdle model (logistic model of presence "
            "plus a zero-truncated NB2 of the count among positives); models were compared by AIC.",
        }
    )
    return rows


def reference_rows(r: dict[str, Any]) -> list[dict[str, str]]:
    """Side-by-side rows: this cohort vs the reference study's published value."""
    ref = reference_values()
    prev, a, lg = r["prevalence"], r["age_by_sex"], r["logistic"]
    li, kw, ks = r["linear_count_age"], r["kruskal_decade"], r["kruskal_sex"]

    def fmt(block: Any, text: str) -> str:
        if not _ok(block):
            return _na(block)
        values = {k: v for k, v in block.items() if v is not None}
        values["P"] = "P " + _p(block.get("p", block.get("chi2_p")))
        try:
            return text.format(**values)
        except (KeyError, TypeError, ValueError, IndexError):
            return "n/a"

    raw = compare_proportions(
        ref["positives_male"], ref["n_male"], ref["positives_female"], ref["n_female"]
    )
    p_rounded = compare_percentages_n1(
        float(ref["prevalence_male_pct"]),
        ref["n_male"],
        float(ref["prevalence_female_pct"]),
        ref["n_female"],
    )
    prev_note = (
        f"From the published counts 252/599 vs 301/716 calcscan gets P = {raw.chi2_p:.3f} "
        f"(Pearson), {raw.chi2_yates_p:.3f} (Yates) and {raw.fisher_p:.3f} (Fisher); only the "
        f"rounded percentages 42.1% vs 42.0% entered in an N-1 chi-square (MedCalc's "
        f"comparison of proportions) give P = {p_rounded:.3f}, the published .971."
    )
    return [
        {
            "question": "Subjects (male / female)",
            "cohort": f"{r['n_male']} / {r['n_female']}",
            "reference": f"{ref['n_male']} / {ref['n_female']}",
            "note": "",
        },
        {
            "question": "Prevalence overall",
            "cohort": f"{100 * prev['overall']:.1f}%",
            "reference": f"{ref['prevalence_overall_pct']}%",
            "note": "",
        },
        {
            "question": "Prevalence male vs female, P",
            "cohort": fmt(
                {**prev, "male": 100 * (prev["male"] or 0), "female": 100 * (prev["female"] or 0)},
                "{male:.1f}% vs {female:.1f}%, {P}",
            ),
            "reference": "42.1% vs 42.0%, P=.971",
            "note": prev_note,
        },
        {
            "question": "Mean age male vs female, P",
            "cohort": fmt(a, "{mean_male:.1f} vs {mean_female:.1f}, {P}"),
            "reference": "52 vs 51, P=.259",
            "note": "two-sample Z test",
        },
        {
            "question": "Logistic: age OR per year, P",
            "cohort": fmt(lg.get("age") if _ok(lg) else lg, "{odds_ratio:.3f}, {P}"),
            "reference": "1.02, P<.001",
            "note": "",
        },
        {
            "question": "Logistic: sex, P",
            "cohort": fmt(lg.get("sex_male") if _ok(lg) else lg, "OR {odds_ratio:.2f}, {P}"),
            "reference": "OR 1.02, P=.826",
            "note": "the paper does not say which sex is the reference level; calcscan uses female",
        },
        {
            "question": "Linear regression count ~ age (positives)",
            "cohort": fmt(li, "b={slope:.3f}, F({df[0]},{df[1]})={f:.2f}, {P}, R²={r2:.3f}"),
            "reference": "b=0.13, F(1,551)=2.79, P=.095, R²=0.01",
            "note": f"P of F(1,551)=2.79 recomputed: {_f_sf(2.79, 1, 551):.3f}",
        },
        {
            "question": "Kruskal-Wallis by decade",
            "cohort": fmt(kw, "H({df})={h:.2f}, {P}"),
            "reference": "H(8)=27.46, P<.001",
            "note": f"P of H(8)=27.46 recomputed: {_chi2_sf(27.46, 8):.5f}",
        },
        {
            "question": "Kruskal-Wallis by sex",
            "cohort": fmt(ks, "H({df})={h:.3f}, {P}"),
            "reference": "H(1)=0.032, P=.857",
            "note": f"P of H(1)=0.032 recomputed: {_chi2_sf(0.032, 1):.3f}",
        },
        {
            "question": "Mean count among positives",
            "cohort": f"{r['mean_count_positive']:.1f}" if r["mean_count_positive"] else "n/a",
            "reference": "14",
            "note": "",
        },
    ]


def _f_sf(f: float, d1: int, d2: int) -> float:
    from scipy import stats

    return float(stats.f.sf(f, d1, d2))


def _chi2_sf(x: float, df: int) -> float:
    from scipy import stats

    return float(stats.chi2.sf(x, df))


def build_context(result: CohortStats, df: pd.DataFrame, out_dir: Path) -> dict[str, Any]:
    """Template context: tables, figures (inline SVG, files written), methods, reference."""
    from calcscan.report.cohort_figures import figure2_scatter, figure3_decades, save_figure

    r = result.to_dict()
    fig_dir = out_dir / "figures"
    fig2 = save_figure(figure2_scatter(df, r["linear_count_age"]), fig_dir, "figure2_count_vs_age")
    fig3 = save_figure(figure3_decades(r), fig_dir, "figure3_decades")
    ref = reference_values()
    t2_ref = ref["table2"]
    table2_rows = [{"pattern": k, **v, "ref": t2_ref.get(k)} for k, v in r["table2"].items()]
    dunn = r["dunn_decade"] if isinstance(r["dunn_decade"], list) else []
    conover = r["conover_decade"] if isinstance(r["conover_decade"], list) else []
    con_p = {(c["a"], c["b"]): c["p_adj"] for c in conover}
    for d in dunn:
        d["conover_p_adj"] = con_p.get((d["a"], d["b"]))
    return {
        "r": r,
        "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "methods": method_sentences(r),
        "reference": reference_rows(r),
        "reference_citation": ref["citation"],
        "table1": r.get("table1"),
        "table2": table2_rows,
        "dunn": dunn,
        "dunn_note": None if isinstance(r["dunn_decade"], list) else _na(r["dunn_decade"]),
        "fig2_svg": fig2,
        "fig3_svg": fig3,
        "disclaimer": DISCLAIMER,
        "pattern_label": lambda k: _PATTERN_LABELS.get(k, k),
        "pct": lambda x: "n/a" if x is None else f"{100 * x:.1f}%",
        "num": lambda x, f=".3f": "n/a" if x is None else format(x, f),
    }


def write_cohort_report(result: CohortStats, df: pd.DataFrame, out_dir: Path) -> Path:
    """Write ``cohort_report.html``, ``stats.json`` and ``figures/*.png|svg`` to ``out_dir``.

    Returns
    -------
    Path
        The HTML file (self-contained: figures inline as SVG, CSS inline, no external links).
    """
    import json

    from jinja2 import Environment, PackageLoader, select_autoescape

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = Environment(
        loader=PackageLoader("calcscan.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    ctx = build_context(result, df, out_dir)
    html = env.get_template("cohort_report.html.j2").render(**ctx)
    path = out_dir / "cohort_report.html"
    path.write_text(html, encoding="utf-8")
    (out_dir / "stats.json").write_text(
        json.dumps(ctx["r"], indent=2, allow_nan=False), encoding="utf-8"
    )
    log.info("wrote %s", path)
    return path
