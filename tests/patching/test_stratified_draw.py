from __future__ import annotations

import numpy as np

from careamics_dask.patching._bin_packing import pack_regions
from careamics_dask.patching._regions import RegionGrid
from careamics_dask.patching._stratified_draw import StratifiedSampler, draw_starts


def reference_weights(probs: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The reference's `_sample_region_from_bin` weights for one bin."""
    weights = np.zeros_like(probs)
    weights[members] = probs[members]
    remaining = 1 - weights.sum()
    if remaining != 0:
        weights += probs / probs.sum() * remaining
    return weights


def test_region_frequencies_follow_the_reference_bin_weights() -> None:
    # 100 x 40 with patch 8: 12 x 5 regions with edge regions of small area
    grid = RegionGrid.build(np.array([[100, 40]]), np.array([8, 8]))
    areas = grid.areas(np.zeros((grid.n_regions, 4), bool)).astype(float)
    weights = np.where(np.arange(grid.n_regions) % 3 == 0, 0.1, 1.0)
    adjusted = areas * weights
    n_bins = 40
    bin_size, bins = pack_regions(adjusted, n_bins)
    probs = adjusted / bin_size
    sampler = StratifiedSampler.build(grid, np.array([n_bins]), bins, probs)
    rng = np.random.default_rng(0)
    n_draws = 20_000
    uniform = rng.random((n_draws, n_bins))
    counts = np.zeros((n_bins, grid.n_regions))
    for row in uniform:
        regions = sampler.draw_regions(row)
        counts[np.arange(n_bins), regions] += 1
    for b in range(n_bins):
        expected = reference_weights(probs, np.flatnonzero(bins == b)) * n_draws
        assert np.abs(counts[b] - expected).max() < 5 * np.sqrt(expected.max()) + 5


def test_draw_starts_uniform_over_selectable_starts() -> None:
    grid = RegionGrid.build(np.array([[20, 18]]), np.array([6, 6]))
    excluded = np.zeros(grid.n_regions, bool)
    excluded[4] = True  # cell (1, 1)
    removed = grid.removed_boxes(excluded)
    partial = np.asarray(removed.any(axis=1), dtype=bool)
    areas = grid.areas(removed)
    # region 0 lost boxes; region 8 (cell (2, 2)) is clipped by the image edge
    for region, expected in ((0, "y == 0 or x == 0"), (8, "clipped")):
        draws = np.full(60_000, region)
        starts = draw_starts(grid, removed, partial, draws, np.random.default_rng(1))
        values, counts = np.unique(starts, axis=0, return_counts=True)
        assert len(values) == areas[region]
        if expected == "clipped":
            # starts 12..14 in y (20 - 6 = 14) and 12 in x (18 - 6 = 12)
            assert values[:, 0].tolist() == [12, 13, 14]
            assert (values[:, 1] == 12).all()
        else:  # patches stay off cell (1, 1) = [6, 12)^2
            assert ((values[:, 0] == 0) | (values[:, 1] == 0)).all()
        assert counts.min() > 0.85 * counts.mean()
        assert counts.max() < 1.15 * counts.mean()
    assert partial[0]
    assert not partial[8]
