"""Single-study HTML report (one page): summary, QC, nodule table, key image, disclaimer."""

from __future__ import annotations

import base64
import datetime as _dt
from pathlib import Path
from typing import Any

from calcscan.contracts import REGION_KEYS

__all__ = ["STUDY_DISCLAIMER", "render_study_report", "write_study_report"]

STUDY_DISCLAIMER = (
    "Research use only. calcscan detects calcified skin nodules automatically for research; "
    "it is not a medical device, does not make a diagnosis, and its counts must be checked "
    "by a radiologist before any use."
)


def render_study_report(record: dict[str, Any], key_image_png: Path | None = None) -> str:
    """HTML text of the study report for a study record (``StudyRecord.to_dict()``)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("calcscan.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    template = env.get_template("study_report.html.j2")
    image_b64 = None
    if key_image_png is not None and Path(key_image_png).is_file():
        image_b64 = base64.b64encode(Path(key_image_png).read_bytes()).decode("ascii")
    return template.render(
        r=record,
        regions=REGION_KEYS,
        image_b64=image_b64,
        disclaimer=STUDY_DISCLAIMER,
        generated=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_study_report(
    record: dict[str, Any], path: str | Path, *, key_image_png: Path | None = None
) -> Path:
    """Write the one-page HTML report (key image embedded) and return its path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_study_report(record, key_image_png), encoding="utf-8")
    return out
