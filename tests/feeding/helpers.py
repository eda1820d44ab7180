"""Small datasets and batch fingerprints shared by the feeding tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from careamics_dask.config import DataConfig
from careamics_dask.factory import TrainValSplitData, create_train_dataset

if TYPE_CHECKING:
    from careamics_dask.factory import Batch, CareamicsDataset


def small_train_dataset(seed: int, *, image_seed: int) -> CareamicsDataset:
    """A stratified CARE-style training set of four 64x64 images (targets = x + 1)."""
    images = np.random.default_rng(image_seed).integers(0, 2000, (4, 64, 64))
    images = images.astype(np.uint16)
    config = DataConfig(
        mode="training",
        data_type="array",
        axes="SYX",
        patching={"name": "stratified", "patch_size": [16, 16]},
        normalization={"name": "mean_std"},
        batch_size=8,
        seed=seed,
    )
    return create_train_dataset(config, TrainValSplitData(images, 1, images + 1))


def signature(batches: list[Batch]) -> list[tuple[int, int, bytes, bytes]]:
    """Everything that identifies a sequence of batches, for exact comparisons."""
    return [
        (
            b.epoch,
            b.index,
            b.input.tobytes(),
            b.target.tobytes() if b.target is not None else b"",
        )
        for b in batches
    ]
