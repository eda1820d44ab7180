"""Whole Dask blocks are computed once per visit and dropped beyond a byte budget."""

from __future__ import annotations

import dask.array as da
import numpy as np

from careamics_dask.graph.reading.block_cache import BlockCache, read_from_blocks


def test_blocks_are_kept_within_the_budget() -> None:
    array = da.arange(64, chunks=16, dtype=np.int64)  # 128 bytes a block
    cache = BlockCache(300)
    first = cache.get(array, (0,))
    assert cache.get(array, (0,)) is first  # computed once
    cache.get(array, (1,))
    cache.get(array, (2,))
    assert cache.nbytes == 256  # the oldest block was dropped
    cache.get(array, (3,), budget=128)
    assert cache.max_bytes == 128
    assert cache.nbytes == 128
    cache.clear()
    assert cache.nbytes == 0


def test_regions_across_blocks_equal_numpy() -> None:
    data = np.arange(2 * 3 * 10 * 12).reshape(2, 3, 10, 12)
    array = da.from_array(data, chunks=(1, 2, 4, 5))
    region = read_from_blocks(array, 1, ((3, 9), (2, 11)))
    np.testing.assert_array_equal(region, data[1, :, 3:9, 2:11])
