"""Streamed histograms: aligned power-of-two bins, exact merges, quantile reading.

A float histogram here is ``(scale, start, counts)``: bin ``i`` holds the values in
``[(start + i) 2**scale, (start + i + 1) 2**scale)``, so every bin edge is a multiple
of its power-of-two width. A block picks the finest width that spans its range in
``len(counts)`` bins; merging moves every input to the coarsest width among them (or
coarser, until the union range fits), and because aligned bins of width ``2**k`` nest
exactly in those of width ``2**(k + 1)``, merging never splits a bin: the merged
histogram is exactly the histogram of all the data at the final width, whatever the
order and depth of the merges. Quantiles interpolate inside one final bin, narrowed
to the data's exact extremes, so their error is below one final bin width (at most
about ``2 (max - min) / n_bins``) plus the gap between neighbouring data values.

Quantile levels follow NumPy's ``"linear"`` method: the level ``q`` of ``n`` pixels
sits at rank ``q (n - 1)``. With weights, a pixel of weight ``w`` counts as
``w / mean(w)`` pixels, so only relative weights matter.

Integer pixels of at most 16 bits are counted exactly instead, one bin per possible
value (:class:`HistogramPlan` with an ``offset``): those histograms merge by addition
and give NumPy's ``"linear"`` quantiles exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "HistogramPlan",
    "bin_values",
    "count_values",
    "exact_quantile",
    "histogram_quantile",
    "merge_histograms",
    "plan_histogram",
]

FloatArray = npt.NDArray[np.float64]

_EXACT_BITS = 16
"""Integer pixels of at most this many bits are counted exactly."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HistogramPlan:
    """How partials histogram their pixels.

    Attributes
    ----------
    n_bins : int
        Bins per partial; 0 for no histogram.
    offset : int or None
        For exact integer counts, the value of bin 0 (bin ``i`` counts value
        ``offset + i``); ``None`` for equal-width bins over each partial's range.

    Examples
    --------
    >>> HistogramPlan(n_bins=256, offset=0).exact
    True
    """

    n_bins: int
    offset: int | None = None

    @property
    def exact(self) -> bool:
        """Whether bins count integer values exactly."""
        return self.offset is not None


def plan_histogram(
    dtypes: Iterable[np.dtype[np.generic]], n_bins: int
) -> HistogramPlan:
    """Choose exact integer counts when every dtype allows, else ``n_bins`` bins.

    Parameters
    ----------
    dtypes : iterable of numpy.dtype
        Dtypes of the pixels to be histogrammed together.
    n_bins : int
        Equal-width bins for other dtypes.

    Returns
    -------
    HistogramPlan
        One bin per value of the union of the integer ranges (booleans and integers
        of at most 16 bits), else ``n_bins`` equal-width bins.

    Examples
    --------
    >>> plan_histogram([np.dtype(np.uint8), np.dtype(np.int8)], 4096)
    HistogramPlan(n_bins=384, offset=-128)
    >>> plan_histogram([np.dtype(np.float32)], 4096)
    HistogramPlan(n_bins=4096, offset=None)
    """
    lows, highs = [], []
    for dtype in dtypes:
        if dtype == np.bool_:
            lows.append(0)
            highs.append(1)
        elif np.issubdtype(dtype, np.integer) and dtype.itemsize * 8 <= _EXACT_BITS:
            info = np.iinfo(dtype.type)  # type: ignore[type-var]
            lows.append(int(info.min))
            highs.append(int(info.max))
        else:
            return HistogramPlan(n_bins=n_bins)
    if not lows:
        return HistogramPlan(n_bins=n_bins)
    return HistogramPlan(n_bins=max(highs) - min(lows) + 1, offset=min(lows))


def count_values(
    values: FloatArray, weights: FloatArray | None, plan: HistogramPlan
) -> FloatArray:
    """Count integer values exactly, one bin per value from ``plan.offset``.

    Parameters
    ----------
    values : numpy.ndarray
        Flat float64 values holding integers of the plan's range.
    weights : numpy.ndarray or None
        Weight of each value; ``None`` counts each value once.
    plan : HistogramPlan
        An exact plan.

    Returns
    -------
    numpy.ndarray
        ``(plan.n_bins,)`` float64 weight sums.

    Examples
    --------
    >>> plan = HistogramPlan(n_bins=4, offset=-1)
    >>> count_values(np.array([-1.0, 2.0, 2.0]), None, plan).tolist()
    [1.0, 0.0, 0.0, 2.0]
    """
    index = values.astype(np.int64) - (plan.offset or 0)
    counts = np.bincount(index, weights=weights, minlength=plan.n_bins)
    return counts.astype(np.float64)


def exact_quantile(
    counts: FloatArray, offset: int, n_pixels: float, level: float
) -> float:
    """Read NumPy's ``"linear"`` quantile off exact integer counts.

    Parameters
    ----------
    counts : numpy.ndarray
        Weight of each value ``offset + i``, with a positive total.
    offset : int
        Value of the first bin.
    n_pixels : float
        Number of pixels counted; weights are scaled to a mean of 1 per pixel.
    level : float
        Quantile level in ``[0, 1]``.

    Returns
    -------
    float
        The quantile, interpolated between neighbouring order statistics.

    Examples
    --------
    >>> exact_quantile(np.array([1.0, 0.0, 1.0, 2.0]), 10, 4, 0.5)
    12.5
    """
    cumulative = np.cumsum(counts)
    cumulative *= n_pixels / cumulative[-1]
    present = np.flatnonzero(counts > 0)
    first, last = present[0], present[-1]
    rank = level * max(n_pixels - 1.0, 0.0)
    below = np.floor(rank)
    low = int(np.searchsorted(cumulative, below, side="right"))
    high = int(np.searchsorted(cumulative, below + 1.0, side="right"))
    low, high = (min(max(i, first), last) for i in (low, high))
    return float(offset + low + (rank - below) * (high - low))


def _scale_for(low: float, high: float, n_bins: int, at_least: int) -> tuple[int, int]:
    """Return the finest ``(scale, start)`` whose aligned bins span the range."""
    magnitude = max(abs(low), abs(high))
    # starts stay below 2**53 (exact in float64 rows) and bins above float resolution
    scale = max(at_least, math.frexp(magnitude)[1] - 50 if magnitude else -1000)
    span = high - low
    if span > 0:
        scale = max(scale, math.ceil(math.log2(span / n_bins)))
    while math.floor(math.ldexp(high, -scale)) - math.floor(
        math.ldexp(low, -scale)
    ) >= (n_bins):
        scale += 1
    return scale, math.floor(math.ldexp(low, -scale))


def bin_values(
    values: FloatArray, weights: FloatArray | None, low: float, high: float, n_bins: int
) -> tuple[int, int, FloatArray]:
    """Histogram values on the finest aligned power-of-two bins spanning them.

    Parameters
    ----------
    values : numpy.ndarray
        Flat float64 values, all within ``[low, high]``.
    weights : numpy.ndarray or None
        Weight of each value; ``None`` counts each value once.
    low, high : float
        The extremes of ``values``.
    n_bins : int
        Number of bins (at least 4).

    Returns
    -------
    tuple of (int, int, numpy.ndarray)
        ``scale``, ``start`` and the ``(n_bins,)`` float64 weight sums.

    Examples
    --------
    >>> scale, start, counts = bin_values(np.array([0.0, 1.0, 3.0]), None, 0.0, 3.0, 4)
    >>> scale, start, counts.tolist()
    (0, 0, [1.0, 1.0, 0.0, 1.0])
    """
    scale, start = _scale_for(low, high, n_bins, at_least=-1100)
    index = (np.floor(np.ldexp(values, -scale)) - start).astype(np.int64)
    np.clip(index, 0, n_bins - 1, out=index)
    counts = np.bincount(index, weights=weights, minlength=n_bins)
    return scale, start, counts.astype(np.float64)


def merge_histograms(
    lows: FloatArray,
    highs: FloatArray,
    scales: FloatArray,
    starts: FloatArray,
    counts: FloatArray,
) -> tuple[int, int, FloatArray]:
    """Merge aligned histograms exactly onto the width that spans all of them.

    Parameters
    ----------
    lows, highs : numpy.ndarray
        ``(M,)`` extremes of the data of the non-empty histograms to merge.
    scales, starts : numpy.ndarray
        ``(M,)`` their bin scales and starts (integers stored as floats).
    counts : numpy.ndarray
        ``(M, n_bins)`` their weight sums.

    Returns
    -------
    tuple of (int, int, numpy.ndarray)
        The merged ``scale``, ``start`` and ``(n_bins,)`` counts; the total weight is
        preserved. With ``M == 0``, ``(0, 0, zeros)``.

    Examples
    --------
    >>> a = bin_values(np.array([0.0, 1.0]), None, 0.0, 1.0, 4)
    >>> b = bin_values(np.array([6.0, 7.0]), None, 6.0, 7.0, 4)
    >>> scale, start, counts = merge_histograms(
    ...     np.array([0.0, 6.0]), np.array([1.0, 7.0]), np.array([a[0], b[0]]),
    ...     np.array([a[1], b[1]]), np.stack([a[2], b[2]])
    ... )
    >>> scale, start, counts.tolist()
    (1, 0, [2.0, 0.0, 0.0, 2.0])
    """
    n_bins = counts.shape[1]
    if len(lows) == 0:
        return 0, 0, np.zeros(n_bins)
    scale, start = _scale_for(
        float(lows.min()), float(highs.max()), n_bins, at_least=int(scales.max())
    )
    rows, bins = np.nonzero(counts)
    fine = starts.astype(np.int64)[rows] + bins
    shift = np.minimum(scale - scales.astype(np.int64)[rows], 62)
    index = np.right_shift(fine, shift) - start
    np.clip(index, 0, n_bins - 1, out=index)
    merged = np.bincount(index, weights=counts[rows, bins], minlength=n_bins)
    return scale, start, merged.astype(np.float64)


def histogram_quantile(
    low: float,
    high: float,
    scale: int,
    start: int,
    counts: FloatArray,
    n_pixels: float,
    level: float,
) -> float:
    """Read a quantile off an aligned histogram, interpolating inside its bin.

    Parameters
    ----------
    low, high : float
        The exact extremes of the data.
    scale, start : int
        The histogram's bins (see the module docstring).
    counts : numpy.ndarray
        ``(n_bins,)`` weight sums, with a positive total.
    n_pixels : float
        Number of pixels counted; weights are scaled to a mean of 1 per pixel.
    level : float
        Quantile level in ``[0, 1]``; 0 and 1 give ``low`` and ``high`` exactly.

    Returns
    -------
    float
        The value at rank ``level (n_pixels - 1)``, each pixel's weight spread evenly
        over its bin.

    Examples
    --------
    >>> histogram_quantile(0.0, 4.0, 0, 0, np.array([1.0, 1.0, 1.0, 1.0]), 4, 0.5)
    2.0
    >>> histogram_quantile(0.0, 4.0, 0, 0, np.array([1.0, 1.0, 1.0, 1.0]), 4, 1.0)
    4.0
    """
    if level <= 0.0 or high <= low:
        return low
    if level >= 1.0:
        return high
    cumulative = np.cumsum(counts)
    cumulative *= n_pixels / cumulative[-1]
    # order statistic k holds ranks [k, k + 1): its middle, k + 0.5, is its value
    target = level * max(n_pixels - 1.0, 0.0) + 0.5
    index = min(int(np.searchsorted(cumulative, target, side="left")), len(counts) - 1)
    before = cumulative[index - 1] if index else 0.0
    inside = counts[index]
    fraction = (target - before) / inside if inside > 0 else 0.0
    left = max(math.ldexp(start + index, scale), low)
    right = min(math.ldexp(start + index + 1, scale), high)
    return float(min(max(left + fraction * (right - left), low), high))
