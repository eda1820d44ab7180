"""Per-block statistics partials, packed in float64 rows, and their tree merge.

A partial describes the weighted pixels of one channel of one block as a row of
``PARTIAL_FIELDS + n_bins`` float64 values: total weight, pixel count, weighted mean,
weighted sum of squared deviations (``M2``), minimum, maximum, the histogram's bin
scale and start, then an optional histogram (see
:mod:`careamics_dask.graph.statistics._histogram`). Only pixels of positive weight
count. An empty partial has weight 0, minimum ``inf`` and maximum ``-inf``.
Partials merge exactly: means and ``M2`` by Chan's parallel formula (which sums
squared deviations and never subtracts ``E[x]^2`` from ``E[x^2]``), float
histograms by moving to coarser aligned bins, integer counts by addition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from careamics_dask.graph.statistics._histogram import (
    HistogramPlan,
    bin_values,
    count_values,
    merge_histograms,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "COUNT",
    "HISTOGRAM",
    "M2",
    "MAXIMUM",
    "MEAN",
    "MINIMUM",
    "PARTIAL_FIELDS",
    "SCALE",
    "START",
    "WEIGHT",
    "compute_block_partials",
    "expand_region_weights",
    "merge_partials",
]

FloatArray = npt.NDArray[np.float64]

WEIGHT, COUNT, MEAN, M2, MINIMUM, MAXIMUM, SCALE, START = range(8)
PARTIAL_FIELDS = 8
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
    pixels: FloatArray,
    weights: FloatArray | None,
    histogram: HistogramPlan,
    moments: bool,
) -> FloatArray:
    """Return the partial row of the flat float64 pixels of one channel."""
    row = np.zeros(PARTIAL_FIELDS + histogram.n_bins)
    row[MINIMUM], row[MAXIMUM] = np.inf, -np.inf
    if pixels.size == 0:
        return row
    total = float(pixels.size) if weights is None else float(weights.sum())
    low, high = float(pixels.min()), float(pixels.max())
    row[WEIGHT], row[COUNT] = total, pixels.size
    row[MINIMUM], row[MAXIMUM] = low, high
    if moments:
        # elementwise products and sums, not BLAS dot (its threads fight Dask's)
        if weights is None:
            mean = float(pixels.sum()) / total
            deviations = pixels - mean
            row[M2] = float(np.square(deviations, out=deviations).sum())
        else:
            mean = float((weights * pixels).sum()) / total
            deviations = pixels - mean
            np.square(deviations, out=deviations)
            row[M2] = float(np.multiply(deviations, weights, out=deviations).sum())
        row[MEAN] = mean
    if not (np.isfinite(low) and np.isfinite(high)):
        return row  # NaN or inf pixels: the client reports them
    if histogram.exact:
        row[HISTOGRAM:] = count_values(pixels, weights, histogram)
    elif histogram.n_bins:
        row[SCALE], row[START], row[HISTOGRAM:] = bin_values(
            pixels, weights, low, high, histogram.n_bins
        )
    return row


def _small_integer_partial(pixels: npt.NDArray[Any], moments: bool) -> FloatArray:
    """Return the partial row of flat unweighted integer pixels of at most 16 bits.

    Sums of values and of squares are exact in 64-bit integers (a block would need
    more than 2**31 pixels to overflow), and ``M2 = (n q - s**2) / n`` is evaluated in
    Python integers, so the row is exact up to its final rounding to float64; it
    takes a third of the time of the float64 path.
    """
    row = np.zeros(PARTIAL_FIELDS)
    n = int(pixels.size)
    row[WEIGHT] = row[COUNT] = n
    row[MINIMUM], row[MAXIMUM] = int(pixels.min()), int(pixels.max())
    if moments:
        wide = np.int64 if pixels.dtype.kind == "i" else np.uint64
        total = int(pixels.sum(dtype=wide))
        squares = pixels.astype(np.int32 if pixels.dtype.kind == "i" else np.uint32)
        np.multiply(squares, squares, out=squares)
        sum_squares = int(squares.sum(dtype=wide))
        row[MEAN] = total / n
        row[M2] = (n * sum_squares - total * total) / n
    return row


def _is_small_integer(dtype: np.dtype[Any]) -> bool:
    return dtype.kind in "biu" and dtype.itemsize <= 2


def compute_block_partials(
    block: npt.NDArray[Any],
    region_weights: FloatArray | None,
    *,
    cell_size: tuple[int, ...],
    histogram: HistogramPlan,
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
    histogram : HistogramPlan
        How to histogram the pixels (``n_bins=0`` for no histogram).
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
    >>> none = HistogramPlan(n_bins=0)
    >>> compute_block_partials(block, None, cell_size=(), histogram=none, moments=True)[
    ...     0, :, 0, 0
    ... ].tolist()
    [[4.0, 4.0, 1.5, 5.0, 0.0, 3.0, 0.0, 0.0], [4.0, 4.0, 5.5, 5.0, 4.0, 7.0, 0.0, 0.0]]
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
    fast = weights is None and histogram.n_bins == 0 and _is_small_integer(block.dtype)
    for channel in range(block.shape[1]):
        if fast and block[:, channel].size:
            flat = np.ascontiguousarray(block[:, channel]).reshape(-1)
            rows.append(
                _small_integer_partial(
                    flat.view(np.uint8) if flat.dtype == np.bool_ else flat, moments
                )
            )
            continue
        pixels = np.asarray(block[:, channel], dtype=np.float64)
        if weights is None:
            rows.append(_channel_partial(pixels.ravel(), None, histogram, moments))
        else:
            rows.append(
                _channel_partial(pixels[keep], weights[keep], histogram, moments)
            )
    width = PARTIAL_FIELDS + histogram.n_bins
    partials = np.stack(rows) if rows else np.zeros((0, width))
    shape = (1, block.shape[1], *(1,) * (block.ndim - 2), partials.shape[-1])
    return partials.reshape(shape)


def merge_partials(partials: FloatArray, exact: bool) -> FloatArray:
    """Merge partial rows along the first axis.

    Parameters
    ----------
    partials : numpy.ndarray
        ``(M, C, PARTIAL_FIELDS + n_bins)`` partials of the same channels.
    exact : bool
        Whether histograms are exact integer counts (added, not re-binned).

    Returns
    -------
    numpy.ndarray
        ``(C, PARTIAL_FIELDS + n_bins)`` merged partials.

    Examples
    --------
    >>> none = HistogramPlan(n_bins=0)
    >>> a, b = (
    ...     compute_block_partials(
    ...         np.array([[pixels]]), None, cell_size=(), histogram=none, moments=True
    ...     )
    ...     for pixels in ([1.0, 2.0], [3.0, 4.0])
    ... )
    >>> merge_partials(np.stack([a[0], b[0]])[:, :, 0], exact=False).tolist()
    [[4.0, 4.0, 2.5, 5.0, 1.0, 4.0, 0.0, 0.0]]
    """
    weight = partials[..., WEIGHT]
    total = weight.sum(axis=0)
    safe = np.where(total > 0, total, 1.0)
    mean = (weight * partials[..., MEAN]).sum(axis=0) / safe
    deviations = np.where(weight > 0, partials[..., MEAN] - mean, 0.0)
    m2 = partials[..., M2].sum(axis=0) + (weight * deviations**2).sum(axis=0)
    merged = np.zeros(partials.shape[1:])
    merged[:, WEIGHT], merged[:, MEAN], merged[:, M2] = total, mean, m2
    merged[:, COUNT] = partials[..., COUNT].sum(axis=0)
    merged[:, MINIMUM] = partials[..., MINIMUM].min(axis=0, initial=np.inf)
    merged[:, MAXIMUM] = partials[..., MAXIMUM].max(axis=0, initial=-np.inf)
    if exact:
        merged[:, HISTOGRAM:] = partials[..., HISTOGRAM:].sum(axis=0)
    elif partials.shape[-1] > HISTOGRAM:
        for channel in range(partials.shape[1]):
            extremes = partials[:, channel, MINIMUM : MAXIMUM + 1]
            usable = (weight[:, channel] > 0) & np.isfinite(extremes).all(axis=1)
            rows = partials[usable, channel]
            scale, start, counts = merge_histograms(
                rows[:, MINIMUM],
                rows[:, MAXIMUM],
                rows[:, SCALE],
                rows[:, START],
                rows[:, HISTOGRAM:],
            )
            merged[channel, SCALE], merged[channel, START] = scale, start
            merged[channel, HISTOGRAM:] = counts
    return merged
