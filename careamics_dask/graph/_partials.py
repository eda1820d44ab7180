"""Per-block statistics partials, packed in float64 rows, and their tree merge.

A partial describes the weighted pixels of one channel of one block as a row of
``PARTIAL_FIELDS + n_bins`` float64 values: total weight, weighted mean, weighted sum
of squared deviations (``M2``), minimum, maximum, then an optional histogram over
``[minimum, maximum]`` (see :mod:`careamics_dask.graph._histogram`). Only pixels of
positive weight count. An empty partial has weight 0, minimum ``inf`` and maximum
``-inf``. Partials merge exactly (means and ``M2`` by Chan's parallel formula, which
sums squared deviations and never subtracts ``E[x]^2`` from ``E[x^2]``), except for
histograms, which are re-binned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from careamics_dask.graph._histogram import bin_values, merge_histograms

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "HISTOGRAM",
    "M2",
    "MAXIMUM",
    "MEAN",
    "MINIMUM",
    "PARTIAL_FIELDS",
    "WEIGHT",
    "combine_partials",
    "compute_block_partials",
    "expand_region_weights",
    "merge_partials",
]

FloatArray = npt.NDArray[np.float64]

WEIGHT, MEAN, M2, MINIMUM, MAXIMUM = range(5)
PARTIAL_FIELDS = 5
"""Fields before the histogram bins in a partial row."""
HISTOGRAM = PARTIAL_FIELDS
"""Index of the first histogram bin in a partial row."""


def expand_region_weights(
    values: FloatArray,
    cell_size: Sequence[int],
    location: Sequence[tuple[int, int]],
) -> FloatArray:
    """Give every pixel of a block the weight of the grid cell that holds it.

    Parameters
    ----------
    values : numpy.ndarray
        ``(S, *grid_shape)`` weights of a stack's grid cells.
    cell_size : sequence of int
        Cell size along the spatial axes.
    location : sequence of (int, int)
        The block's ``(start, stop)`` along ``S, C, *spatial``.

    Returns
    -------
    numpy.ndarray
        ``(s, *spatial)`` weights of the block's pixels; pixels past the grid take
        the last cell.

    Examples
    --------
    >>> expand_region_weights(
    ...     np.array([[1.0, 0.5]]), [2], [(0, 1), (0, 1), (1, 6)]
    ... ).tolist()
    [[1.0, 0.5, 0.5, 0.5, 0.5]]
    """
    (first, last), _, *spatial = location
    weights = values[first:last]
    for axis, ((start, stop), cell) in enumerate(
        zip(spatial, cell_size, strict=True), start=1
    ):
        cells = np.minimum(np.arange(start, stop) // cell, weights.shape[axis] - 1)
        weights = np.take(weights, cells, axis=axis)
    return weights


def _channel_partial(
    pixels: FloatArray, weights: FloatArray | None, n_bins: int, moments: bool
) -> FloatArray:
    """Return the partial row of the flat float64 pixels of one channel."""
    row = np.zeros(PARTIAL_FIELDS + n_bins)
    row[MINIMUM], row[MAXIMUM] = np.inf, -np.inf
    if pixels.size == 0:
        return row
    total = float(pixels.size) if weights is None else float(weights.sum())
    low, high = float(pixels.min()), float(pixels.max())
    row[WEIGHT], row[MINIMUM], row[MAXIMUM] = total, low, high
    if moments:
        if weights is None:
            mean = float(pixels.mean())
            deviations = pixels - mean
            row[M2] = float(deviations @ deviations)
        else:
            mean = float(weights @ pixels) / total
            deviations = pixels - mean
            row[M2] = float((weights * deviations) @ deviations)
        row[MEAN] = mean
    if n_bins:
        row[HISTOGRAM:] = bin_values(pixels, weights, low, high, n_bins)
    return row


def compute_block_partials(
    block: npt.NDArray[Any],
    region_weights: FloatArray | None,
    *,
    cell_size: tuple[int, ...],
    n_bins: int,
    moments: bool,
    block_info: dict[Any, Any] | None = None,
) -> FloatArray:
    """Compute the partial of every channel of one ``(S, C, *spatial)`` block.

    Parameters
    ----------
    block : numpy.ndarray
        Pixels of any real dtype.
    region_weights : numpy.ndarray or None
        ``(S, *grid_shape)`` weights of the whole stack, ``None`` for uniform.
    cell_size : tuple of int
        Grid cell size along the spatial axes (unused without weights).
    n_bins : int
        Histogram bins; 0 computes no histogram.
    moments : bool
        Whether to compute the mean and ``M2`` (zero otherwise).
    block_info : dict, optional
        Filled in by :func:`dask.array.map_blocks`; gives the block's location.

    Returns
    -------
    numpy.ndarray
        ``(1, c, 1, ..., 1, PARTIAL_FIELDS + n_bins)``: one partial row per channel.

    Examples
    --------
    >>> block = np.arange(8, dtype=np.uint8).reshape(1, 2, 2, 2)
    >>> compute_block_partials(block, None, cell_size=(), n_bins=0, moments=True)[
    ...     0, :, 0, 0
    ... ].tolist()
    [[4.0, 1.5, 5.0, 0.0, 3.0], [4.0, 5.5, 5.0, 4.0, 7.0]]
    """
    weights = None
    if region_weights is not None:
        if block_info is None:
            raise ValueError(
                "Block location missing: expected block_info from dask.array.map_blocks"
                ", got None. Call this function through map_blocks."
            )
        location = block_info[0]["array-location"]
        weights = expand_region_weights(region_weights, cell_size, location)
        keep = weights > 0
        weights = None if keep.all() and (weights == 1).all() else weights
    rows = []
    for channel in range(block.shape[1]):
        pixels = np.asarray(block[:, channel], dtype=np.float64)
        if weights is None:
            rows.append(_channel_partial(pixels.ravel(), None, n_bins, moments))
        else:
            rows.append(_channel_partial(pixels[keep], weights[keep], n_bins, moments))
    partials = np.stack(rows) if rows else np.zeros((0, PARTIAL_FIELDS + n_bins))
    shape = (1, block.shape[1], *(1,) * (block.ndim - 2), partials.shape[-1])
    return partials.reshape(shape)


def merge_partials(partials: FloatArray) -> FloatArray:
    """Merge partial rows along the first axis.

    Parameters
    ----------
    partials : numpy.ndarray
        ``(M, C, PARTIAL_FIELDS + n_bins)`` partials of the same channels.

    Returns
    -------
    numpy.ndarray
        ``(C, PARTIAL_FIELDS + n_bins)`` merged partials.

    Examples
    --------
    >>> a = compute_block_partials(np.array([[[1.0, 2.0]]]), None, cell_size=(),
    ...                            n_bins=0, moments=True)
    >>> b = compute_block_partials(np.array([[[3.0, 4.0]]]), None, cell_size=(),
    ...                            n_bins=0, moments=True)
    >>> merge_partials(np.stack([a[0], b[0]])[:, :, 0]).tolist()
    [[4.0, 2.5, 5.0, 1.0, 4.0]]
    """
    weight = partials[..., WEIGHT]
    total = weight.sum(axis=0)
    safe = np.where(total > 0, total, 1.0)
    mean = (weight * partials[..., MEAN]).sum(axis=0) / safe
    deviations = np.where(weight > 0, partials[..., MEAN] - mean, 0.0)
    m2 = partials[..., M2].sum(axis=0) + (weight * deviations**2).sum(axis=0)
    merged = np.zeros(partials.shape[1:])
    merged[:, WEIGHT], merged[:, MEAN], merged[:, M2] = total, mean, m2
    merged[:, MINIMUM] = partials[..., MINIMUM].min(axis=0, initial=np.inf)
    merged[:, MAXIMUM] = partials[..., MAXIMUM].max(axis=0, initial=-np.inf)
    if partials.shape[-1] > HISTOGRAM:
        for channel in range(partials.shape[1]):
            rows = partials[weight[:, channel] > 0, channel]
            _, _, counts = merge_histograms(
                rows[:, MINIMUM], rows[:, MAXIMUM], rows[:, HISTOGRAM:]
            )
            merged[channel, HISTOGRAM:] = counts
    return merged


def combine_partials(
    partials: FloatArray, axis: tuple[int, ...], keepdims: bool
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

    Returns
    -------
    numpy.ndarray
        The merged partials.

    Examples
    --------
    >>> parts = np.zeros((3, 2, 6))
    >>> parts[..., WEIGHT] = 1.0
    >>> combine_partials(parts, (0,), keepdims=True).shape
    (1, 2, 6)
    """
    moved = np.moveaxis(partials, axis, tuple(range(len(axis))))
    merged = merge_partials(moved.reshape(-1, *moved.shape[len(axis) :]))
    if not keepdims:
        return merged
    shape = [1 if dim in axis else size for dim, size in enumerate(partials.shape)]
    return merged.reshape(shape)
