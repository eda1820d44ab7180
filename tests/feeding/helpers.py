"""Small datasets and batch fingerprints shared by the feeding tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import zarr

from careamics_dask.config import DataConfig
from careamics_dask.factory import (
    TrainValSplitData,
    create_dataset,
    create_train_dataset,
)

if TYPE_CHECKING:
    from pathlib import Path

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


def corrupt_chunk_dataset(store: Path, images: np.ndarray) -> CareamicsDataset:
    """A validation set of ``images`` (``SYX``) in a Zarr store with one bad chunk."""
    zarr.open_group(store, mode="w").create_array(
        "img", data=images, chunks=(1, 32, 32), compressors=None
    )
    config = DataConfig(
        mode="validating",
        data_type="zarr",
        axes="SYX",
        patching={"name": "fixed_random", "patch_size": [16, 16]},
        normalization={"name": "none"},
        batch_size=4,
        seed=3,
    )
    dataset = create_dataset(config, store, None)
    chunk = next(
        p for p in (store / "img").rglob("*") if p.is_file() and p.name != "zarr.json"
    )
    chunk.write_bytes(b"\x00garbage")
    return dataset
