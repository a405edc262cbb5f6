"""Insertion sites face the open air: not the walls of a nasal-cavity-like channel."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from calcscan.phantom.sites import SkinSiteSampler
from calcscan.scan import CTScan

_SLOT_COLS = slice(58, 63)  # a 5 mm wide channel cut into the front of the block


def _block_with_a_channel() -> tuple[CTScan, np.ndarray, np.ndarray]:
    """Soft tissue cylinder (1 mm voxels) with a channel open at the front on every slice.

    Rows run posterior (+y), columns to the patient's left (+x): the front is row 0's side.
    Returns the scan, the channel's air and the outer air.
    """
    n_slices, n = 30, 120
    rr, cc = np.mgrid[0:n, 0:n]
    disc = (rr - 60) ** 2 + (cc - 60) ** 2 <= 50**2
    hu = np.where(disc, 40.0, -1000.0).astype(np.float32)
    channel = np.zeros((n, n), dtype=bool)
    channel[:35, _SLOT_COLS] = True  # from the front surface (row 10) 25 mm in
    channel &= disc
    hu[channel] = -1000.0
    vol = np.repeat(hu[None], n_slices, axis=0)
    aff = np.eye(4)
    aff[:3, 0] = (0.0, 0.0, 1.0)  # slices go up (+z, superior)
    aff[:3, 1] = (0.0, 1.0, 0.0)  # rows go posterior
    aff[:3, 2] = (1.0, 0.0, 0.0)  # columns go to the patient's left
    scan = CTScan.from_affine(vol, aff)
    slot = np.repeat(channel[None], n_slices, axis=0)
    outer = np.repeat((~disc)[None], n_slices, axis=0)
    return scan, slot, outer


@pytest.fixture(scope="module")
def block():
    return _block_with_a_channel()


def _on_channel_wall(scan: CTScan, slot: np.ndarray, outer: np.ndarray, sites) -> list:
    """Sites beside the channel, nearer to its air than to the outer air (the channel's floor,
    seen end on along the normal, is not told from open skin: see ``faces_open_air``)."""
    to_slot = ndimage.distance_transform_edt(~slot)
    to_outer = ndimage.distance_transform_edt(~outer)
    out = []
    for s in sites:
        k, r, c = np.round(scan.lps_to_index(s.center_lps_mm)).astype(int)
        if r < 35 and to_slot[k, r, c] < to_outer[k, r, c]:
            out.append(s)
    return out


def _draw(sampler: SkinSiteSampler):
    return sampler.sample(
        60, np.random.default_rng(1), depth_mm=(1.0, 3.0), clearance_mm=1.0, min_separation_mm=2.0
    )


def test_sites_never_sit_on_the_walls_of_a_channel_open_to_the_air(block, monkeypatch):
    scan, slot, outer = block
    sampler = SkinSiteSampler(scan)
    sites = _draw(sampler)
    assert len(sites) >= 40
    assert _on_channel_wall(scan, slot, outer, sites) == []
    # the same draw without the open-air test does land on the channel's walls
    monkeypatch.setattr(SkinSiteSampler, "faces_open_air", lambda self, p, n: True)
    assert _on_channel_wall(scan, slot, outer, _draw(sampler))


def test_faces_open_air_on_the_front_and_not_inside_the_channel(block):
    scan, _, _ = block
    sampler = SkinSiteSampler(scan)
    front = scan.index_to_lps([15, 12, 40])  # 2 mm below the front skin, beside the channel
    assert sampler.faces_open_air(front, np.array([0.0, -1.0, 0.0]))
    wall = scan.index_to_lps([15, 20, 56])  # 2 mm beside the channel, 10 mm deep
    assert not sampler.faces_open_air(wall, np.array([1.0, 0.0, 0.0]))
    # a normal pointing into the tissue never reaches air
    assert not sampler.faces_open_air(front, np.array([0.0, 1.0, 0.0]))
