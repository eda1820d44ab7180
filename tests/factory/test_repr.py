"""The notebook display of a dataset: metadata only, no pixel read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from careamics_dask.testing import raise_if_dask_computes
from tests.plot.helpers import datasets, store

if TYPE_CHECKING:
    from careamics_dask.factory.dataset import CareamicsDataset

__all__ = ["datasets", "store"]


def test_dataset_html_shows_metadata_without_reading(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, _ = datasets
    with raise_if_dask_computes():
        text = train._repr_html_()
    means = train.config.normalization.input_means  # type: ignore[union-attr]
    assert means is not None
    for expected in (
        f"{len(train):,} per epoch",
        "StratifiedPatching (stratified, patch 64x64, seed 5)",
        "S 4 C 3 Y 1024 X 1024",
        "1 &times; 1 &times; 128 &times; 128",
        "nuclei, membranes, puncta",
        f"{means[0]:.4g}",
        "threshold 350.0",
        "XYFlip",
        "xarray",  # the lazy DataArray's own display
    ):
        assert expected in text, expected
