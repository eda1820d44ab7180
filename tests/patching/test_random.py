from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careamics_dask.patching.random import (
    FixedPatching,
    FixedRandomPatching,
    RandomPatching,
    count_grid_patches,
)
from careamics_dask.patching.table import PatchTable

SHAPES_2D = [(2, 1, 32, 32), (1, 1, 19, 37), (3, 1, 14, 9)]
SHAPES_3D = [(2, 1, 32, 32, 32), (1, 1, 19, 37, 23), (3, 1, 14, 9, 12)]


@pytest.mark.parametrize(
    ("shapes", "patch_size", "expected"),
    [
        ([(2, 1, 64, 64), (1, 1, 43, 71)], (32, 32), 14),
        (SHAPES_2D, (8, 8), 59),
        (SHAPES_2D, (8, 5), 92),
        (SHAPES_3D, (8, 8, 8), 197),
        (SHAPES_3D, (8, 5, 7), 400),
        ([(1, 1, 19, 37)], (8, 8), 15),
        ([(1, 1, 19, 37)], (8, 5), 24),
        ([(1, 1, 19, 37, 23)], (8, 8, 8), 45),
        ([(1, 1, 19, 37, 23)], (8, 5, 7), 96),
    ],
)
def test_n_patches(
    shapes: list[tuple[int, ...]], patch_size: tuple[int, ...], expected: int
) -> None:
    for cls in (RandomPatching, FixedRandomPatching):
        assert cls(shapes, patch_size, seed=1).n_patches == expected


def test_count_grid_patches_is_product_of_ceils() -> None:
    counts = count_grid_patches(np.array([[43, 71], [8, 8]]), np.array([8, 8]))
    assert counts.tolist() == [54, 1]


def test_order_is_stack_then_sample_contiguous() -> None:
    patching = RandomPatching(SHAPES_2D, (8, 8), seed=1)
    table = patching.table()
    # 16 patches per 32x32 sample, 15 for 19x37, 4 for 14x9
    expected = [(0, 0)] * 16 + [(0, 1)] * 16 + [(1, 0)] * 15
    expected += [(2, s) for s in range(3) for _ in range(4)]
    assert (
        list(zip(table.data_idx.tolist(), table.sample_idx.tolist(), strict=True))
        == expected
    )
    for data_idx in range(3):
        indices = patching.get_patch_indices(data_idx)
        assert (table.data_idx[indices] == data_idx).all()
        assert len(indices) == (table.data_idx == data_idx).sum()
        assert (np.diff(indices) == 1).all()


@settings(max_examples=40, deadline=None)
@given(
    spatial=st.lists(
        st.tuples(st.integers(1, 40), st.integers(1, 40)), min_size=1, max_size=3
    ),
    patch=st.tuples(st.integers(1, 16), st.integers(1, 16)),
    seed=st.integers(0, 2**32),
    epoch=st.integers(0, 50),
)
def test_patches_inside_image_or_padded_at_zero(
    spatial: list[tuple[int, int]], patch: tuple[int, int], seed: int, epoch: int
) -> None:
    shapes = [(2, 1, *s) for s in spatial]
    table = RandomPatching(shapes, patch, seed=seed).table(epoch)
    sizes = np.array(shapes)[table.data_idx, 2:]
    assert (table.coords >= 0).all()
    inside = table.coords + table.patch_size <= sizes
    # an axis shorter than the patch: start 0, padded at the end when extracted
    assert (inside | ((sizes < patch) & (table.coords == 0))).all()


def test_starts_cover_the_whole_inclusive_range() -> None:
    patching = RandomPatching([(1, 1, 10, 12)], (8, 8), seed=3)
    coords = np.concatenate([patching.table(e).coords for e in range(200)])
    assert coords[:, 0].min() == 0
    assert coords[:, 0].max() == 2
    assert coords[:, 1].min() == 0
    assert coords[:, 1].max() == 4
    counts = np.bincount(coords[:, 0])
    assert counts.min() > 0.8 * counts.mean()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**63), epoch=st.integers(0, 1000))
def test_tables_depend_only_on_seed_and_epoch(seed: int, epoch: int) -> None:
    first = RandomPatching(SHAPES_2D, (8, 8), seed=seed)
    for earlier in range(3):
        first.table(earlier)
    fresh = RandomPatching(SHAPES_2D, (8, 8), seed=seed)
    assert first.table(epoch) == fresh.table(epoch)
    assert first.table(epoch) != fresh.table(epoch + 1)


def test_seed_none_is_drawn_once() -> None:
    patching = RandomPatching(SHAPES_2D, (8, 8))
    assert patching.table(7) == patching.table(7)
    again = RandomPatching(SHAPES_2D, (8, 8), seed=patching.seed)
    assert again.table(7) == patching.table(7)
    assert RandomPatching(SHAPES_2D, (8, 8)).table(0) != patching.table(0)


def test_get_patch_spec_reads_the_epoch_table() -> None:
    patching = RandomPatching(SHAPES_2D, (8, 8), seed=2)
    table = patching.table(3)
    assert patching.get_patch_spec(10, epoch=3) == table.row(10)
    assert patching.get_patch_spec(58)["data_idx"] == 2
    message = (
        "Index 59 out of bounds for RandomPatchingStrategy with number of patches 59"
    )
    with pytest.raises(IndexError, match=re.escape(message)):
        patching.get_patch_spec(59)
    with pytest.raises(IndexError):
        patching.get_patch_spec(-1)
    with pytest.raises(ValueError, match="Epoch must not be negative"):
        patching.table(-1)


def test_fixed_random_is_the_same_every_epoch() -> None:
    fixed = FixedRandomPatching(SHAPES_2D, (8, 8), seed=4)
    assert not fixed.is_random
    assert RandomPatching(SHAPES_2D, (8, 8)).is_random
    assert fixed.table(0) == fixed.table(9)
    assert fixed.get_patch_spec(3, epoch=5) == fixed.get_patch_spec(3)
    assert fixed.table(0) == RandomPatching(SHAPES_2D, (8, 8), seed=4).table(0)
    message = (
        "Index 59 out of bounds for FixedRandomPatchingStrategy with number of "
        "patches, 59"
    )
    with pytest.raises(IndexError, match=re.escape(message)):
        fixed.get_patch_spec(59)


def test_fixed_patching() -> None:
    specs = [
        {"data_idx": 1, "sample_idx": 0, "coords": (4, 4), "patch_size": (8, 8)},
        {"data_idx": 0, "sample_idx": 2, "coords": (0, 8), "patch_size": (8, 8)},
    ]
    patching = FixedPatching.from_specs(specs)  # type: ignore[arg-type]
    assert [patching.get_patch_spec(i) for i in range(2)] == specs
    assert patching.get_patch_spec(1, epoch=3) == specs[1]
    assert patching.get_patch_indices(0).tolist() == [1]
    assert FixedPatching.from_specs([], ndim=3).table().ndim == 3
    message = "Index 2 out of bounds for FixedPatching with number of patches 2"
    with pytest.raises(IndexError, match=re.escape(message)):
        patching.get_patch_spec(2)
    table = PatchTable.concat([patching.table(), patching.table()])
    assert FixedPatching(table).n_patches == 4


def test_dimension_mismatch_message() -> None:
    with pytest.raises(ValueError, match="Number of patch dimension 3, do not match"):
        RandomPatching([(1, 1, 32, 32)], (8, 8, 8))
