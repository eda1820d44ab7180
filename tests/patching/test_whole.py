from __future__ import annotations

import pytest

from careamics_dask.patching.whole import WholePatching


def test_one_patch_per_sample_of_the_stack_size() -> None:
    patching = WholePatching([(2, 1, 64, 64), (1, 3, 43, 71)])
    assert patching.n_patches == 3
    assert not patching.is_random
    assert patching.get_patch_spec(1) == {
        "data_idx": 0, "sample_idx": 1, "coords": (0, 0), "patch_size": (64, 64)
    }  # fmt: skip
    assert patching.get_patch_spec(2)["patch_size"] == (43, 71)
    assert patching.get_patch_indices(0).tolist() == [0, 1]


def test_3d_and_errors() -> None:
    patching = WholePatching([(1, 1, 5, 6, 7)])
    assert patching.table().coords.tolist() == [[0, 0, 0]]
    with pytest.raises(ValueError, match="got none"):
        WholePatching([])
    with pytest.raises(ValueError, match="do not match"):
        WholePatching([(1, 1, 5, 6), (1, 1, 5, 6, 7)])
    with pytest.raises(IndexError, match="WholePatching with number of patches 1"):
        patching.get_patch_spec(1)
