from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careamics_dask.patching.stratified import StratifiedPatching
from careamics_dask.patching.val_split import create_val_split
from tests.patching.helpers import overlaps_any, pixel_coverage

SHAPES_2D = [(2, 1, 64, 64), (1, 1, 43, 71), (3, 1, 16, 9)]
SHAPES_3D = [(2, 1, 64, 64, 64), (1, 1, 43, 71, 46), (3, 1, 16, 9, 12)]


def test_counts_and_grid_aligned_fixed_patches() -> None:
    stratified = StratifiedPatching(SHAPES_2D, [8, 8], seed=1)
    train, val = create_val_split(stratified, 20, rng_or_seed=3)
    assert val.n_patches == 20
    # one patch less per cell, or all of a sample's patches once it has no starts
    assert train.n_patches <= stratified.n_patches - 20
    clean = StratifiedPatching([(2, 1, 64, 64), (1, 1, 48, 72)], [8, 8], seed=1)
    assert create_val_split(clean, 20, 3)[0].n_patches == clean.n_patches - 20
    table = val.table()
    assert (table.coords % 8 == 0).all()
    assert (table.patch_size == 8).all()
    assert val.table(5) == table
    assert not val.is_random
    assert table.argsort(by=("data_idx", "sample_idx", "coords")).tolist() == list(
        range(20)
    )


def test_input_strategy_is_not_changed() -> None:
    stratified = StratifiedPatching(SHAPES_2D, [8, 8], seed=1)
    before = stratified.table(4)
    train, _ = create_val_split(stratified, 10, rng_or_seed=3)
    assert stratified.table(4) == before
    assert not stratified.excluded_cells.any()
    assert train.excluded_cells.sum() == 10
    assert train.seed == stratified.seed


def test_same_seed_same_split() -> None:
    stratified = StratifiedPatching(SHAPES_2D, [8, 8], seed=1)
    a = create_val_split(stratified, 15, rng_or_seed=9)
    b = create_val_split(stratified, 15, rng_or_seed=9)
    c = create_val_split(stratified, 15, rng_or_seed=10)
    assert a[1].table() == b[1].table() != c[1].table()
    assert a[0].table(2) == b[0].table(2)
    generator = create_val_split(stratified, 15, np.random.default_rng(0))
    assert generator[1].n_patches == 15


def test_too_many_validation_patches_fails_before_drawing() -> None:
    stratified = StratifiedPatching([(1, 1, 64, 64)], [32, 32])
    message = (
        "The number of validation patches to be extracted from the training set is "
        "too large for given training data size (got 4 validation patches but only "
        "4 training patches available with patch size [32, 32]). Make sure you have "
        "enough data to train with, decrease 'n_val_patches' or the patch size."
    )

    class Exploding(np.random.Generator):
        def __getattribute__(self, name: str) -> object:
            raise AssertionError("drew before checking")

    rng = Exploding(np.random.PCG64(0))
    with pytest.raises(ValueError, match=re.escape(message)):
        create_val_split(stratified, 4, rng)
    with pytest.raises(ValueError, match="must not be negative"):
        create_val_split(stratified, -1, rng)


def test_not_more_cells_than_a_sample_has() -> None:
    # 62 x 62 with patch 32: 4 patches but a single grid cell; the reference's
    # rng.choice raises when a sample is asked for 2 cells
    stratified = StratifiedPatching([(1, 1, 62, 62), (1, 1, 64, 64)], [32, 32])
    with pytest.raises(ValueError, match="at most 5 validation patches"):
        create_val_split(stratified, 6, rng_or_seed=1)
    for seed in range(20):
        _, val = create_val_split(stratified, 5, rng_or_seed=seed)
        assert (val.table().data_idx == 0).sum() == 1


def test_cells_inside_the_image_first() -> None:
    # 63 x 63, patch 32: only cell (0, 0) lies inside; the reference may pick the
    # three edge cells, whose patches stick out by one pixel
    stratified = StratifiedPatching([(1, 1, 63, 63)] * 50, [32, 32])
    _, val = create_val_split(stratified, 50, rng_or_seed=2)
    assert (val.table().coords == 0).all()
    _, val = create_val_split(stratified, 60, rng_or_seed=2)
    assert (val.table().coords == 0).all(axis=1).sum() == 50
    # with no in-image cell left, an edge cell is used
    single = StratifiedPatching([(1, 1, 63, 63)], [32, 32])
    train, val = create_val_split(single, 2, rng_or_seed=2)
    coords = val.table().coords.tolist()
    assert coords[0] == [0, 0]
    assert coords[1] in ([0, 32], [32, 0], [32, 32])
    assert train.n_patches == 0  # the only cell with patch starts went to validation


def test_allocation_is_proportional_to_patch_counts() -> None:
    stratified = StratifiedPatching([(1, 1, 128, 128), (1, 1, 64, 64)], [8, 8])
    counts = stratified.sample_patch_counts  # 256 and 64
    per_sample = np.zeros(2)
    for seed in range(300):
        _, val = create_val_split(stratified, 20, rng_or_seed=seed)
        per_sample += np.bincount(val.table().data_idx, minlength=2)
    expected = 20 * 300 * counts / counts.sum()
    assert per_sample == pytest.approx(expected, rel=0.05)


@settings(max_examples=15, deadline=None)
@given(
    ndim=st.sampled_from([2, 3]),
    patch=st.sampled_from([8, 5]),
    fraction=st.floats(0.02, 0.5),
    seed=st.integers(0, 2**32),
)
def test_training_never_overlaps_validation(
    ndim: int, patch: int, fraction: float, seed: int
) -> None:
    shapes = SHAPES_2D if ndim == 2 else SHAPES_3D
    patch_size = [8] * (ndim - 1) + [patch]
    stratified = StratifiedPatching(shapes, patch_size, seed=seed)
    n_val = max(1, int(fraction * stratified.n_patches))
    train, val = create_val_split(stratified, n_val, rng_or_seed=seed)
    assert val.n_patches == n_val
    for epoch in range(10):
        assert not overlaps_any(train.table(epoch), val.table()).any()


def test_train_val_complementary_coverage() -> None:
    """The reference's functional test, with its intended (strong) invariant."""
    stratified = StratifiedPatching(SHAPES_2D, [8, 5], seed=42)
    n_val = int(0.1 * stratified.n_patches)
    train, val = create_val_split(stratified, n_val, rng_or_seed=42)
    train_cover = pixel_coverage([train.table(e) for e in range(50)], SHAPES_2D)
    val_cover = pixel_coverage([val.table()], SHAPES_2D)
    assert sum(int(c.sum()) for c in train_cover.values()) > 0
    assert sum(int(c.sum()) for c in val_cover.values()) > 0
    for key, cover in train_cover.items():
        assert not ((cover > 0) & (val_cover[key] > 0)).any()


def test_zero_validation_patches() -> None:
    stratified = StratifiedPatching(SHAPES_2D, [8, 8], seed=1)
    train, val = create_val_split(stratified, 0, rng_or_seed=1)
    assert val.n_patches == 0
    assert train.n_patches == stratified.n_patches


def test_respects_earlier_exclusions_and_weights() -> None:
    stratified = StratifiedPatching([(1, 1, 64, 64)], [8, 8], seed=1)
    stratified.exclude_cells(0, 0, [[g, h] for g in range(8) for h in range(4)])
    stratified.set_region_weights(0, 0, np.full((8, 8), 0.9))
    train, val = create_val_split(stratified, 10, rng_or_seed=1)
    assert (val.table().coords[:, 1] >= 32).all()
    assert train.n_patches == stratified.n_patches - 10
