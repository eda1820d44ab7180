"""Tile coverage: the crops partition every image; the tiles a resumed run needs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.predict.stitch import tile_columns

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from careamics_dask.patching import PatchTable
    from careamics_dask.predict.stitch import ChunkGrid

__all__ = ["check_tiles_partition", "select_needed_tiles"]

logger = logging.getLogger(__name__)


def check_tiles_partition(table: PatchTable, shapes: Sequence[Sequence[int]]) -> None:
    """Check that the crops of a table cover every image exactly once.

    Every crop must lie inside its tile and its image, and the crops of each
    sample must add up to the sample's size (with the bounds, and the tiled
    patching's even overlaps, this is an exact partition).

    Parameters
    ----------
    table : PatchTable
        A tiled or whole-image table.
    shapes : Sequence[Sequence[int]]
        The ``S C (Z) Y X`` shape of every image stack.

    Raises
    ------
    ValueError
        When a crop leaves its tile or image, or the crops of a sample do not add
        up to its size.
    """
    crop_coords, crop_size, stitch = tile_columns(table)
    spatial = np.array([tuple(s)[2:] for s in shapes], dtype=np.int64)
    limits = spatial[table.data_idx]
    outside = (
        (crop_coords < 0)
        | (crop_coords + crop_size > table.patch_size)
        | (stitch < 0)
        | (stitch + crop_size > limits)
        | (crop_size < 1)
    ).any(axis=1)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"Tile {row} cannot be stitched: its crop (start "
            f"{crop_coords[row].tolist()}, size {crop_size[row].tolist()}) at "
            f"{stitch[row].tolist()} must lie inside the tile "
            f"{table.patch_size[row].tolist()} and the image "
            f"{limits[row].tolist()}. Use a table from tiled or whole patching."
        )
    samples = np.array([int(s[0]) for s in shapes], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(samples)))
    keys = offsets[table.data_idx] + table.sample_idx
    covered = np.bincount(
        keys, weights=np.prod(crop_size, axis=1), minlength=int(offsets[-1])
    )
    expected = np.repeat(np.prod(spatial, axis=1), samples)
    wrong = np.flatnonzero(covered != expected)
    if len(wrong):
        key = int(wrong[0])
        stack = int(np.searchsorted(offsets, key, side="right") - 1)
        raise ValueError(
            f"The tiles of image {stack}, sample {key - offsets[stack]} do not "
            f"cover it exactly once: their crops hold {int(covered[key])} pixels, "
            f"expected {int(expected[key])}. Use tiled patching with even overlaps, "
            "or whole patching."
        )


def select_needed_tiles(
    table: PatchTable,
    grids: Sequence[ChunkGrid],
    done: Sequence[npt.NDArray[np.bool_]],
) -> npt.NDArray[np.bool_]:
    """Tell which tiles touch a chunk that is not written yet.

    Parameters
    ----------
    table : PatchTable
        The tile table.
    grids : Sequence[ChunkGrid]
        The output grid of every image stack.
    done : Sequence[numpy.ndarray]
        Per stack, ``(S, *grid.counts)`` booleans of the chunks already written.

    Returns
    -------
    numpy.ndarray
        One boolean per row: True where the tile must be predicted.
    """
    needed = np.ones(len(table), dtype=np.bool_)
    if not any(mask.any() for mask in done):
        return needed
    _, crop_size, stitch = tile_columns(table)
    for row in range(len(table)):
        data_idx = int(table.data_idx[row])
        spans = grids[data_idx].span(stitch[row], crop_size[row])
        box: tuple[Any, ...] = (
            int(table.sample_idx[row]),
            *(slice(r.start, r.stop) for r in spans),
        )
        needed[row] = not done[data_idx][box].all()
    return needed
