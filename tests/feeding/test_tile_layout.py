"""Tile layouts and the views that read regions from pieces of tiles."""

from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.feeding._tile_layout import TileLayout, TileView

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("shape", [(3, 2, 70, 90), (2, 1, 9, 40, 33)])
def test_views_of_tiles_equal_the_array(shape: tuple[int, ...]) -> None:
    array = RNG.integers(0, 1000, shape).astype(np.uint16)
    layout = TileLayout.of("input", 0, array)
    layout = TileLayout(
        role="input",
        data_idx=0,
        shape=layout.shape,
        dtype=layout.dtype,
        tile=tuple(max(1, n // 3) for n in shape[2:]),  # several tiles per axis
    )
    tiles = dict(layout.tiles(array))
    assert sum(t.nbytes for t in tiles.values()) == array.nbytes
    for _ in range(20):
        sample: int = int(RNG.integers(shape[0]))
        low = np.array([int(RNG.integers(n)) for n in shape[2:]])
        high = np.array(
            [
                int(RNG.integers(lo + 1, n + 1))
                for lo, n in zip(low, shape[2:], strict=True)
            ]
        )
        boxes = layout.boxes(np.array([sample]), low[None], high[None])
        # only the parts of the tiles it needs
        pieces = {
            key: (lo, tiles[key][(slice(None), *map(slice, lo, hi))])
            for key, (lo, hi) in boxes.items()
        }
        view = TileView(layout, pieces)
        box: tuple[int | slice, ...] = (
            sample,
            slice(None),
            *(slice(int(a), int(b)) for a, b in zip(low, high, strict=True)),
        )
        np.testing.assert_array_equal(view[box], array[box])


def test_reads_outside_the_pieces_are_fetched() -> None:
    array = RNG.integers(0, 1000, (1, 2, 40, 40)).astype(np.uint16)
    layout = TileLayout(
        role="input", data_idx=0, shape=array.shape, dtype="uint16", tile=(16, 16)
    )
    tiles = dict(layout.tiles(array))
    asked = []

    def fetch(key: tuple[int, ...], box: tuple[tuple[int, ...], ...]) -> np.ndarray:
        asked.append((key, box))
        return tiles[key][(slice(None), *map(slice, *box))]

    # the task got only the top-left tile's corner; the read needs more of it
    # and a part of the next tile along X
    view = TileView(
        layout,
        {layout.key(0, (0, 0)): ((0, 0), tiles[layout.key(0, (0, 0))][:, :4, :4])},
        fetch,
    )
    box = (0, slice(None), slice(2, 10), slice(3, 20))
    np.testing.assert_array_equal(view[box], array[box])
    assert asked == [
        (layout.key(0, (0, 0)), ((2, 3), (10, 16))),
        (layout.key(0, (0, 1)), ((2, 0), (10, 4))),
    ]
    inside = TileView(
        layout, {layout.key(0, (0, 0)): ((0, 0), tiles[layout.key(0, (0, 0))])}
    )
    with pytest.raises(KeyError, match="not among this task's pieces"):
        inside[box]
