from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.patching.random import RandomPatching
from careamics_dask.patching.strategy import PatchingStrategy, TableStrategy
from careamics_dask.patching.table import PatchTable


class CountingStrategy(TableStrategy):
    is_random = True

    def __init__(self) -> None:
        self._data_idx = np.array([0, 0, 1], dtype=np.int64)
        self.built: list[int] = []

    def _build_table(self, epoch: int) -> PatchTable:
        self.built.append(epoch)
        return PatchTable.from_columns(
            data_idx=self._data_idx,
            sample_idx=[0, 1, 0],
            coords=np.full((3, 2), epoch),
            patch_size=[4, 4],
        )


def test_last_table_is_kept() -> None:
    strategy = CountingStrategy()
    for index in range(3):
        strategy.get_patch_spec(index, epoch=4)
    assert strategy.built == [4]
    strategy.table(5)
    strategy.table(4)
    assert strategy.built == [4, 5, 4]
    assert strategy.get_patch_indices(1).tolist() == [2]
    assert strategy.n_patches == 3


def test_protocol_is_runtime_checkable() -> None:
    assert isinstance(CountingStrategy(), PatchingStrategy)
    assert isinstance(RandomPatching([(1, 1, 8, 8)], [4, 4]), PatchingStrategy)
    assert not isinstance(object(), PatchingStrategy)


def test_base_errors() -> None:
    strategy = CountingStrategy()
    with pytest.raises(IndexError, match="patching strategy with number of patches 3"):
        strategy.get_patch_spec(3)
    with pytest.raises(ValueError, match="Epoch must not be negative"):
        strategy.table(-2)
    with pytest.raises(NotImplementedError):
        TableStrategy()._build_table(0)
