"""Tests of careamics_dask.graph.augment: decision rules, statistics, reproducibility."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from careamics_dask.config import DataConfig, XYFlipConfig, XYRandomRotate90Config
from careamics_dask.factory.augmentations import (
    AugmentationLike,
    augment_batch,
    augment_patch,
    create_augmentations,
)
from careamics_dask.graph.transforms import XYFlip, XYRandomRotate90, draw_uniforms

N = 20_000
TOLERANCE = 0.015  # > 4 standard errors of a proportion near 0.5 with N draws


def _unique_batch(n: int, shape: tuple[int, ...] = (1, 4, 4)) -> Any:
    """Patches whose pixels are all distinct, so every transform is visible."""
    size = int(np.prod(shape))
    return np.arange(n * size, dtype=np.float32).reshape(n, *shape)


def _reference_apply(patch: Any, flip_axis: int, k: int) -> Any:
    """The reference's per-patch transforms, given the decisions."""
    if flip_axis:
        patch = np.ascontiguousarray(np.flip(patch, flip_axis))
    if k:
        patch = np.rot90(patch, k, axes=(-2, -1))
    return patch


# --- validation ---------------------------------------------------------------


@pytest.mark.parametrize("p", [-0.1, 1.01])
def test_probability_must_be_in_unit_interval(p: float) -> None:
    with pytest.raises(ValueError, match=r"^Probability must be in \[0, 1\]\.$"):
        XYFlip(seed=0, p=p)
    with pytest.raises(ValueError, match=r"^Probability must be in \[0, 1\]\.$"):
        XYRandomRotate90(seed=0, p=p)


def test_flip_needs_an_axis() -> None:
    with pytest.raises(ValueError, match=r"^At least one axis must be flippable\.$"):
        XYFlip(seed=0, flip_x=False, flip_y=False)
    config = XYFlipConfig(flip_x=False, flip_y=False, seed=1)
    with pytest.raises(ValueError, match=r"At least one axis must be flippable\."):
        create_augmentations([config])


def test_seed_is_required_from_configs_and_drawn_once_without() -> None:
    with pytest.raises(ValueError, match="XYFlip needs a seed"):
        create_augmentations([XYFlipConfig()])
    # the reference's default: no seed draws one, which is then kept
    rotate = XYRandomRotate90(seed=None)
    assert isinstance(rotate.seed, int)
    assert rotate.seed >= 0
    assert rotate == XYRandomRotate90(seed=rotate.seed)


def test_unknown_augmentation_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="got str"):
        create_augmentations(["XYFlip"])  # type: ignore[list-item]


def test_non_square_yx_is_rejected_for_rotations() -> None:
    message = r"needs square patches in YX: expected Y == X, got Y=8 and X=4"
    rotate = XYRandomRotate90(seed=0)
    with pytest.raises(ValueError, match=message):
        create_augmentations([rotate], patch_size=[8, 4])
    with pytest.raises(ValueError, match=message):
        augment_batch(
            np.zeros((2, 1, 8, 4), np.float32), None, [rotate], epoch=0, indices=[0, 1]
        )
    # flips alone are fine with any shape
    out, _ = augment_batch(
        _unique_batch(2, (1, 8, 4)), None, [XYFlip(seed=0)], epoch=0, indices=[0, 1]
    )
    assert out.shape == (2, 1, 8, 4)


def test_shapes_epoch_and_indices_are_checked() -> None:
    flip = XYFlip(seed=0)
    batch = np.zeros((2, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="expected 4 or 5 dimensions"):
        augment_batch(batch[0], None, [flip], epoch=0, indices=[0])
    with pytest.raises(ValueError, match="same batch and spatial sizes"):
        augment_batch(batch, batch[:, :, :2], [flip], epoch=0, indices=[0, 1])
    with pytest.raises(ValueError, match=r"expected shape \(2,\)"):
        augment_batch(batch, None, [flip], epoch=0, indices=[0])
    with pytest.raises(ValueError, match="non-negative"):
        augment_batch(batch, None, [flip], epoch=0, indices=[0, -1])
    with pytest.raises(ValueError, match="Epoch must be a non-negative integer"):
        augment_batch(batch, None, [flip], epoch=-1, indices=[0, 1])
    with pytest.raises(ValueError, match="1-D integer array"):
        draw_uniforms(0, 0, 0, [0.5])


# --- decisions ----------------------------------------------------------------


def test_uniforms_are_uniform_and_batch_independent() -> None:
    u = draw_uniforms(123, 0, 4, np.arange(N))
    assert u.shape == (2, N)
    assert u.min() >= 0.0
    assert u.max() < 1.0
    counts, _ = np.histogram(u[0], bins=10, range=(0.0, 1.0))
    chi2 = float(((counts - N / 10) ** 2 / (N / 10)).sum())
    assert chi2 < 27.9  # 9 dof, p = 0.001
    assert abs(np.corrcoef(u[0], u[1])[0, 1]) < 0.03
    assert abs(np.corrcoef(u[0][:-1], u[0][1:])[0, 1]) < 0.03
    np.testing.assert_array_equal(draw_uniforms(123, 0, 4, [17, 3])[:, 0], u[:, 17])


def test_draws_differ_by_epoch_position_and_seed() -> None:
    indices = np.arange(1000)
    base = draw_uniforms(5, 0, 0, indices)
    for other in (
        draw_uniforms(5, 0, 1, indices),
        draw_uniforms(5, 1, 0, indices),
        draw_uniforms(6, 0, 0, indices),
    ):
        assert abs(np.corrcoef(base[0], other[0])[0, 1]) < 0.1
        assert not np.array_equal(base, other)


def test_flip_decision_rule_and_axis_balance() -> None:
    flip = XYFlip(seed=11, p=0.5)
    decisions = flip.draw(epoch=0, indices=np.arange(N))
    u = draw_uniforms(11, 0, 0, np.arange(N))
    np.testing.assert_array_equal(decisions == 0, u[0] > 0.5)
    fired = decisions[decisions != 0]
    assert abs(fired.size / N - 0.5) < TOLERANCE
    assert abs(np.mean(fired == -2) - 0.5) < TOLERANCE
    only_x = XYFlip(seed=11, p=1.0, flip_y=False).draw(epoch=0, indices=np.arange(50))
    assert set(only_x.tolist()) == {-1}
    only_y = XYFlip(seed=11, p=1.0, flip_x=False).draw(epoch=0, indices=np.arange(50))
    assert set(only_y.tolist()) == {-2}
    never = XYFlip(seed=11, p=0.0).draw(epoch=0, indices=np.arange(N))
    assert not never.any()


def test_rotation_k_is_uniform() -> None:
    k = XYRandomRotate90(seed=3, p=0.5).draw(epoch=2, indices=np.arange(N))
    fired = k[k != 0]
    assert abs(fired.size / N - 0.5) < TOLERANCE
    for value in (1, 2, 3):
        assert abs(np.mean(fired == value) - 1 / 3) < TOLERANCE


@pytest.mark.parametrize("same_seed", [True, False])
def test_flip_and_rotation_fire_independently(same_seed: bool) -> None:
    """The reference's shared seed made both fire together; here ~25 % are untouched."""
    seeds = (7, 7) if same_seed else (7, 8)
    flip, rotate = XYFlip(seed=seeds[0]), XYRandomRotate90(seed=seeds[1])
    augmentations: list[AugmentationLike] = [flip, rotate]
    n = 8000
    inputs = _unique_batch(n)
    original = inputs.copy()
    out, _ = augment_batch(inputs, None, augmentations, epoch=0, indices=np.arange(n))
    untouched = np.all(out == original, axis=(1, 2, 3))
    assert abs(untouched.mean() - 0.25) < 0.02
    flipped = flip.draw(epoch=0, indices=np.arange(n), position=0) != 0
    rotated = rotate.draw(epoch=0, indices=np.arange(n), position=1) != 0
    np.testing.assert_array_equal(untouched, ~flipped & ~rotated)
    exactly_one = np.mean(flipped ^ rotated)
    assert abs(exactly_one - 0.5) < 0.03


def test_config_seeds_from_a_data_config_work() -> None:
    config = DataConfig(
        mode="training",
        data_type="array",
        axes="SYX",
        patching={"name": "stratified", "patch_size": [8, 8]},
        normalization={"name": "none"},
        seed=42,
    )
    batch = _unique_batch(64, (1, 8, 8))
    out, _ = augment_batch(
        batch.copy(), None, config.augmentations, epoch=0, indices=np.arange(64)
    )
    assert not np.array_equal(out, batch)


# --- application --------------------------------------------------------------


def test_batch_matches_reference_transforms_per_patch() -> None:
    flip, rotate = XYFlip(seed=1), XYRandomRotate90(seed=2)
    augmentations: list[AugmentationLike] = [flip, rotate]
    n = 200
    indices = np.arange(1000, 1000 + n)
    inputs = _unique_batch(n, (2, 5, 5))
    original = inputs.copy()
    out, _ = augment_batch(inputs, None, augmentations, epoch=3, indices=indices)
    flips = flip.draw(epoch=3, indices=indices, position=0)
    ks = rotate.draw(epoch=3, indices=indices, position=1)
    for i in range(n):
        expected = _reference_apply(original[i], int(flips[i]), int(ks[i]))
        np.testing.assert_array_equal(out[i], expected)


def test_target_is_transformed_like_its_input() -> None:
    n = 300
    inputs = _unique_batch(n, (1, 6, 6))
    targets = np.concatenate([inputs * 2, inputs + 0.5, inputs - 3], axis=1)
    augmentations: list[AugmentationLike] = [
        XYFlipConfig(seed=4),
        XYRandomRotate90Config(seed=5),
    ]
    out, out_targets = augment_batch(
        inputs, targets, augmentations, epoch=0, indices=np.arange(n)
    )
    assert out_targets is not None
    np.testing.assert_array_equal(out_targets[:, 0:1], out * 2)
    np.testing.assert_array_equal(out_targets[:, 1:2], out + 0.5)
    np.testing.assert_array_equal(out_targets[:, 2:3], out - 3)


def test_three_d_patches_rotate_every_z_slice() -> None:
    n = 60
    inputs = _unique_batch(n, (1, 3, 4, 4))
    original = inputs.copy()
    rotate = XYRandomRotate90(seed=9, p=1.0)
    out, _ = augment_batch(inputs, None, [rotate], epoch=0, indices=np.arange(n))
    ks = rotate.draw(epoch=0, indices=np.arange(n))
    assert set(ks.tolist()) == {1, 2, 3}
    for i in range(n):
        for z in range(3):
            np.testing.assert_array_equal(
                out[i, 0, z], np.rot90(original[i, 0, z], int(ks[i]))
            )
    # a flip acts on Y or X within each Z slice, never along Z
    flip = XYFlip(seed=9, p=1.0)
    flipped, _ = augment_batch(
        original.copy(), None, [flip], epoch=0, indices=np.arange(n)
    )
    axes = flip.draw(epoch=0, indices=np.arange(n))
    assert set(axes.tolist()) == {-2, -1}
    for i in range(n):
        for z in range(3):
            np.testing.assert_array_equal(
                flipped[i, 0, z], np.flip(original[i, 0, z], int(axes[i]))
            )


def test_reproducible_across_batch_splits_and_orders() -> None:
    augmentations: list[AugmentationLike] = [XYFlip(seed=21), XYRandomRotate90(seed=22)]
    indices = np.arange(500, 532)
    whole, whole_t = augment_batch(
        _unique_batch(32),
        _unique_batch(32) * -1,
        augmentations,
        epoch=5,
        indices=indices,
    )
    source = _unique_batch(32)
    first, first_t = augment_batch(
        source[:16].copy(), -source[:16], augmentations, epoch=5, indices=indices[:16]
    )
    second, second_t = augment_batch(
        source[16:].copy(), -source[16:], augmentations, epoch=5, indices=indices[16:]
    )
    np.testing.assert_array_equal(whole, np.concatenate([first, second]))
    assert whole_t is not None
    assert first_t is not None
    assert second_t is not None
    np.testing.assert_array_equal(whole_t, np.concatenate([first_t, second_t]))
    order = np.random.default_rng(0).permutation(32)
    shuffled, _ = augment_batch(
        source[order].copy(), None, augmentations, epoch=5, indices=indices[order]
    )
    np.testing.assert_array_equal(shuffled, whole[order])
    other_epoch, _ = augment_batch(
        source.copy(), None, augmentations, epoch=6, indices=indices
    )
    assert not np.array_equal(other_epoch, whole)


def test_patch_form_equals_batch_form() -> None:
    augmentations: list[AugmentationLike] = [XYFlip(seed=31), XYRandomRotate90(seed=32)]
    inputs = _unique_batch(20, (1, 2, 4, 4))
    targets = np.repeat(inputs, 2, axis=1) * 3
    batch, batch_t = augment_batch(
        inputs.copy(), targets.copy(), augmentations, epoch=1, indices=np.arange(20)
    )
    assert batch_t is not None
    for i in range(20):
        patch, patch_t = augment_patch(
            inputs[i].copy(), targets[i].copy(), augmentations, epoch=1, index=i
        )
        np.testing.assert_array_equal(patch, batch[i])
        np.testing.assert_array_equal(patch_t, batch_t[i])
    patch, none = augment_patch(inputs[0].copy(), None, augmentations, epoch=1, index=0)
    assert none is None
    np.testing.assert_array_equal(patch, batch[0])


def test_in_place_and_read_only_inputs() -> None:
    flip = XYFlip(seed=0, p=1.0)
    inputs = _unique_batch(4)
    out, _ = augment_batch(inputs, None, [flip], epoch=0, indices=np.arange(4))
    assert out is inputs
    read_only = _unique_batch(4)
    read_only.flags.writeable = False
    out, _ = augment_batch(read_only, None, [flip], epoch=0, indices=np.arange(4))
    assert out is not read_only
    np.testing.assert_array_equal(read_only, _unique_batch(4))


def test_empty_list_changes_nothing() -> None:
    inputs = _unique_batch(3)
    out, targets = augment_batch(inputs, None, [], epoch=0, indices=np.arange(3))
    assert out is inputs
    assert targets is None
    np.testing.assert_array_equal(out, _unique_batch(3))


def test_augmentations_are_picklable_values() -> None:
    built = create_augmentations(
        [XYFlipConfig(seed=1, flip_x=False), XYRandomRotate90Config(seed=2, p=0.3)]
    )
    assert built == (XYFlip(seed=1, flip_x=False), XYRandomRotate90(seed=2, p=0.3))
    assert pickle.loads(pickle.dumps(built)) == built
