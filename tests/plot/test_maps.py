"""Patch origins and filter maps: outlines, region weights, one plane read or none."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dask
import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from careamics_dask.patching import StratifiedPatching
from careamics_dask.plot import (
    plot_filter_map,
    plot_patch_origins,
    read_overview,
)
from careamics_dask.testing import count_region_reads, raise_if_dask_computes
from tests.plot.helpers import CHUNKS_PER_PLANE, pixels

if TYPE_CHECKING:
    from careamics_dask.factory.dataset import CareamicsDataset


def test_patch_origins_outline_training_and_validation(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, val = datasets
    figure = plot_patch_origins(train, val, sample_idx=1, data_idx=0, epochs=2)
    (axis,) = figure.axes
    outlines = [c for c in axis.collections if isinstance(c, PolyCollection)]
    table = train.patch_table(0)
    n_train = sum(int((train.patch_table(e).sample_idx == 1).sum()) for e in range(2))
    n_val = int((val.patch_table(0).sample_idx == 1).sum())
    assert [len(c.get_paths()) for c in outlines] == [
        int((table.sample_idx == 1).sum()),
        n_train - int((table.sample_idx == 1).sum()),
        n_val,
    ]
    # the overview, then the grid overlay of held-out and down-weighted cells
    assert len(axis.images) == 2
    assert pixels(axis, 1).shape == (16, 16, 4)
    assert "sample 1, nuclei (1:1)" in axis.get_title()
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels[0] == f"training patches ({n_train}, 2 epoch(s))"
    assert labels[1] == f"validation patches ({n_val})"
    assert any(label.startswith("cells held out") for label in labels) == (n_val > 0)


def test_filter_map_is_the_region_weights(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, _ = datasets
    with raise_if_dask_computes():  # the weights are in the patching
        figure = plot_filter_map(train, sample_idx=2, show_image=False)
    axis = figure.axes[0]
    shown = pixels(axis)
    patching = train.patching
    assert isinstance(patching, StratifiedPatching)
    rows = (patching.all_grid_coords[:, 0] == 0) & (patching.all_grid_coords[:, 1] == 2)
    weights = patching.region_weights[rows].reshape(16, 16)
    excluded = patching.excluded_cells[rows].reshape(16, 16)
    np.testing.assert_array_equal(np.ma.getmaskarray(shown), excluded)
    np.testing.assert_array_equal(shown.data[~excluded], weights[~excluded])
    assert "max filter: max < 350.0 on channel 0" in axis.get_title()
    assert len(figure.axes) == 2  # the map and its colour bar


def test_filter_map_needs_stratified_patching(
    prediction: CareamicsDataset,
) -> None:
    with pytest.raises(ValueError, match="expected a dataset with stratified"):
        plot_filter_map(prediction)


def test_origins_and_filter_maps_read_one_plane_or_nothing(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, val = datasets
    with count_region_reads() as reads, dask.config.set(scheduler="sync"):
        overview = read_overview(train.inputs.image_stacks[0], sample=1)
    assert reads.count == CHUNKS_PER_PLANE
    with raise_if_dask_computes():
        plot_patch_origins(train, val, data_idx=0, sample_idx=1, overview=overview)
        plot_filter_map(train, sample_idx=1, overview=overview)
        plot_filter_map(train, sample_idx=3, show_image=False)
