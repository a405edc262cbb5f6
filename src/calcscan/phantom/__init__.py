"""Synthetic head CT phantoms with ground truth, and virtual nodule insertion into real CTs."""

from __future__ import annotations

from calcscan.phantom.head import PHANTOM_REGIONS, make_head_phantom, phantom_axes
from calcscan.phantom.render import default_blur_fwhm_mm, insert_nodules, render_nodule
from calcscan.phantom.sites import SkinSite, SkinSiteSampler, sample_skin_sites
from calcscan.phantom.truth import SHAPES, NoduleSpec, TruthNodule, read_truth, write_truth

__all__ = [
    "PHANTOM_REGIONS",
    "SHAPES",
    "NoduleSpec",
    "SkinSite",
    "SkinSiteSampler",
    "TruthNodule",
    "default_blur_fwhm_mm",
    "insert_nodules",
    "make_head_phantom",
    "phantom_axes",
    "read_truth",
    "render_nodule",
    "sample_skin_sites",
    "write_truth",
]
