"""The block graph of the background filters: block plans, block tasks, one stack."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

import dask.array as da
import numpy as np
import numpy.typing as npt
import xarray as xr
from dask.base import tokenize
from numpy.lib.stride_tricks import sliding_window_view

if TYPE_CHECKING:
    from collections.abc import Sequence

    from careamics_dask.graph.filters._rules import RegionFilter

__all__ = [
    "build_stack_background",
    "evaluate_background_block",
    "grid_shape",
    "plan_block_chunks",
    "reference_channel",
    "shape_of",
]

# Region pixels gathered at once inside a task (float32): bounds a task's memory.
_GROUP_PIXELS = 2**22
# Pixels per block for NumPy-backed stacks (which have no storage chunks).
_IN_MEMORY_BLOCK_PIXELS = 2**20


def plan_block_chunks(
    storage_chunks: Sequence[int], patch: int, n_cells: int, length: int | None = None
) -> tuple[int, ...]:
    """Return block sizes along one axis in cells, close to the storage chunks.

    The grid has ``n_cells - 1`` cells, whose regions reach ``n_cells * patch``
    pixels, of which the first ``length`` exist. Storage chunk boundaries are
    moved to the nearest cell boundary, so a block reads about one storage chunk
    plus a one-cell halo from the next. The last block is merged into the one
    before it until it has two cells and at least a cell of existing pixels
    (the halo of the block before it).

    Parameters
    ----------
    storage_chunks : sequence of int
        Chunk lengths of the stored axis, in pixels.
    patch : int
        The patch size along the axis (a cell's length).
    n_cells : int
        The number of grid cells plus one, at least 2.
    length : int, optional
        The pixels that exist, at most ``n_cells * patch`` (the default).

    Returns
    -------
    tuple of int
        Block lengths in cells, summing to ``n_cells``.

    Examples
    --------
    >>> plan_block_chunks([100, 100, 30], 32, 8)
    (3, 3, 2)
    >>> plan_block_chunks([100, 100, 30], 32, 8, length=210)
    (3, 5)
    >>> plan_block_chunks([256, 256, 256], 64, 13)
    (4, 4, 5)
    """
    length = n_cells * patch if length is None else length
    bounds = np.cumsum(np.asarray(storage_chunks, dtype=np.int64))[:-1]
    cells = np.unique(np.rint(bounds / patch).astype(np.int64))
    cells = cells[(cells > 0) & (cells < n_cells)]
    sizes = np.diff(np.concatenate([[0], cells, [n_cells]])).tolist()
    while len(sizes) > 1 and (
        sizes[-1] < 2 or length - (n_cells - sizes[-1]) * patch < patch
    ):
        sizes[-2:] = [sizes[-2] + sizes[-1]]
    return tuple(int(s) for s in sizes)


def evaluate_background_block(
    block: npt.NDArray[np.generic],
    *,
    patch_filter: RegionFilter,
    patch_size: tuple[int, ...],
    block_info: dict[Any, Any] | None = None,
) -> npt.NDArray[np.bool_]:
    """Decide the regions of the grid cells a block starts, as float32 pixels.

    A block holds whole cells along each spatial axis plus a one-cell halo on
    the high side, or, at the image's end, whatever pixels remain: it is padded
    with zeros to ``cells + 1`` cells (the reference's zero padding) while cast
    to float32 as the reference's patches are. The regions are gathered in
    bounded groups and decided by the filter, vectorized.

    Parameters
    ----------
    block : numpy.ndarray
        ``(s, *spatial)`` pixels of the reference channel.
    patch_filter : RegionFilter
        The rule.
    patch_size : tuple of int
        The patch size along ``(Z,) Y, X``.
    block_info : dict, optional
        Dask's block information; its output ``chunk-shape`` gives the number of
        cells. Without it, the block holds whole cells and a full halo.

    Returns
    -------
    numpy.ndarray
        ``(s, *cells)`` booleans, True for background.

    Examples
    --------
    >>> from careamics_dask.graph.filters._rules import MaskPatchFilter
    >>> block = np.zeros((1, 6, 4), np.uint8)
    >>> block[0, 2:, :] = 1
    >>> evaluate_background_block(
    ...     block, patch_filter=MaskPatchFilter(0.6), patch_size=(2, 2)
    ... ).tolist()
    [[[True], [False]]]
    """
    if block_info is not None:
        cells = tuple(int(n) for n in block_info[None]["chunk-shape"][1:])
    else:
        cells = tuple(
            n // p - 1 for n, p in zip(block.shape[1:], patch_size, strict=True)
        )
    decisions = np.zeros((block.shape[0], *cells), dtype=np.bool_)
    if decisions.size == 0:
        return decisions
    extent = tuple((c + 1) * p for c, p in zip(cells, patch_size, strict=True))
    pixels = np.zeros((block.shape[0], *extent), dtype=np.float32)
    inside = tuple(
        slice(0, min(n, e)) for n, e in zip(block.shape[1:], extent, strict=True)
    )
    pixels[(slice(None), *inside)] = block[(slice(None), *inside)]
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


def shape_of(stack: Any) -> tuple[int, ...]:
    """Return an array's shape as ints (NumPy, Dask or xarray)."""
    return tuple(int(n) for n in np.shape(stack))


def reference_channel(
    stack: Any, ref_channel: int, patch: tuple[int, ...], index: int
) -> Any:
    """Return ``(S, *spatial)`` pixels of the reference channel (NumPy or Dask)."""
    data = stack.data if isinstance(stack, xr.DataArray) else stack
    shape = shape_of(data)
    if len(shape) != 2 + len(patch):
        raise ValueError(
            f"Image stack {index} has the wrong number of axes for the filter: "
            f"expected S C {'Z ' if len(patch) == 3 else ''}Y X "
            f"({2 + len(patch)} axes for patch size {list(patch)}), got shape "
            f"{shape}. Open images with careamics_dask.loaders.open_images."
        )
    if not 0 <= ref_channel < shape[1]:
        raise ValueError(
            f"Filter reference channel out of range: expected 0 <= ref_channel < "
            f"{shape[1]}, got {ref_channel} (image stack {index}, shape {shape}). "
            "`ref_channel` indexes the raw data's channels, before `channels`."
        )
    return data[:, ref_channel]


def grid_shape(
    spatial: tuple[int, ...],
    patch: tuple[int, ...],
    grid_shapes: Sequence[Sequence[int]] | None,
    index: int,
) -> tuple[int, ...]:
    """Return a stack's grid shape: given, or ``(shape + 1) // patch``."""
    if grid_shapes is None:
        return tuple((n + 1) // p for n, p in zip(spatial, patch, strict=True))
    grid = tuple(int(g) for g in grid_shapes[index])
    if len(grid) != len(patch) or any(g < 0 for g in grid):
        raise ValueError(
            f"Grid shape of image stack {index} is invalid: expected {len(patch)} "
            f"non-negative sizes, got {list(grid)}. Use (shape + 1) // patch_size."
        )
    return grid


def build_stack_background(
    pixels: Any,
    patch_filter: RegionFilter,
    patch: tuple[int, ...],
    grid: tuple[int, ...],
) -> da.Array:
    """Return the lazy ``(S, *grid)`` decisions of one stack's reference channel."""
    n_samples, spatial = int(pixels.shape[0]), shape_of(pixels)[1:]
    if n_samples == 0 or math.prod(grid) == 0:
        empty: da.Array = da.zeros((n_samples, *grid), dtype=np.bool_, chunks=-1)
        return empty
    if isinstance(pixels, da.Array):
        storage = pixels.chunks[1:]
    else:  # in memory: blocks of about _IN_MEMORY_BLOCK_PIXELS pixels
        edge = round(_IN_MEMORY_BLOCK_PIXELS ** (1 / len(patch)))
        storage = tuple((edge,) * -(-n // edge) for n in spatial)
        pixels = da.from_array(pixels, chunks=(1, *(c[0] for c in storage)))
    # pixels beyond the grid's regions are not read; those missing are zeros,
    # added by the task at the end of each axis
    extent = [min(n, (g + 1) * p) for n, g, p in zip(spatial, grid, patch, strict=True)]
    plans = [
        plan_block_chunks(c, p, g + 1, e)
        for c, p, g, e in zip(storage, patch, grid, extent, strict=True)
    ]
    pixels = pixels[(slice(None), *(slice(0, e) for e in extent))]
    in_blocks = [
        (*(c * p for c in plan[:-1]), e - (sum(plan) - plan[-1]) * p)
        for plan, p, e in zip(plans, patch, extent, strict=True)
    ]
    pixels = pixels.rechunk(((1,) * n_samples, *in_blocks))
    out_chunks = tuple((*plan[:-1], plan[-1] - 1) for plan in plans)
    name = "careamics-filter-" + tokenize(pixels, patch_filter, patch)
    result = da.map_overlap(
        evaluate_background_block,
        pixels,
        depth={0: 0, **{axis + 1: (0, p) for axis, p in enumerate(patch)}},
        boundary="none",
        trim=False,
        chunks=((1,) * n_samples, *out_chunks),
        dtype=np.bool_,
        meta=np.empty((0,) * (1 + len(patch)), dtype=np.bool_),
        name=name,
        patch_filter=patch_filter,
        patch_size=patch,
    )
    return cast("da.Array", result)
