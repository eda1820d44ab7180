from __future__ import annotations

import re

import pytest

from careamics_dask.patching._shapes import SampleLayout, check_patch_size, check_shapes


def test_check_patch_size() -> None:
    assert check_patch_size((8, 16, 16)).tolist() == [8, 16, 16]
    assert not check_patch_size([8, 8]).flags.writeable
    for bad in ([8], [8, 8, 8, 8], [0, 8], [-2, 8]):
        with pytest.raises(ValueError, match="two or three positive sizes"):
            check_patch_size(bad)


def test_check_shapes_reference_message() -> None:
    message = (
        "Number of patch dimension 2, do not match the number of spatial dimensions "
        "3, for `patch_size=[8, 8]` and `spatial_shape=(4, 32, 32)`."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        check_shapes([(1, 1, 32, 32), (1, 1, 4, 32, 32)], 2, [8, 8])
    with pytest.raises(ValueError, match="must not be negative"):
        check_shapes([(1, 1, -1, 32)], 2)
    assert check_shapes([], 2).shape == (0, 4)


def test_sample_layout() -> None:
    layout = SampleLayout.from_shapes(check_shapes([(2, 1, 8, 9), (3, 2, 4, 5)], 2))
    assert layout.n_samples == 5
    assert layout.data_idx.tolist() == [0, 0, 1, 1, 1]
    assert layout.sample_idx.tolist() == [0, 1, 0, 1, 2]
    assert layout.spatial.tolist() == [[8, 9]] * 2 + [[4, 5]] * 3
    assert layout.flat_sample(1, 2) == 4
    with pytest.raises(IndexError, match="0 <= data_idx < 2, got 2"):
        layout.flat_sample(2, 0)
    with pytest.raises(IndexError, match="image stack 0: expected 0 <= sample_idx < 2"):
        layout.flat_sample(0, 2)
