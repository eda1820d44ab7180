"""Tile layouts and images side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import careamics_dask as cd
from careamics_dask.plot import (
    plot_images,
    plot_tile_layout,
)
from careamics_dask.testing import raise_if_dask_computes
from tests.plot.helpers import SPEC, pixels, titles

if TYPE_CHECKING:
    from pathlib import Path

    from careamics_dask.factory.dataset import CareamicsDataset


def test_tile_layout_draws_every_tile_and_crop(prediction: CareamicsDataset) -> None:
    figure = plot_tile_layout(prediction, sample_idx=3, show_image=False)
    (axis,) = figure.axes
    tiles, crops = axis.collections
    per_sample = len(prediction) // SPEC.n_samples
    assert len(tiles.get_paths()) == len(crops.get_paths()) == per_sample == 25
    assert axis.get_title().startswith("25 tiles of 256x256 px, overlap 32x32 px")


def test_tile_layout_needs_tiles(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    with pytest.raises(ValueError, match="expected a dataset with tiled"):
        plot_tile_layout(datasets[0])


def test_images_side_by_side(store: Path) -> None:
    image = cd.open_image(store, axes="")
    figure = plot_images({"a": image, "b": image.isel(Y=slice(0, 100))}, channel=1)
    assert [t.splitlines()[0] for t in titles(figure)] == ["a", "b"]
    assert pixels(figure.axes[1]).shape == (100, 1024)


def test_tile_layout_without_the_image_reads_nothing(
    prediction: CareamicsDataset,
) -> None:
    with raise_if_dask_computes():
        plot_tile_layout(prediction, show_image=False)
