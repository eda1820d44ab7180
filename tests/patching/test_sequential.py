from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careamics_dask.patching.sequential import (
    SequentialPatching,
    compute_sequential_coords_1d,
)


def test_examples() -> None:
    assert compute_sequential_coords_1d(64, 32, 8).tolist() == [0, 24, 32]
    assert compute_sequential_coords_1d(64, 32, 0).tolist() == [0, 32]
    assert compute_sequential_coords_1d(32, 32, 0).tolist() == [0]
    assert SequentialPatching([(1, 1, 100, 64)], [32, 32]).n_patches == 8


def test_image_smaller_than_patch_gives_one_padded_patch() -> None:
    # the reference raises IndexError here
    patching = SequentialPatching([(2, 1, 20, 40)], [32, 32], [8, 8])
    assert patching.table().coords.tolist() == [[0, 0], [0, 8]] * 2


def test_errors() -> None:
    with pytest.raises(ValueError, match="0 <= overlap < patch size 8, got 8"):
        SequentialPatching([(1, 1, 32, 32)], [8, 8], [8, 0])
    with pytest.raises(ValueError, match="must match the patch size"):
        SequentialPatching([(1, 1, 32, 32)], [8, 8], [2])


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 60), st.integers(1, 60)),
    patch=st.tuples(st.integers(2, 16), st.integers(2, 16)),
    data=st.data(),
)
def test_covers_every_pixel_inside_or_padded(
    shape: tuple[int, int], patch: tuple[int, int], data: st.DataObject
) -> None:
    overlaps = [data.draw(st.integers(0, p - 1)) for p in patch]
    patching = SequentialPatching([(2, 1, *shape)], patch, overlaps)
    table = patching.table()
    assert patching.n_patches == len(table)
    covered = np.zeros((2, *shape), dtype=bool)
    for spec in table:
        y, x = spec["coords"]
        assert y >= 0
        assert x >= 0
        assert (y + patch[0] <= shape[0]) or (y == 0 and shape[0] < patch[0])
        assert (x + patch[1] <= shape[1]) or (x == 0 and shape[1] < patch[1])
        covered[spec["sample_idx"], y : y + patch[0], x : x + patch[1]] = True
    assert covered.all()
