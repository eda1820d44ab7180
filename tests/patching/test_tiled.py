from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careamics_dask.patching.specs import is_tile_specs
from careamics_dask.patching.tiled import (
    TiledPatching,
    compute_tile_coords_1d,
    grid_product,
)


def reference_1d(size: int, patch: int, overlap: int) -> list[list[int]]:
    """The reference's `_compute_1d_coords` loop, verbatim in logic."""
    coords: list[int] = []
    stitch: list[int] = []
    crop: list[int] = []
    crop_size: list[int] = []
    step = patch - overlap
    for i in range(0, max(1, size - overlap), step):
        if i == 0:
            coords.append(0)
            crop.append(0)
            stitch.append(0)
            crop_size.append(size if size <= patch else patch - overlap // 2)
        elif i + patch < size:
            coords.append(i)
            crop.append(overlap // 2)
            stitch.append(i + overlap // 2)
            crop_size.append(patch - overlap)
        else:
            end = (stitch[-1] if stitch else 0) + (crop_size[-1] if crop_size else 1)
            coords.append(max(0, size - patch))
            stitch.append(end)
            crop.append(end - coords[-1])
            crop_size.append(size - end)
    return [coords, stitch, crop, crop_size]


@pytest.mark.parametrize(
    ("size", "patch", "overlap", "expected"),
    [
        (
            100,
            32,
            8,
            [[0, 24, 48, 68], [0, 28, 52, 76], [0, 4, 4, 8], [28, 24, 24, 24]],
        ),
        (64, 32, 8, [[0, 24, 32], [0, 28, 52], [0, 4, 20], [28, 24, 12]]),
        (65, 32, 8, [[0, 24, 33], [0, 28, 52], [0, 4, 19], [28, 24, 13]]),
        (128, 64, 16, [[0, 48, 64], [0, 56, 104], [0, 8, 40], [56, 48, 24]]),
        (33, 32, 0, [[0, 1], [0, 32], [0, 31], [32, 1]]),
        (64, 32, 0, [[0, 32], [0, 32], [0, 0], [32, 32]]),
        (32, 32, 8, [[0], [0], [0], [32]]),
        (20, 32, 8, [[0], [0], [0], [20]]),
    ],
)
def test_worked_examples(
    size: int, patch: int, overlap: int, expected: list[list[int]]
) -> None:
    result = [a.tolist() for a in compute_tile_coords_1d(size, patch, overlap)]
    assert result == expected
    assert reference_1d(size, patch, overlap) == expected


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 300), patch=st.integers(1, 64), data=st.data())
def test_matches_the_reference_loop(size: int, patch: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, patch - 1))
    result = [a.tolist() for a in compute_tile_coords_1d(size, patch, overlap)]
    assert result == reference_1d(size, patch, overlap)


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 300), patch=st.integers(2, 64), data=st.data())
def test_crops_partition_the_axis(size: int, patch: int, data: st.DataObject) -> None:
    overlap = 2 * data.draw(st.integers(0, (patch - 1) // 2))
    coords, stitch, crop, crop_size = compute_tile_coords_1d(size, patch, overlap)
    assert (coords >= 0).all()
    assert (crop_size > 0).all()
    # contiguous and disjoint: each crop starts where the previous ended
    assert stitch[0] == 0
    assert (stitch[1:] == stitch[:-1] + crop_size[:-1]).all()
    assert stitch[-1] + crop_size[-1] == size
    # the crop lies inside its tile, and maps tile pixels to image pixels
    assert (crop >= 0).all()
    assert (crop + crop_size <= patch).all()
    assert (coords + crop == stitch).all()
    if size >= patch:
        assert coords[-1] + patch == size


def test_odd_overlaps_still_cover() -> None:
    _coords, stitch, _, crop_size = compute_tile_coords_1d(64, 32, 3)
    covered = np.zeros(64, bool)
    for start, length in zip(stitch, crop_size, strict=True):
        covered[start : start + length] = True
    assert covered.all()


def test_overlap_errors() -> None:
    with pytest.raises(ValueError, match="0 <= overlap < patch size 8, got 8"):
        compute_tile_coords_1d(20, 8, 8)
    with pytest.raises(ValueError, match="must match the patch size"):
        TiledPatching([(1, 1, 32, 32)], [8, 8], [2])


def test_grid_product_is_itertools_product() -> None:
    axes = [np.array([0, 5]), np.array([1, 2, 3]), np.array([7])]
    assert grid_product(axes).tolist() == [list(p) for p in itertools.product(*axes)]


def test_2d_tiles_sample_major_with_total_tiles() -> None:
    tiling = TiledPatching([(2, 1, 64, 100), (1, 1, 20, 20)], [32, 32], [8, 8])
    table = tiling.table()
    assert table.is_tiled
    assert tiling.n_patches == 2 * 3 * 4 + 1
    assert table.sample_idx.tolist() == [0] * 12 + [1] * 12 + [0]
    assert table.total_tiles.tolist() == [24] * 24 + [1]  # type: ignore[union-attr]
    y = compute_tile_coords_1d(64, 32, 8)
    x = compute_tile_coords_1d(100, 32, 8)
    first = [
        {
            "data_idx": 0,
            "sample_idx": 0,
            "coords": (cy, cx),
            "patch_size": (32, 32),
            "crop_coords": (ky, kx),
            "crop_size": (sy, sx),
            "stitch_coords": (ty, tx),
            "total_tiles": 24,
        }
        for (cy, ty, ky, sy), (cx, tx, kx, sx) in itertools.product(
            zip(*[a.tolist() for a in y], strict=True),
            zip(*[a.tolist() for a in x], strict=True),
        )
    ]
    assert [tiling.get_patch_spec(i) for i in range(12)] == first
    last = tiling.get_patch_spec(24)
    assert is_tile_specs(last)
    assert last["crop_size"] == (20, 20)
    assert tiling.get_patch_indices(1).tolist() == [24]
    assert tiling.table(5) is table


@settings(max_examples=30, deadline=None)
@given(
    shape=st.tuples(
        st.integers(1, 3), st.integers(1, 70), st.integers(1, 70), st.integers(1, 70)
    ),
    patch=st.tuples(st.integers(2, 24), st.integers(2, 24), st.integers(2, 24)),
    data=st.data(),
)
def test_3d_tiles_partition_the_image(
    shape: tuple[int, int, int, int], patch: tuple[int, int, int], data: st.DataObject
) -> None:
    overlaps = [2 * data.draw(st.integers(0, (p - 1) // 2)) for p in patch]
    table = TiledPatching([(shape[0], 1, *shape[1:])], patch, overlaps).table()
    for sample in range(shape[0]):
        counts = np.zeros(shape[1:], dtype=np.int64)
        rows = np.flatnonzero(table.sample_idx == sample)
        for i in rows:
            start, size = table.stitch_coords[i], table.crop_size[i]  # type: ignore[index]
            counts[
                tuple(slice(a, a + s) for a, s in zip(start, size, strict=True))
            ] += 1
        assert (counts == 1).all()
    assert (table.total_tiles == len(table)).all()  # type: ignore[union-attr]
