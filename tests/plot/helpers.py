"""The demo store, datasets over it and figure readers shared by the plot tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dask
import numpy as np
import pytest

import careamics_dask as cd
from careamics_dask.app.demo_render import DemoStoreSpec
from careamics_dask.app.demo_store import ensure_demo_store

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from careamics_dask.factory.dataset import CareamicsDataset

SPEC = DemoStoreSpec(n_samples=4, n_channels=3, size=1024, chunk=128)
"""4 x 3 x 1024 x 1024 uint16 in 128 x 128 chunks: 768 chunks, 64 per plane."""
CHUNKS_PER_PLANE = (SPEC.size // SPEC.chunk) ** 2
TOTAL_CHUNKS = SPEC.n_samples * SPEC.n_channels * CHUNKS_PER_PLANE


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = ensure_demo_store(tmp_path_factory.mktemp("plot"), SPEC)
    return path


@pytest.fixture(scope="session")
def datasets(store: Path) -> tuple[CareamicsDataset, CareamicsDataset]:
    config = cd.DataConfig(
        mode="training",
        data_type="zarr",
        axes="SCYX",
        channels=[0, 2],
        patching={"name": "stratified", "patch_size": [64, 64]},
        normalization={"name": "mean_std"},
        patch_filter={"name": "max", "threshold": SPEC.threshold},
        batch_size=16,
        seed=5,
    )
    with dask.config.set(scheduler="threads"):
        return cd.create_val_split_datasets(
            config, cd.TrainValSplitData(str(store), n_val_patches=12)
        )


@pytest.fixture(scope="session")
def prediction(store: Path) -> CareamicsDataset:
    config = cd.DataConfig(
        mode="predicting",
        data_type="zarr",
        axes="SCYX",
        patching={"name": "tiled", "patch_size": [256, 256], "overlaps": [32, 32]},
        normalization={"name": "mean_std", "input_means": [0], "input_stds": [1]},
        batch_size=4,
    )
    return cd.create_pred_dataset(config, cd.PredData(str(store)))


def titles(figure: Figure) -> list[str]:
    return [axis.get_title() for axis in figure.axes]


def pixels(axis: Axes, index: int = 0) -> np.ma.MaskedArray[Any, Any]:
    data = axis.images[index].get_array()
    assert data is not None
    return np.ma.asarray(data)
