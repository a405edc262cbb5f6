"""Key image of one study: frontal and lateral projections of the face with numbered nodules.

The projections are maximum-intensity projections of the HU volume (window -200..1200 HU)
along the array axis closest to the face's anterior direction (frontal view) and to its
lateral direction (lateral view); nodule centroids come from their LPS coordinates through
``CTScan.lps_to_index``, so tilted or reoriented series are drawn where the record says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from calcscan.contracts import REGION_KEYS
from calcscan.scan import CTScan

__all__ = ["REGION_COLOURS", "write_key_image"]

#: One colour per region (colour-blind-friendly Okabe-Ito palette + greys).
REGION_COLOURS: dict[str, str] = dict(
    zip(
        REGION_KEYS,
        ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"],
        strict=True,
    )
)


def _axis_closest(scan: CTScan, direction: np.ndarray) -> int:
    axes = scan.affine_lps[:3, :3] / np.linalg.norm(scan.affine_lps[:3, :3], axis=0)
    return int(np.argmax(np.abs(direction @ axes)))


def write_key_image(
    scan: CTScan,
    nodules: list[dict[str, Any]],
    path: str | Path,
    *,
    anterior: np.ndarray | None = None,
    lateral: np.ndarray | None = None,
    possible: list[dict[str, Any]] | None = None,
    title: str = "",
) -> Path:
    """Write the key image PNG.

    Parameters
    ----------
    scan : CTScan
    nodules : list of dict
        Counted nodules (``id``, ``centroid_lps_mm``, ``region``).
    path : str or Path
        Output PNG.
    anterior, lateral : ndarray, optional
        Face-frame directions in LPS (default LPS -y and +x).
    possible : list of dict, optional
        Possible nodules, drawn as hollow grey circles.
    title : str

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    ant = np.array([0.0, -1.0, 0.0]) if anterior is None else np.asarray(anterior, float)
    lat = np.array([1.0, 0.0, 0.0]) if lateral is None else np.asarray(lateral, float)
    hu = np.clip(np.asarray(scan.hu, dtype=np.float32), -200.0, 2000.0)
    a_ax = _axis_closest(scan, ant)
    l_ax = _axis_closest(scan, lat)
    if l_ax == a_ax:
        l_ax = 2 if a_ax != 2 else 1
    sp = scan.spacing_mm
    fig, axes = plt.subplots(1, 2, figsize=(11, 6.2))
    views = [("frontal", a_ax), ("lateral", l_ax)]
    for axis_plot, (name, proj_axis) in zip(axes, views, strict=True):
        mip = hu.max(axis=proj_axis)
        rest = [d for d in range(3) if d != proj_axis]
        # vertical = slice axis when it is not projected away, else rows
        img = mip
        vert, horiz = rest[0], rest[1]
        aspect = sp[vert] / sp[horiz]
        origin = "lower" if scan.affine_lps[2, vert] > 0 else "upper"
        axis_plot.imshow(img, cmap="gray", aspect=aspect, origin=origin, interpolation="nearest")
        for group, style in ((nodules, "filled"), (possible or [], "hollow")):
            for n in group:
                idx = scan.lps_to_index(np.asarray(n["centroid_lps_mm"], float))
                y, x = float(idx[vert]), float(idx[horiz])
                colour = REGION_COLOURS.get(n.get("region", "other"), "#999999")
                if style == "filled":
                    axis_plot.plot(x, y, "o", ms=7, mfc=colour, mec="white", mew=0.8)
                    axis_plot.annotate(
                        str(n["id"]),
                        (x, y),
                        xytext=(4, 4),
                        textcoords="offset points",
                        color="white",
                        fontsize=7,
                    )
                else:
                    axis_plot.plot(x, y, "o", ms=7, mfc="none", mec="#bbbbbb", mew=0.8)
        axis_plot.set_title(f"{name} projection (MIP)")
        axis_plot.set_xticks([])
        axis_plot.set_yticks([])
    used = sorted({n.get("region", "other") for n in nodules}, key=REGION_KEYS.index)
    handles = [
        Line2D([], [], marker="o", ls="", mfc=REGION_COLOURS[r], mec="white", label=r) for r in used
    ]
    if possible:
        handles.append(
            Line2D([], [], marker="o", ls="", mfc="none", mec="#bbbbbb", label="possible")
        )
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 9), frameon=False)
    fig.suptitle(title or "calcscan key image (research use only)", fontsize=10)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return out
