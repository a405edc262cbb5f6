"""Choose the series to read among those discovered: the CT axial ORIGINAL series that best
covers the face, thinnest slices first; or the one the user names."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from calcscan.errors import InputError, UsageError
from calcscan.io.discover import SeriesInfo

__all__ = ["COVERAGE_FRACTION", "choose_series"]

log = logging.getLogger(__name__)

#: Series covering at least this fraction of the longest extent count as covering the face.
COVERAGE_FRACTION = 0.8


def choose_series(
    series: Sequence[SeriesInfo], *, series_uid: str | None = None
) -> tuple[SeriesInfo, str]:
    """Choose the series to read: the CT axial ORIGINAL series that best covers the face.

    Rules, in order: modality CT; not a localizer; 2 or more slices; axial planes; ImageType
    ORIGINAL; among those covering at least 80% of the longest extent, the thinnest slices;
    then the longest coverage; then the most slices.

    Parameters
    ----------
    series : sequence of SeriesInfo
    series_uid : str, optional
        Take this SeriesInstanceUID instead (user choice, ``--series``).

    Returns
    -------
    (SeriesInfo, str)
        The chosen series and a one-line reason.

    Raises
    ------
    InputError
        No series, no CT series ("not a CT: Modality is MR"), or only single slices.
    UsageError
        ``series_uid`` is not among the series.
    """
    if not series:
        raise InputError("no DICOM series found; give a folder or .zip holding a CT series")
    if series_uid is not None:
        for s in series:
            if s.series_uid == series_uid:
                return s, f"{s.label()}: chosen by the user (--series)"
        known = ", ".join(s.series_uid for s in series)
        raise UsageError(f"series {series_uid} not found; available: {known}")
    ct = [s for s in series if s.modality == "CT"]
    if not ct:
        modalities = sorted({s.modality or "missing" for s in series})
        raise InputError(f"not a CT: Modality is {'/'.join(modalities)}; give a CT series")
    skipped: list[str] = []
    if len(ct) < len(series):
        others = sorted({s.modality or "missing" for s in series if s.modality != "CT"})
        skipped.append(f"{len(series) - len(ct)} non-CT ({'/'.join(others)})")
    volumes = [s for s in ct if not s.is_localizer and s.n_slices >= 2]
    if not volumes:
        raise InputError(
            "one slice is not a volume: every CT series has a single image; give a series "
            "with 2+ slices"
        )
    if len(volumes) < len(ct):
        skipped.append(f"{len(ct) - len(volumes)} localizer/single-image")
    longest = max(s.coverage_mm for s in volumes)

    def rank(s: SeriesInfo) -> tuple[float, ...]:
        covers = s.coverage_mm >= COVERAGE_FRACTION * longest
        return (
            float(s.is_axial),
            float(s.is_original),
            float(covers),
            -(s.slice_thickness_mm or 1e6),
            s.coverage_mm,
            float(s.n_slices),
        )

    ranked = sorted(volumes, key=rank, reverse=True)
    best = ranked[0]
    if len(volumes) == 1:
        why = "the only CT volume"
    else:
        kind = ("axial " if best.is_axial else "") + ("ORIGINAL " if best.is_original else "")
        why = (
            f"thinnest {kind}CT series of {len(volumes)} covering >= "
            f"{COVERAGE_FRACTION:.0%} of the longest extent ({longest:.0f} mm)"
        )
    if skipped:
        why += "; skipped " + ", ".join(skipped)
    reason = f"{best.label()}: {why}"
    log.debug("chose %s", reason)
    return best, reason
