"""Generated cohorts and a small, real processing function for the cohort tests.

``blob_detect`` reads each study with the real reader (``calcscan.io.read_ct``) and counts the
connected components at or above a threshold: deterministic, fast on small volumes, and it
fails the way the real pipeline fails on broken input. It lives in an importable module so the
spawned worker processes and Dask workers can unpickle it.
"""

from __future__ import annotations

import os
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calcscan.contracts import REGION_KEYS, SCHEMA_VERSION

SHAPE = (10, 24, 24)


def blob_detect(task: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Count bright blobs (>= ``threshold_hu``) of one study; a CONTRACTS §2-shaped record."""
    from scipy import ndimage

    from calcscan.io import read_ct

    scan = read_ct(task.path, series_uid=task.series_uid)
    delay_s = float(os.environ.get("CALCSCAN_TEST_DELAY_S", "0"))  # slow studies (kill test)
    if delay_s:
        time.sleep(delay_s)
    labels, n = ndimage.label(np.asarray(scan.hu) >= float(config["threshold_hu"]))
    nodules = []
    counts = dict.fromkeys(REGION_KEYS, 0)
    for i, com in enumerate(ndimage.center_of_mass(np.ones_like(labels), labels, range(1, n + 1))):
        region = REGION_KEYS[round(com[2]) % 3]  # frontal / maxillary / temporal by column
        counts[region] += 1
        vox = labels == i + 1
        nodules.append(
            {
                "id": i + 1,
                "centroid_lps_mm": [float(v) for v in scan.index_to_lps(com)],
                "diameter_mm": float(np.cbrt(vox.sum() * 6 / np.pi)),
                "volume_mm3": float(vox.sum()),
                "peak_hu": float(scan.hu[vox].max()),
                "mean_hu": float(scan.hu[vox].mean()),
                "depth_mm": 1.0,
                "region": region,
                "side": "left" if com[2] > SHAPE[2] / 2 else "right",
                "morphology": "punctate",
                "conspicuity": 9.0,
            }
        )
    pattern = "none"
    if nodules:
        pattern = "frontal" if counts["frontal"] >= counts["maxillary"] else "maxillary"
    return {
        "schema_version": SCHEMA_VERSION,
        "software_version": "test",
        "config_digest": "blob",
        "study_key": scan.study_key,
        "input": task.path,
        "series_instance_uid": scan.provenance.get("series_instance_uid"),
        "patient_age_years": scan.patient_age_years,
        "patient_sex": scan.patient_sex,
        "qc": {"face_coverage_ok": True, "excluded": n > 4, "reasons": [], "flags": []},
        "nodule_count": len(nodules),
        "counts_by_region": counts,
        "distribution_pattern": pattern,
        "nodules": nodules,
        "possible_nodules": [],
        "rejected": {"too_small": 1},
        "timings_s": {"read": 0.0, "detect": 0.0},
    }


def _scan(index: int) -> Any:
    from calcscan.scan import CTScan

    hu = np.full(SHAPE, -1000.0, dtype=np.float32)
    hu[:, 4:20, 4:20] = 40.0
    rng = np.random.default_rng(index)
    for _ in range(index % 5):
        k, r, c = rng.integers(1, SHAPE[0] - 2), rng.integers(5, 18), rng.integers(5, 18)
        hu[k, r : r + 2, c : c + 2] = 400.0
    affine = np.diag([2.0, 0.7, 0.7, 1.0])
    affine[:3, 3] = (-8.0, -8.0, float(index))
    pos = np.array([affine[:3, 3] + k * affine[:3, 0] for k in range(SHAPE[0])])
    # voxel (k, r, c): slice along z (S), rows along y (P), columns along x (L)
    affine_lps = np.zeros((4, 4))
    affine_lps[:3, 0] = (0.0, 0.0, 2.0)
    affine_lps[:3, 1] = (0.0, 0.7, 0.0)
    affine_lps[:3, 2] = (0.7, 0.0, 0.0)
    affine_lps[:3, 3] = (-8.0, -8.0, float(index))
    affine_lps[3, 3] = 1.0
    pos = np.array([affine_lps[:3, 3] + k * affine_lps[:3, 0] for k in range(SHAPE[0])])
    return CTScan(hu=hu, affine_lps=affine_lps, slice_positions_lps_mm=pos, slice_thickness_mm=2.0)


@dataclass
class Cohort:
    """A generated cohort: where it lives and what it should give."""

    root: Path
    inputs: list[Path]
    dicom_study_uids: dict[str, int] = field(default_factory=dict)
    n_good: int = 0
    n_broken: int = 0
    n_duplicates: int = 0


def make_cohort(root: Path, *, n_dicom: int = 20, n_nifti: int = 12) -> Cohort:
    """Write a mixed DICOM/NIfTI cohort with broken studies, a zip and a duplicate.

    Layout: ``root/archive/`` holds ``n_dicom`` DICOM study folders (one with two series),
    ``n_nifti`` NIfTI files, a zip of one more DICOM study, a DICOM folder with truncated
    files, a folder of unreadable DICOM headers and a corrupt NIfTI (3 broken);
    ``root/copy_of_study_00`` duplicates a study.
    """
    from calcscan.io import write_dicom_series, write_nifti

    archive = root / "archive"
    archive.mkdir(parents=True)
    cohort = Cohort(root=root, inputs=[archive])
    for i in range(n_dicom):
        uid = f"1.2.826.0.1.3680043.10.999.{i + 1}"
        folder = archive / f"study_{i:02d}" / "ct"
        write_dicom_series(
            _scan(i),
            folder,
            patient_age=f"{30 + i:03d}Y",
            patient_sex="F" if i % 2 else "M",
            study_uid=uid,
            series_uid=uid + ".1",
            seed=i,
        )
        if i == 3:  # a second, shorter series in the same study: the CT chosen must be ct/
            write_dicom_series(
                _scan(i).__class__(
                    hu=_scan(i).hu[:3],
                    affine_lps=_scan(i).affine_lps,
                    slice_positions_lps_mm=_scan(i).slice_positions_lps_mm[:3],
                    slice_thickness_mm=2.0,
                ),
                archive / f"study_{i:02d}" / "scout",
                study_uid=uid,
                series_uid=uid + ".2",
                series_number=2,
                seed=100 + i,
            )
        cohort.dicom_study_uids[uid] = i
    for j in range(n_nifti):
        write_nifti(_scan(100 + j), archive / f"vol_{j:02d}.nii.gz")
    zuid = "1.2.826.0.1.3680043.10.999.500"
    zdir = root / "zipsrc"
    write_dicom_series(_scan(500), zdir, study_uid=zuid, series_uid=zuid + ".1", seed=500)
    with zipfile.ZipFile(archive / "zipped_study.zip", "w") as zf:
        for f in sorted(zdir.iterdir()):
            zf.write(f, f.name)
    shutil.rmtree(zdir)
    broken = archive / "broken_dicom"
    buid = "1.2.826.0.1.3680043.10.999.900"
    files = write_dicom_series(_scan(900), broken, study_uid=buid, series_uid=buid + ".1")
    for f in files:  # keep the header readable, cut the pixel data
        data = f.read_bytes()
        f.write_bytes(data[:-600])
    garbage = archive / "garbage_dicom"
    garbage.mkdir()
    for k in range(3):  # DICOM preamble and magic, then junk: unreadable headers
        (garbage / f"IM{k}.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\xff" * 50)
    (archive / "corrupt.nii.gz").write_bytes(b"this is not a NIfTI file" * 10)
    dup = root / "copy_of_study_00"
    shutil.copytree(archive / "study_00", dup)
    cohort.inputs.append(dup)
    cohort.n_good = n_dicom + n_nifti + 1
    cohort.n_broken = 3
    cohort.n_duplicates = 1
    return cohort


def die_on_vol_03(task: Any, config: dict[str, Any]) -> dict[str, Any]:
    """``blob_detect``, except that the study ``vol_03.nii.gz`` kills its worker process."""
    if str(task.path).endswith("vol_03.nii.gz"):
        os._exit(3)  # as the out-of-memory killer would
    return blob_detect(task, config)
