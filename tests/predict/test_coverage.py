from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.patching import PatchTable, TiledPatching
from careamics_dask.predict.coverage import check_tiles_partition, select_needed_tiles
from careamics_dask.predict.stitch import ChunkGrid, tile_columns


def test_partition_check_names_the_sample() -> None:
    rows = PatchTable.from_columns(
        data_idx=[0, 0],
        sample_idx=[0, 0],
        coords=[[0, 0], [0, 4]],
        patch_size=[8, 8],
        crop_coords=[[0, 0], [0, 0]],
        crop_size=[[8, 4], [8, 3]],
        stitch_coords=[[0, 0], [0, 4]],
        total_tiles=[2, 2],
    )
    with pytest.raises(ValueError, match="image 0, sample 0 do not cover it"):
        check_tiles_partition(rows, [(1, 1, 8, 8)])
    with pytest.raises(ValueError, match="Tile 1 cannot be stitched"):
        check_tiles_partition(rows, [(1, 1, 8, 6)])


def test_needed_tiles_are_those_touching_unwritten_chunks() -> None:
    table = TiledPatching([(2, 1, 64, 64)], [32, 32], [8, 8]).table(0)
    grid = ChunkGrid.create((64, 64), (32, 64))
    done = [np.zeros((2, 2, 1), dtype=np.bool_)]
    assert select_needed_tiles(table, [grid], done).all()
    done[0][0] = True  # sample 0 finished
    done[0][1, 0] = True  # the top half of sample 1 finished
    needed = select_needed_tiles(table, [grid], done)
    assert not needed[table.sample_idx == 0].any()
    _, size, stitch = tile_columns(table)
    crosses = stitch[:, 0] + size[:, 0] > 32
    np.testing.assert_array_equal(needed, (table.sample_idx == 1) & crosses)
