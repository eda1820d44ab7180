"""Tests of augmentation configs to plain augmentations."""

from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.config import XYFlipConfig, XYRandomRotate90Config
from careamics_dask.factory import create_augmentations
from careamics_dask.factory.augmentations import (
    AugmentationLike,
    augment_batch,
    augment_patch,
    create_augmentation,
)
from careamics_dask.graph.transforms import XYFlip, XYRandomRotate90
from careamics_dask.graph.transforms import augment_batch as graph_augment_batch


def test_configs_become_augmentations() -> None:
    assert create_augmentation(XYFlipConfig(seed=2, flip_y=False, p=0.3)) == XYFlip(
        seed=2, flip_y=False, p=0.3
    )
    rotate = XYRandomRotate90(seed=1)
    assert create_augmentation(rotate) is rotate
    assert create_augmentations(
        [XYFlipConfig(seed=1), XYRandomRotate90Config(seed=2)]
    ) == (XYFlip(seed=1), XYRandomRotate90(seed=2))
    with pytest.raises(ValueError, match="XYRandomRotate90 needs a seed"):
        create_augmentation(XYRandomRotate90Config())


def test_config_batches_equal_plain_batches() -> None:
    inputs = np.arange(4 * 16, dtype=np.float32).reshape(4, 1, 4, 4)
    configs: list[AugmentationLike] = [
        XYFlipConfig(seed=5),
        XYRandomRotate90Config(seed=6),
    ]
    plain = create_augmentations(configs)
    ours, _ = augment_batch(inputs.copy(), None, configs, epoch=1, indices=range(4))
    theirs, _ = graph_augment_batch(
        inputs.copy(), None, plain, epoch=1, indices=np.arange(4)
    )
    np.testing.assert_array_equal(ours, theirs)
    patch, _ = augment_patch(inputs[2].copy(), None, configs, epoch=1, index=2)
    np.testing.assert_array_equal(patch, theirs[2])
