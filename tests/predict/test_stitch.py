from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.patching import TiledPatching
from careamics_dask.predict.coverage import check_tiles_partition
from careamics_dask.predict.stitch import (
    ChunkGrid,
    ImageStitcher,
    crop_tile,
    tile_columns,
)

RNG = np.random.default_rng(3)


def stitch_image(
    image: np.ndarray, tile: list[int], overlaps: list[int], chunks: tuple[int, ...]
) -> tuple[np.ndarray, list[tuple[int, ...]], int]:
    """Tile an image C(Z)YX, stitch the tiles back; return image, chunks, peak bands."""
    shape = (1, *image.shape)
    table = TiledPatching([shape], tile, overlaps).table(0)
    check_tiles_partition(table, [shape])
    grid = ChunkGrid.create(image.shape[1:], chunks)
    stitcher = ImageStitcher(0, grid, image.shape[0])
    out = np.full(image.shape, np.nan, dtype=np.float32)
    seen: list[tuple[int, ...]] = []
    peak = 0
    crop_coords, crop_size, stitch = tile_columns(table)
    for i in range(len(table)):
        start = table.coords[i]
        tile_data = np.zeros((image.shape[0], *tile), dtype=np.float32)
        view = image[
            (slice(None), *(slice(a, a + p) for a, p in zip(start, tile, strict=True)))
        ]
        tile_data[(slice(None), *(slice(0, n) for n in view.shape[1:]))] = view
        stitcher.place(0, stitch[i], crop_tile(tile_data, crop_coords[i], crop_size[i]))
        peak = max(peak, stitcher.open_bands)
        for region in stitcher.completed():
            box = tuple(
                slice(a, a + n)
                for a, n in zip(region.start, region.data.shape[1:], strict=True)
            )
            assert np.isnan(out[(slice(None), *box)]).all(), "written twice"
            out[(slice(None), *box)] = region.data
            # a region starts and ends on chunk boundaries (or the image edge)
            for axis, (a, n) in enumerate(
                zip(region.start, region.data.shape[1:], strict=True)
            ):
                assert a % grid.chunks[axis] == 0
                assert (a + n) % grid.chunks[axis] == 0 or a + n == grid.shape[axis]
            seen.extend((*region.band, k) for k in range(*region.last))
    assert stitcher.open_bands == 0
    return out, seen, peak


@pytest.mark.parametrize(
    ("shape", "tile", "overlaps", "chunks"),
    [
        ((1, 100, 70), [32, 32], [8, 8], (32, 32)),
        ((2, 65, 64), [32, 32], [8, 0], (7, 100)),
        ((1, 20, 13), [32, 32], [8, 8], (8, 8)),
        ((3, 9, 30, 31), [4, 16, 16], [2, 4, 6], (3, 10, 16)),
    ],
)
def test_stitched_chunks_rebuild_the_image_each_chunk_once(
    shape: tuple[int, ...],
    tile: list[int],
    overlaps: list[int],
    chunks: tuple[int, ...],
) -> None:
    image = RNG.random(shape, dtype=np.float32)
    out, seen, _ = stitch_image(image, tile, overlaps, chunks)
    np.testing.assert_array_equal(out, image)
    grid = ChunkGrid.create(shape[1:], chunks)
    assert sorted(seen) == sorted(np.ndindex(*grid.counts))


def test_open_bands_stay_bounded_by_the_tile_rows() -> None:
    image = RNG.random((1, 512, 256), dtype=np.float32)
    _, _, peak = stitch_image(image, [32, 32], [8, 8], (16, 64))
    # tiles run row by row: only the chunk rows of about one tile row are open
    assert peak <= 3


def test_done_chunks_are_skipped_and_not_written() -> None:
    grid = ChunkGrid.create((4, 8), (2, 4))
    done = np.zeros((1, 2, 2), dtype=np.bool_)
    done[0, 0, :] = True
    done[0, 1, 0] = True
    stitcher = ImageStitcher(0, grid, 1, done)
    stitcher.place(0, (0, 0), np.ones((1, 4, 8), np.float32))
    regions = stitcher.completed()
    assert [(r.band, r.last, r.start) for r in regions] == [((1,), (1, 2), (2, 4))]
    assert stitcher.open_bands == 0


def test_place_refuses_crops_that_do_not_fit() -> None:
    stitcher = ImageStitcher(0, ChunkGrid.create((4, 4), (2, 2)), 1)
    with pytest.raises(ValueError, match="does not fit"):
        stitcher.place(0, (2, 2), np.ones((1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="channel count"):
        stitcher.place(0, (0, 0), np.ones((2, 2, 2), np.float32))


def test_chunk_grid_checks_sizes() -> None:
    assert ChunkGrid.create((10, 5), (64, 2)).chunks == (10, 2)
    with pytest.raises(ValueError, match="one positive size"):
        ChunkGrid.create((10, 5), (0, 2))
    with pytest.raises(ValueError, match="one positive size"):
        ChunkGrid.create((10, 5), (4,))
