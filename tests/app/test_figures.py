from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import numpy as np
import pytest

from careamics_dask.app.figures import (
    DPI,
    FIGURE_SIZE,
    PatchOrigins,
    find_patch_origins,
    plot_demo_figure,
)
from careamics_dask.config import DataConfig
from careamics_dask.factory import TrainValSplitData, create_val_split_datasets

if TYPE_CHECKING:
    from pathlib import Path

    from careamics_dask.factory.dataset import CareamicsDataset

Datasets = tuple["CareamicsDataset", "CareamicsDataset"]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


@pytest.fixture
def datasets() -> Datasets:
    config = DataConfig(
        mode="training",
        data_type="array",
        axes="SYX",
        patching={"name": "stratified", "patch_size": [8, 8]},
        normalization={"name": "none"},
        seed=2,
    )
    images = np.random.default_rng(0).random((2, 40, 48), dtype=np.float32)
    return create_val_split_datasets(config, TrainValSplitData(images, n_val_patches=6))


def test_origins_cover_training_patches_and_spare_validation(
    datasets: Datasets,
) -> None:
    train, val = datasets
    origins = find_patch_origins(train, val, epochs=3)
    assert origins.overview.shape == (40, 48)
    assert origins.coverage.shape == (40, 48)
    assert origins.patch_size == (8, 8)
    sample = origins.sample_idx
    assert origins.data_idx == 0
    assert origins.label == f"image 0, sample {sample}"
    table = val.patch_table(0)
    rows = table.sample_idx == sample
    np.testing.assert_array_equal(origins.val_starts, table.coords[rows])
    # every training patch adds its area once per epoch; none touches validation
    expected = sum(
        int((train.patch_table(e).sample_idx == sample).sum()) * 64 for e in range(3)
    )
    assert int(origins.coverage.sum()) == expected
    for y, x in origins.val_starts:
        assert origins.coverage[y : y + 8, x : x + 8].sum() == 0


def test_origins_downsample_large_images(datasets: Datasets) -> None:
    train, val = datasets
    origins = find_patch_origins(train, val, epochs=1, max_side=16)
    assert origins.scale == 3
    assert origins.overview.shape == (14, 16)
    assert origins.coverage.shape == (14, 16)


def test_three_dimensional_patches_are_refused() -> None:
    from careamics_dask.factory import TrainValData, create_train_dataset

    config = DataConfig(
        mode="training",
        data_type="array",
        axes="ZYX",
        patching={"name": "stratified", "patch_size": [4, 8, 8]},
        normalization={"name": "none"},
        seed=2,
    )
    train = create_train_dataset(
        config, TrainValData(np.ones((8, 16, 16), "float32"), None)
    )
    with pytest.raises(ValueError, match="2-D patches"):
        find_patch_origins(train)


def test_figure_is_a_png_of_the_documented_size(tmp_path: Path) -> None:
    origins = PatchOrigins(
        overview=np.random.default_rng(1).random((64, 64), dtype=np.float32),
        scale=4,
        coverage=np.ones((64, 64), np.int64),
        patch_size=(16, 16),
        val_starts=np.array([[0, 32], [128, 64]]),
        epochs=2,
    )
    patches = np.random.default_rng(2).random((3, 2, 16, 16), dtype=np.float32)
    out = plot_demo_figure(
        tmp_path / "figure.png",
        inputs=patches,
        targets=patches[:, :1],
        labels=["a", "b", "c"],
        channel_names=["nuclei", "membranes"],
        origins=origins,
        title="test",
        notes=["one", "two"],
    )
    assert png_size(out) == (int(FIGURE_SIZE[0] * DPI), int(FIGURE_SIZE[1] * DPI))
    with pytest.raises(ValueError, match="expected 3 labels, got 1"):
        plot_demo_figure(
            tmp_path / "bad.png",
            inputs=patches,
            labels=["a"],
            channel_names=["x", "y"],
            origins=origins,
            title="test",
        )
