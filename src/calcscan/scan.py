"""The in-memory CT volume every stage of calcscan works on.

A :class:`CTScan` holds Hounsfield units on a (slice, row, col) grid together with its exact
patient geometry in DICOM LPS millimetres. Geometry travels with the voxels: nothing downstream
flips or reorders axes by hand; it asks the scan to map indices to LPS and back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["CTScan"]


@dataclass(frozen=True, eq=False)
class CTScan:
    """A CT volume in HU with its LPS geometry and provenance.

    Parameters
    ----------
    hu : ndarray, shape (n_slices, n_rows, n_cols)
        Hounsfield units (float32 or int16), axes (slice, row, col).
    affine_lps : ndarray, shape (4, 4)
        Maps homogeneous voxel indices ``(slice, row, col, 1)`` to LPS millimetres. Its first
        column is the (median) step between slices, so gantry tilt appears as a shear.
    slice_positions_lps_mm : ndarray, shape (n_slices, 3)
        LPS position of voxel ``(k, 0, 0)`` of each slice (DICOM ImagePositionPatient). With
        irregular slice gaps these, not the affine, give the exact position of every slice.
    slice_thickness_mm : float or None
        Nominal reconstructed slice thickness (may differ from the slice step).
    study_key : str
        Stable, non-identifying key of the study/series (see ``CONTRACTS.md``).
    source_path : str
        The input path as given.
    patient_age_years, patient_sex : float or None, {"M", "F", "O"} or None
        Demographics from the headers when present.
    provenance : dict
        Non-identifying acquisition facts: UIDs, modality, manufacturer, kernel, kVp, format...
    warnings : list of str
        Problems found while reading that did not stop it (gaps, skipped files, tilt...).
    """

    hu: NDArray[Any]
    affine_lps: NDArray[np.float64]
    slice_positions_lps_mm: NDArray[np.float64]
    slice_thickness_mm: float | None = None
    study_key: str = ""
    source_path: str = ""
    patient_age_years: float | None = None
    patient_sex: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.hu.ndim != 3:
            raise ValueError(f"hu must be 3-D (slice, row, col), got shape {self.hu.shape}")
        if self.affine_lps.shape != (4, 4):
            raise ValueError("affine_lps must be 4x4")
        if self.slice_positions_lps_mm.shape != (self.hu.shape[0], 3):
            raise ValueError(
                f"slice_positions_lps_mm must have shape ({self.hu.shape[0]}, 3), "
                f"got {self.slice_positions_lps_mm.shape}"
            )

    # ------------------------------------------------------------------ geometry
    @property
    def shape(self) -> tuple[int, int, int]:
        """Volume shape ``(n_slices, n_rows, n_cols)``."""
        s = self.hu.shape
        return (int(s[0]), int(s[1]), int(s[2]))

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel spacing ``(slice_step, row, col)`` in mm: lengths of the affine's columns."""
        norms = np.linalg.norm(self.affine_lps[:3, :3], axis=0)
        return (float(norms[0]), float(norms[1]), float(norms[2]))

    @property
    def row_vector_lps(self) -> NDArray[np.float64]:
        """LPS step (mm) of one row index (down the image)."""
        return np.asarray(self.affine_lps[:3, 1], dtype=np.float64)

    @property
    def col_vector_lps(self) -> NDArray[np.float64]:
        """LPS step (mm) of one column index (across the image)."""
        return np.asarray(self.affine_lps[:3, 2], dtype=np.float64)

    @property
    def slice_normal_lps(self) -> NDArray[np.float64]:
        """Unit normal of the image planes, oriented like increasing slice index."""
        n = np.cross(self.col_vector_lps, self.row_vector_lps)
        n = n / np.linalg.norm(n)
        if np.dot(n, self.affine_lps[:3, 0]) < 0:
            n = -n
        return np.asarray(n, dtype=np.float64)

    @property
    def gantry_tilt_deg(self) -> float:
        """Angle between the slice step and the plane normal (0 for an orthogonal grid)."""
        step = self.affine_lps[:3, 0]
        norm = float(np.linalg.norm(step))
        if norm == 0:
            return 0.0
        cos = abs(float(np.dot(step / norm, self.slice_normal_lps)))
        return float(np.degrees(np.arccos(min(1.0, cos))))

    def index_to_lps(self, index: ArrayLike) -> NDArray[np.float64]:
        """Map (slice, row, col) indices (fractional allowed) to LPS mm.

        Uses the per-slice positions, so the result is exact for irregular slice gaps and
        gantry tilt.

        Parameters
        ----------
        index : array_like, shape (..., 3)
            Voxel indices in (slice, row, col) order.

        Returns
        -------
        ndarray, shape (..., 3)
            LPS coordinates in mm.
        """
        idx = np.asarray(index, dtype=np.float64)
        k = idx[..., 0]
        n = self.shape[0]
        ks = np.arange(n, dtype=np.float64)
        pos = self.slice_positions_lps_mm
        if n > 1:
            # piecewise linear in k, extrapolated with the end steps
            base = np.stack([np.interp(k, ks, pos[:, d]) for d in range(3)], axis=-1)
            lo = np.clip(k, None, 0.0)[..., None] * (pos[1] - pos[0])
            hi = np.clip(k - (n - 1), 0.0, None)[..., None] * (pos[-1] - pos[-2])
            base = base + lo + hi
        else:
            base = pos[0] + k[..., None] * self.affine_lps[:3, 0]
        return np.asarray(
            base + idx[..., 1:2] * self.row_vector_lps + idx[..., 2:3] * self.col_vector_lps,
            dtype=np.float64,
        )

    def lps_to_index(self, lps_mm: ArrayLike) -> NDArray[np.float64]:
        """Map LPS mm to fractional (slice, row, col) indices (inverse of :meth:`index_to_lps`).

        Parameters
        ----------
        lps_mm : array_like, shape (..., 3)

        Returns
        -------
        ndarray, shape (..., 3)
        """
        p = np.asarray(lps_mm, dtype=np.float64)
        normal = self.slice_normal_lps
        pos = self.slice_positions_lps_mm
        d_slices = pos @ normal
        d = p @ normal
        n = self.shape[0]
        if n > 1:
            order = np.argsort(d_slices)
            k = np.interp(d, d_slices[order], np.arange(n, dtype=np.float64)[order])
            step0 = d_slices[1] - d_slices[0]
            step1 = d_slices[-1] - d_slices[-2]
            # linear extrapolation outside the slab
            first, last = (0, n - 1) if step0 > 0 else (n - 1, 0)
            k = np.where(d < d_slices[first], first + (d - d_slices[first]) / step0, k)
            k = np.where(d > d_slices[last], last + (d - d_slices[last]) / step1, k)
        else:
            k = (d - d_slices[0]) / float(np.dot(self.affine_lps[:3, 0], normal) or 1.0)
        origin = self.index_to_lps(np.stack([k, np.zeros_like(k), np.zeros_like(k)], axis=-1))
        inplane = np.stack([self.row_vector_lps, self.col_vector_lps], axis=1)  # (3, 2)
        rc, *_ = np.linalg.lstsq(inplane, (p - origin).reshape(-1, 3).T, rcond=None)
        rc = rc.T.reshape((*p.shape[:-1], 2))
        return np.asarray(np.concatenate([k[..., None], rc], axis=-1), dtype=np.float64)

    def replace(self, **changes: Any) -> CTScan:
        """Return a copy with some fields replaced (e.g. new ``hu`` after nodule insertion)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_affine(cls, hu: NDArray[Any], affine_lps: ArrayLike, **kwargs: Any) -> CTScan:
        """Build a scan on a regular grid from an affine alone (NIfTI, phantoms).

        Parameters
        ----------
        hu : ndarray, shape (n_slices, n_rows, n_cols)
        affine_lps : array_like, shape (4, 4)
            Index (slice, row, col, 1) to LPS mm.
        **kwargs
            Other :class:`CTScan` fields.
        """
        aff = np.asarray(affine_lps, dtype=np.float64)
        ks = np.arange(hu.shape[0], dtype=np.float64)
        positions = aff[:3, 3][None, :] + ks[:, None] * aff[:3, 0][None, :]
        return cls(hu=hu, affine_lps=aff, slice_positions_lps_mm=positions, **kwargs)
