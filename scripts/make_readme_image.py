"""Regenerate the README picture: ``calcscan detect`` on a synthetic head phantom.

Usage: ``.venv/bin/python scripts/make_readme_image.py [docs/images/key_image_demo.png]``
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from calcscan.detect import run_detection
from calcscan.detect.outputs import write_outputs
from calcscan.phantom import make_head_phantom


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images/key_image_demo.png")
    scan, _truth = make_head_phantom(
        seed=7,
        nodules={
            "frontal": 8,
            "maxillary": 5,
            "temporal": 2,
            "periorbital": 2,
            "nasal": 1,
            "mandibular_buccal": 2,
        },
        sizes_mm=(1.0, 3.5),
    )
    result = run_detection(scan)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_outputs(result, scan, tmp)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(paths.key_image_png, out)


if __name__ == "__main__":
    main()
