"""Large blocks of a loader's image stack, read straight from its source in one task.

A stack opened by a loader is a Dask array with one task per storage chunk, plus the
tasks of its axes transforms and of any channel selection: about five tasks per chunk
before a reduction adds its own. Over a 4 GiB store of 256 x 256 chunks that is
170,000 tasks, and Dask spends more time ordering and optimizing them (and the client
more memory holding them) than the workers spend decoding pixels.

:func:`source_blocks` builds a Dask array with the same values and far fewer, larger
blocks (several MiB each, aligned to storage chunks): each block is one task that
reads its storage chunks once through the stack's region reader (the synchronous
chunk path of :class:`~careamics_dask.loaders.ChunkReader` for Zarr),
reorders them to ``C (Z) Y X`` and selects channels. Reductions mapped over it fuse
with the read, so a statistics pass is one task per block plus a small tree merge.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from careamics_dask.graph.reading.patch_reader import PatchReader
from careamics_dask.graph.reading.sources import StackSource
from careamics_dask.loaders import reader_binding

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt
    import xarray as xr

__all__ = ["BLOCK_BYTES", "group_chunks", "source_blocks"]

BLOCK_BYTES = 16 * 2**20
"""Target bytes (source dtype, all selected channels) of one block."""


def group_chunks(
    chunks: Sequence[tuple[int, ...]], bytes_per_pixel: int, limit: int
) -> tuple[tuple[int, ...], ...]:
    """Merge neighbouring chunks along spatial axes into blocks of at most ``limit``.

    The last axis grows first (whole rows are contiguous in most stores), then the
    axes before it, each by whole storage chunks, while a block stays within
    ``limit`` bytes; a single storage chunk larger than ``limit`` stays one block.

    Parameters
    ----------
    chunks : sequence of tuple of int
        Storage chunk sizes along each spatial axis.
    bytes_per_pixel : int
        Bytes of one spatial position (channels times item size).
    limit : int
        Target block size in bytes.

    Returns
    -------
    tuple of tuple of int
        Block sizes along each spatial axis (they add up to the axis lengths).

    Examples
    --------
    >>> group_chunks([(4, 4, 4, 4), (4, 4, 4, 4)], bytes_per_pixel=2, limit=128)
    ((4, 4, 4, 4), (16,))
    """
    per_block = [1] * len(chunks)  # storage chunks per block along each axis
    for axis in reversed(range(len(chunks))):
        largest = max(chunks[axis])
        other = math.prod(
            max(chunks[a]) * per_block[a] for a in range(len(chunks)) if a != axis
        )
        fit = max(1, limit // max(1, bytes_per_pixel * other * largest))
        per_block[axis] = min(len(chunks[axis]), fit)
        if per_block[axis] < len(chunks[axis]):
            break  # the axes before this one stay one chunk deep
    return tuple(
        tuple(sum(sizes[i : i + n]) for i in range(0, len(sizes), n))
        for sizes, n in zip(chunks, per_block, strict=True)
    )


def _read_block(
    source: StackSource,
    channels: tuple[int, ...] | None,
    block_info: dict[Any, Any] | None = None,
) -> npt.NDArray[Any]:
    """Read one block ``(1, C', *spatial)`` of a stack from its source."""
    if block_info is None:
        raise ValueError(
            "Block location missing: expected block_info from dask.array.map_blocks, "
            "got None. Call this function through map_blocks."
        )
    (sample, _), _, *spatial = block_info[None]["array-location"]
    reader = PatchReader([source], threads=4, channels=channels)
    region = reader.region(0, int(sample), tuple(spatial))
    if channels is not None:
        region = region[list(channels)]
    return region[np.newaxis]


def source_blocks(
    stack: xr.DataArray,
    channels: Sequence[int] | None = None,
    *,
    block_bytes: int = BLOCK_BYTES,
) -> da.Array | None:
    """Return the stack's pixels as large blocks read from its source, or None.

    Parameters
    ----------
    stack : xarray.DataArray
        A canonical ``S C (Z) Y X`` stack.
    channels : sequence of int, optional
        Channels to keep, in order; all by default.
    block_bytes : int, default BLOCK_BYTES
        Target size of a block in the source dtype.

    Returns
    -------
    dask.array.Array or None
        ``(S, C', *spatial)`` in the source dtype, one block per sample and group of
        storage chunks, all selected channels in one block; None when the stack has
        no region reader (NumPy data, a user's Dask array, a read function).
    """
    binding = reader_binding(stack)
    if binding is None or not isinstance(stack.data, da.Array):
        return None
    source = StackSource.from_stack(stack)
    selected = None if channels is None else tuple(int(c) for c in channels)
    n_channels = stack.shape[1] if selected is None else len(selected)
    dtype = np.dtype(stack.dtype)
    spatial = group_chunks(
        [tuple(int(c) for c in sizes) for sizes in stack.data.chunks[2:]],
        n_channels * dtype.itemsize,
        block_bytes,
    )
    chunks = ((1,) * stack.shape[0], (n_channels,), *spatial)
    blocks: da.Array = da.map_blocks(
        _read_block,
        source,
        selected,
        chunks=chunks,
        dtype=dtype,
        meta=np.empty((0,) * stack.ndim, dtype=dtype),
        name=f"careamics-source-blocks-{tokenize(stack.data.name, selected, chunks)}",
    )
    return blocks
