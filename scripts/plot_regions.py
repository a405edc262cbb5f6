"""Draw the facial region definitions of ``calcscan/detect/regions.yaml`` (docs/img/regions.png).

The picture samples a synthetic head surface (an ellipsoid in the face frame: origin between
the globes, +lateral = patient left, +anterior, +superior) and colours every surface point by
:func:`calcscan.detect.regions.assign_region`, using the surface normal as the skin normal.
Run: ``.venv/bin/python scripts/plot_regions.py [OUT.png]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from calcscan.contracts import REGION_KEYS
    from calcscan.detect.landmarks import FaceFrame
    from calcscan.detect.regions import assign_region
    from calcscan.report.study_figure import REGION_COLOURS

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/img/regions.png")
    frame = FaceFrame(
        origin_lps_mm=np.zeros(3),
        lateral=np.array([1.0, 0.0, 0.0]),
        anterior=np.array([0.0, -1.0, 0.0]),
        superior=np.array([0.0, 0.0, 1.0]),
        method="schematic",
    )
    # head ellipsoid (semi-axes lateral 75, antero-posterior 95, vertical 115 mm); its centre
    # lies 70 mm behind and 10 mm below the globe midpoint
    a, b, c = 75.0, 95.0, 115.0
    centre = np.array([0.0, 70.0, -10.0])  # LPS: +y is posterior
    fig, axes = plt.subplots(1, 2, figsize=(11, 6))
    views = {"frontal view (from the front)": (0, 2, 1), "lateral view (patient's left)": (1, 2, 0)}
    for ax, (title, (h, v, depth_axis)) in zip(axes, views.items(), strict=True):
        hh, vv = np.meshgrid(np.linspace(-110, 110, 181), np.linspace(-140, 120, 211))
        img = np.full(hh.shape + (3,), 1.0)
        for i in range(hh.shape[0]):
            for j in range(hh.shape[1]):
                p = np.zeros(3)
                p[h] = hh[i, j] if h != 1 else -hh[i, j]
                p[v] = vv[i, j]
                # visible surface point along the viewing axis
                q = (p - centre) / np.array([a, b, c])
                rest = 1.0 - (q[h] ** 2 + q[v] ** 2)
                if rest <= 0:
                    continue
                sign = -1.0 if depth_axis == 1 else 1.0  # look from the front / the left
                q[depth_axis] = sign * np.sqrt(rest)
                point = centre + q * np.array([a, b, c])
                normal = q / np.array([a, b, c])
                normal /= np.linalg.norm(normal)
                region, _ = assign_region(frame, point, normal)
                img[i, j] = matplotlib.colors.to_rgb(REGION_COLOURS[region])
        ax.imshow(img, origin="lower", extent=(-110, 110, -140, 120))
        for gx in (-31.0, 31.0) if h == 0 else (0.0,):
            ax.add_patch(plt.Circle((gx if h == 0 else 0.0, 0.0), 12, fill=False, ls="--"))
        ax.set_title(title)
        ax.set_xlabel("lateral mm (+ = patient left)" if h == 0 else "anterior mm")
        ax.set_ylabel("superior mm (0 = globe centres)")
    handles = [Patch(color=REGION_COLOURS[r], label=r) for r in REGION_KEYS]
    fig.legend(handles=handles, loc="lower center", ncol=8, frameon=False)
    fig.suptitle("calcscan facial regions (regions.yaml) on a schematic head; dashed: globes")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90, bbox_inches="tight")
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
