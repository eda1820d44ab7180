"""Streamed histograms: bin blocks on their range, merge by re-binning, read quantiles.

A histogram here is ``(low, high, counts)``: ``len(counts)`` equal bins spanning
``[low, high]``, where ``low`` and ``high`` are the exact extremes of the values binned
(so quantile levels 0 and 1 read them back exactly). Counts are float64 weight sums.
Merging puts every input on the bins of the union range by proportional re-binning:
an input bin's mass is spread uniformly over its width, so each merge moves mass by
at most one input bin plus one output bin. A histogram whose ``low == high`` is a
point mass.

Integer pixels of at most 16 bits are counted exactly instead, one bin per possible
value (:class:`HistogramPlan` with an ``offset``): those histograms merge by addition
and give NumPy's ``"linear"`` quantiles exactly.
"""

from __future__ import annotations

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
            info = np.iinfo(dtype)
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


def exact_quantile(counts: FloatArray, offset: int, level: float) -> float:
    """Read NumPy's ``"linear"`` quantile off exact integer counts.

    With weights, a pixel of weight ``w`` counts as ``w`` pixels (exact for
    integer weights).

    Parameters
    ----------
    counts : numpy.ndarray
        Weight of each value ``offset + i``, with a positive total.
    offset : int
        Value of the first bin.
    level : float
        Quantile level in ``[0, 1]``.

    Returns
    -------
    float
        The quantile, interpolated between neighbouring order statistics.

    Examples
    --------
    >>> exact_quantile(np.array([1.0, 0.0, 1.0, 2.0]), 10, 0.5)
    12.5
    """
    cumulative = np.cumsum(counts)
    present = np.flatnonzero(counts > 0)
    first, last = present[0], present[-1]
    rank = level * max(cumulative[-1] - 1.0, 0.0)
    below = np.floor(rank)
    low = int(np.searchsorted(cumulative, below, side="right"))
    high = int(np.searchsorted(cumulative, below + 1.0, side="right"))
    low, high = (min(max(i, first), last) for i in (low, high))
    return float(offset + low + (rank - below) * (high - low))


def bin_values(
    values: FloatArray, weights: FloatArray | None, low: float, high: float, n_bins: int
) -> FloatArray:
    """Histogram values over ``[low, high]`` in ``n_bins`` equal bins.

    Parameters
    ----------
    values : numpy.ndarray
        Flat float64 values, all within ``[low, high]``.
    weights : numpy.ndarray or None
        Weight of each value; ``None`` counts each value once.
    low, high : float
        The extremes of ``values``.
    n_bins : int
        Number of bins.

    Returns
    -------
    numpy.ndarray
        ``(n_bins,)`` float64 weight sums; a point mass (``low == high``) is put in
        the first bin.

    Examples
    --------
    >>> bin_values(np.array([0.0, 1.0, 3.0, 4.0]), None, 0.0, 4.0, 4).tolist()
    [1.0, 1.0, 0.0, 2.0]
    """
    if high <= low:
        counts = np.zeros(n_bins)
        counts[0] = values.size if weights is None else weights.sum()
        return counts
    index = ((values - low) * (n_bins / (high - low))).astype(np.int64)
    np.clip(index, 0, n_bins - 1, out=index)
    return np.bincount(index, weights=weights, minlength=n_bins).astype(np.float64)


def _cumulative_at(
    points: FloatArray, lows: FloatArray, highs: FloatArray, counts: FloatArray
) -> FloatArray:
    """Evaluate each histogram's piecewise-linear cumulative count at ``points``."""
    n_bins = counts.shape[1]
    cumulative = np.concatenate(
        [np.zeros((len(counts), 1)), np.cumsum(counts, axis=1)], axis=1
    )
    totals = cumulative[:, -1:]
    widths = highs - lows
    point_mass = widths <= 0
    scale = n_bins / np.where(point_mass, 1.0, widths)
    position = (points[None, :] - lows[:, None]) * scale[:, None]
    left = np.clip(np.floor(position), 0, n_bins - 1).astype(np.int64)
    fraction = np.clip(position - left, 0.0, 1.0)
    at = np.take_along_axis(cumulative, left, axis=1) + fraction * np.take_along_axis(
        counts, left, axis=1
    )
    step = np.where(points[None, :] > lows[:, None], totals, 0.0)
    result: FloatArray = np.where(point_mass[:, None], step, at)
    return result


def merge_histograms(
    lows: FloatArray, highs: FloatArray, counts: FloatArray
) -> tuple[float, float, FloatArray]:
    """Merge histograms onto equal bins over the union of their ranges.

    Parameters
    ----------
    lows, highs : numpy.ndarray
        ``(M,)`` ranges of the non-empty histograms to merge.
    counts : numpy.ndarray
        ``(M, n_bins)`` their weight sums.

    Returns
    -------
    tuple of (float, float, numpy.ndarray)
        The merged ``low``, ``high`` and ``(n_bins,)`` counts; the total weight is
        preserved. With ``M == 0``, ``(inf, -inf, zeros)``.

    Examples
    --------
    >>> counts = np.array([[1.0, 1.0], [2.0, 2.0]])
    >>> low, high, counts = merge_histograms(
    ...     np.array([0.0, 2.0]), np.array([2.0, 4.0]), counts
    ... )
    >>> low, high, counts.tolist()
    (0.0, 4.0, [2.0, 4.0])
    """
    n_bins = counts.shape[1]
    if len(lows) == 0:
        return np.inf, -np.inf, np.zeros(n_bins)
    low, high = float(lows.min()), float(highs.max())
    total = counts.sum()
    merged = np.zeros(n_bins)
    if high <= low:
        merged[0] = total
        return low, high, merged
    edges = np.linspace(low, high, n_bins + 1)
    cumulative = _cumulative_at(edges, lows, highs, counts).sum(axis=0)
    cumulative[0], cumulative[-1] = 0.0, total
    merged = np.maximum(np.diff(cumulative), 0.0)
    return low, high, merged


def histogram_quantile(
    low: float, high: float, counts: FloatArray, level: float
) -> float:
    """Read a quantile from a histogram, interpolating linearly inside its bin.

    Parameters
    ----------
    low, high : float
        The histogram's range (the exact extremes of the data).
    counts : numpy.ndarray
        ``(n_bins,)`` weight sums, with a positive total.
    level : float
        Quantile level in ``[0, 1]``; 0 and 1 give ``low`` and ``high`` exactly.

    Returns
    -------
    float
        The value below which a fraction ``level`` of the weight lies.

    Examples
    --------
    >>> histogram_quantile(0.0, 4.0, np.array([1.0, 1.0, 1.0, 1.0]), 0.5)
    2.0
    >>> histogram_quantile(0.0, 4.0, np.array([1.0, 1.0, 1.0, 1.0]), 1.0)
    4.0
    """
    if level <= 0.0 or high <= low:
        return low
    if level >= 1.0:
        return high
    cumulative = np.cumsum(counts)
    target = level * cumulative[-1]
    index = min(int(np.searchsorted(cumulative, target, side="left")), len(counts) - 1)
    before = cumulative[index - 1] if index else 0.0
    inside = counts[index]
    fraction = (target - before) / inside if inside > 0 else 0.0
    value = low + (index + fraction) * (high - low) / len(counts)
    return float(min(max(value, low), high))
