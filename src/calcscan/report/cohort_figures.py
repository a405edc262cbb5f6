"""Figures of the cohort report (matplotlib, Agg backend): the reference study's Figures 2 and 3."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["figure2_scatter", "figure3_decades", "save_figure"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.family": "DejaVu Sans",
            "font.size": 9,
            "svg.fonttype": "none",
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def figure2_scatter(df: pd.DataFrame, linear: dict[str, Any]) -> Any:
    """Figure 2: nodule count vs age among positives, with the least-squares line."""
    plt = _plt()
    pos = df[df["nodule_count"] > 0]
    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=150)
    ax.scatter(
        pos["age_years"],
        pos["nodule_count"],
        s=10,
        c="#1f4e79",
        alpha=0.55,
        edgecolors="none",
        label=f"subjects with nodules (n={pos.shape[0]})",
    )
    if linear.get("estimable"):
        xs = np.array([float(pos["age_years"].min()), float(pos["age_years"].max())])
        ax.plot(
            xs,
            linear["intercept"] + linear["slope"] * xs,
            color="#c00000",
            lw=1.6,
            label=(
                f"y = {linear['intercept']:.2f} + {linear['slope']:.3f} x; "
                f"F({linear['df'][0]},{linear['df'][1]}) = {linear['f']:.2f}, "
                f"P {_p(linear['p'])}, R² = {linear['r2']:.3f}"
            ),
        )
    ax.set_xlabel("Age (years)")
    ax.set_ylabel("Number of facial calcified nodules")
    ax.set_title("Figure 2. Nodule count vs age (positives)")
    ax.legend(loc="upper left", frameon=False, fontsize=7.5)
    fig.tight_layout()
    return fig


def _p(p: float) -> str:
    return "< .001" if p < 0.001 else "= " + f"{p:.3f}".lstrip("0")


def figure3_decades(result: dict[str, Any]) -> Any:
    """Figure 3: mean (A) and median (B) count per decade, Dunn-significant pairs starred."""
    plt = _plt()
    summary = result.get("decade_summary", {})
    labels = list(summary)
    means = [summary[d]["mean"] for d in labels]
    medians = [summary[d]["median"] for d in labels]
    pairs = result.get("dunn_decade")
    sig = (
        [(p["a"], p["b"], p["p_adj"]) for p in pairs if p["p_adj"] < 0.05]
        if isinstance(pairs, list)
        else []
    )
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 4.0), dpi=150)
    x = np.arange(len(labels))
    for ax, values, title in (
        (axes[0], means, "A. Mean number of nodules"),
        (axes[1], medians, "B. Median number of nodules"),
    ):
        ax.bar(x, values, color="#5b9bd5", edgecolor="#1f4e79", width=0.7)
        ax.set_xticks(x, labels, rotation=45, ha="right")
        ax.set_xlabel("Age decade (years)")
        ax.set_title(title, loc="left")
        top = max(values) if values else 1.0
        step = 0.07 * top if top > 0 else 1.0
        level = top + step
        for a, b, _p_adj in sig:
            i, j = labels.index(a), labels.index(b)
            ax.plot(
                [i, i, j, j],
                [level - step * 0.3, level, level, level - step * 0.3],
                color="black",
                lw=0.8,
            )
            ax.text((i + j) / 2, level, "*", ha="center", va="bottom", fontsize=10)
            level += step
        ax.set_ylim(0, max(level, top * 1.1, 1.0))
    axes[0].set_ylabel("Nodules per subject with nodules")
    adj = result.get("dunn_p_adjust", "bonferroni")
    fig.suptitle(f"Figure 3. Nodules by age decade (* Dunn P < .05, {adj}-adjusted)", fontsize=9)
    fig.tight_layout()
    return fig


def save_figure(fig: Any, out_dir: Path, stem: str) -> str:
    """Write ``stem.png`` and ``stem.svg`` to ``out_dir``; return the SVG markup for inlining."""
    plt = _plt()
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_dir / f"{stem}.png")
    fig.savefig(out_dir / f"{stem}.svg")
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]
