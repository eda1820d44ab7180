"""Tree reductions of statistics partials: one task per block, merged by Dask.

Block partials (:mod:`careamics_dask.graph.statistics._partials`) merge along the
block axes with ``dask.array.reduction``, so only one small row per channel comes
back to the client.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import dask.array as da
import numpy as np
import numpy.typing as npt
from dask.base import tokenize
from dask.delayed import delayed

from careamics_dask.graph.statistics._partials import (
    HISTOGRAM,
    compute_block_partials,
    merge_partials,
)

if TYPE_CHECKING:
    from careamics_dask.graph.statistics._histogram import HistogramPlan

__all__ = ["combine_partials", "reduce_partials", "reduce_stack"]

FloatArray = npt.NDArray[np.float64]


def combine_partials(
    partials: FloatArray, axis: tuple[int, ...], keepdims: bool, *, exact: bool
) -> FloatArray:
    """Merge partials along the reduced block axes (a ``dask.array.reduction`` step).

    Parameters
    ----------
    partials : numpy.ndarray
        Partials with the channel axis and the partial axis (last) not reduced.
    axis : tuple of int
        The block axes to merge.
    keepdims : bool
        Keep the merged axes with length 1.
    exact : bool
        Whether histograms are exact integer counts.

    Returns
    -------
    numpy.ndarray
        The merged partials.

    Examples
    --------
    >>> from careamics_dask.graph.statistics._partials import PARTIAL_FIELDS, WEIGHT
    >>> parts = np.zeros((3, 2, PARTIAL_FIELDS))
    >>> parts[..., WEIGHT] = 1.0
    >>> combine_partials(parts, (0,), keepdims=True, exact=False)[0, :, WEIGHT]
    array([3., 3.])
    """
    moved = np.moveaxis(partials, axis, tuple(range(len(axis))))
    merged = merge_partials(moved.reshape(-1, *moved.shape[len(axis) :]), exact)
    if not keepdims:
        return merged
    shape = [1 if dim in axis else size for dim, size in enumerate(partials.shape)]
    return merged.reshape(shape)


def _keep_partials(
    partials: FloatArray, axis: tuple[int, ...], keepdims: bool
) -> FloatArray:
    """Pass block partials on unchanged (the reduction's chunk step)."""
    return partials


def reduce_partials(
    partials: da.Array, axis: tuple[int, ...], exact: bool, name: str
) -> da.Array:
    """Tree-merge lazy partials along ``axis`` with ``dask.array.reduction``.

    Parameters
    ----------
    partials : dask.array.Array
        Partials whose channel axis and last axis are not reduced.
    axis : tuple of int
        The axes to merge away.
    exact : bool
        Whether histograms are exact integer counts.
    name : str
        Key prefix of the reduction's tasks.

    Returns
    -------
    dask.array.Array
        ``(C, PARTIAL_FIELDS + n_bins)`` merged partials.
    """
    merge = functools.partial(combine_partials, exact=exact)
    reduced: da.Array = da.reduction(
        partials,
        chunk=_keep_partials,
        combine=merge,
        aggregate=merge,
        axis=axis,
        keepdims=False,
        dtype=np.float64,
        concatenate=True,
        name=name,
        meta=np.empty((0, 0), dtype=np.float64),
    )
    return reduced


def reduce_stack(
    pixels: da.Array,
    region_weights: FloatArray | None,
    cell_size: tuple[int, ...],
    histogram: HistogramPlan,
    moments: bool,
) -> da.Array:
    """Build one stack's merged partials: one task per block, then a tree merge.

    Parameters
    ----------
    pixels : dask.array.Array
        ``(S, C, *spatial)`` pixels.
    region_weights : numpy.ndarray or None
        ``(S, *grid_shape)`` cell weights (one graph key, not a copy per task).
    cell_size : tuple of int
        Cell size along the spatial axes.
    histogram : HistogramPlan
        How blocks histogram their pixels.
    moments : bool
        Whether to compute means and ``M2``.

    Returns
    -------
    dask.array.Array
        ``(C, PARTIAL_FIELDS + n_bins)`` merged partials.
    """
    ndim = pixels.ndim
    values = None if region_weights is None else delayed(region_weights, pure=True)
    token = tokenize(pixels.name, region_weights, cell_size, histogram, moments)
    block_chunks = tuple(
        pixels.chunks[axis] if axis == 1 else (1,) * pixels.numblocks[axis]
        for axis in range(ndim)
    )
    partials = da.map_blocks(
        compute_block_partials,
        pixels,
        values,
        cell_size=cell_size,
        histogram=histogram,
        moments=moments,
        chunks=(*block_chunks, (HISTOGRAM + histogram.n_bins,)),
        new_axis=[ndim],
        dtype=np.float64,
        meta=np.empty((0,) * (ndim + 1), dtype=np.float64),
        name=f"careamics-statistics-block-{token}",
    )
    axis = tuple(dim for dim in range(ndim) if dim != 1)
    name = f"careamics-statistics-merge-{token}"
    return reduce_partials(partials, axis, histogram.exact, name)
