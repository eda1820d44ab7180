"""Block tasks of the background filters: grid-aligned blocks and their decisions."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

if TYPE_CHECKING:
    from collections.abc import Sequence

    from careamics_dask.graph._filter_rules import RegionFilter

__all__ = ["evaluate_background_block", "plan_block_chunks"]

# Region pixels gathered at once inside a task (float32): bounds a task's memory.
_GROUP_PIXELS = 2**22


def plan_block_chunks(
    storage_chunks: Sequence[int], patch: int, n_cells: int
) -> tuple[int, ...]:
    """Return block sizes along one axis: whole cells, close to the storage chunks.

    The axis is ``n_cells * patch`` pixels long (the grid cells plus one, padded).
    Storage chunk boundaries are moved to the nearest cell boundary, so each
    block reads about one storage chunk; a last block of one cell (which holds
    halo only) is merged into the one before it.

    Parameters
    ----------
    storage_chunks : sequence of int
        Chunk lengths of the stored axis, in pixels.
    patch : int
        The patch size along the axis (a cell's length).
    n_cells : int
        The number of cells along the padded axis, at least 2.

    Returns
    -------
    tuple of int
        Block lengths in pixels, each a multiple of ``patch``, summing to
        ``n_cells * patch``.

    Examples
    --------
    >>> plan_block_chunks([100, 100, 30], 32, 8)
    (96, 96, 64)
    >>> plan_block_chunks([250], 32, 9)
    (288,)
    >>> plan_block_chunks([64, 64, 64], 32, 5)
    (64, 96)
    """
    bounds = np.cumsum(np.asarray(storage_chunks, dtype=np.int64))[:-1]
    cells = np.unique(np.rint(bounds / patch).astype(np.int64))
    cells = cells[(cells > 0) & (cells < n_cells)]
    sizes = np.diff(np.concatenate([[0], cells, [n_cells]])).tolist()
    if len(sizes) > 1 and sizes[-1] < 2:
        sizes[-2:] = [sizes[-2] + sizes[-1]]
    return tuple(int(s) * patch for s in sizes)


def evaluate_background_block(
    block: npt.NDArray[np.generic],
    *,
    patch_filter: RegionFilter,
    patch_size: tuple[int, ...],
) -> npt.NDArray[np.bool_]:
    """Decide every region whose ``2 * patch`` window starts in a block's cells.

    The block holds whole cells along each spatial axis, including a one-cell
    halo on the high side except at the image's end, and zeros beyond the
    image. Its pixels are cast to float32 as the reference's patches are, the
    regions starting at each cell but the last are gathered in bounded groups
    and decided by the filter, vectorized.

    Parameters
    ----------
    block : numpy.ndarray
        ``(s, *spatial)`` pixels of the reference channel; each spatial length a
        multiple of the patch size.
    patch_filter : RegionFilter
        The rule.
    patch_size : tuple of int
        The patch size along ``(Z,) Y, X``.

    Returns
    -------
    numpy.ndarray
        ``(s, *(length // patch - 1))`` booleans, True for background.

    Examples
    --------
    >>> from careamics_dask.graph._filter_rules import MaskPatchFilter
    >>> block = np.zeros((1, 6, 4), np.uint8)
    >>> block[0, 2:, :] = 1
    >>> evaluate_background_block(
    ...     block, patch_filter=MaskPatchFilter(0.6), patch_size=(2, 2)
    ... ).tolist()
    [[[True], [False]]]
    """
    cells = tuple(n // p - 1 for n, p in zip(block.shape[1:], patch_size, strict=True))
    decisions = np.zeros((block.shape[0], *cells), dtype=np.bool_)
    if decisions.size == 0:
        return decisions
    pixels = block.astype(np.float32)
    region = tuple(2 * p for p in patch_size)
    windows = sliding_window_view(pixels, region, axis=tuple(range(1, pixels.ndim)))
    windows = windows[(slice(None), *(slice(None, None, p) for p in patch_size))]
    flat = decisions.reshape(-1)
    group = max(1, _GROUP_PIXELS // math.prod(region))
    with np.errstate(all="ignore"):
        for start in range(0, flat.size, group):
            index = np.arange(start, min(start + group, flat.size))
            regions = windows[np.unravel_index(index, decisions.shape)]
            flat[index] = patch_filter.filter_out_regions(regions)
    return decisions
