"""Tests of the spatial augmentations as plain values: checks, draws, application."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from careamics_dask.graph.transforms import (
    XYFlip,
    XYRandomRotate90,
    augment_batch,
    check_augmentations,
)


def test_values_are_checked_and_picklable() -> None:
    flip = XYFlip(seed=1, flip_x=False)
    assert flip.axes == (-2,)
    assert pickle.loads(pickle.dumps(flip)) == flip
    with pytest.raises(ValueError, match="XYFlip needs a seed"):
        XYFlip(seed=-1)
    with pytest.raises(ValueError, match=r"^Probability must be in \[0, 1\]\.$"):
        XYRandomRotate90(seed=0, p=2.0)


def test_draws_follow_the_probability() -> None:
    never = XYRandomRotate90(seed=5, p=0.0).draw(epoch=0, indices=np.arange(100))
    assert not never.any()
    always = XYFlip(seed=5, p=1.0, flip_y=False).draw(epoch=0, indices=np.arange(10))
    assert (always == -1).all()


def test_apply_transforms_inputs_and_targets_alike() -> None:
    inputs = np.arange(32, dtype=np.float32).reshape(2, 1, 4, 4)
    targets = inputs * 10
    rotate = XYRandomRotate90(seed=0, p=1.0)
    decisions = np.array([1, 0], dtype=np.int8)
    rotate.apply(inputs, targets, decisions)
    original = np.arange(32, dtype=np.float32).reshape(2, 1, 4, 4)
    np.testing.assert_array_equal(inputs[0, 0], np.rot90(original[0, 0]))
    np.testing.assert_array_equal(inputs[1], original[1])
    np.testing.assert_array_equal(targets, inputs * 10)


def test_check_augmentations_takes_only_augmentations() -> None:
    built = check_augmentations([XYFlip(seed=0), XYRandomRotate90(seed=1)])
    assert built == (XYFlip(seed=0), XYRandomRotate90(seed=1))
    with pytest.raises(TypeError, match="got str"):
        check_augmentations(["XYFlip"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="needs square patches in YX"):
        check_augmentations([XYRandomRotate90(seed=1)], patch_size=[8, 4])
    batch = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(TypeError, match="got str"):
        augment_batch(batch, None, ["XYFlip"], epoch=0, indices=[0])  # type: ignore[list-item]
