"""Statistics of many regions at once, and the exact re-check of near-threshold ones."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.special import entr

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "ENTROPY_BAND",
    "FLOAT32_BAND",
    "decide_again",
    "flatten_regions",
    "near_threshold",
    "region_entropies",
    "shannon_entropy",
]

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
Regions = npt.NDArray[np.float32]

FLOAT32_BAND = 1e-4
"""Relative distance to a threshold within which a statistic may decide otherwise
than the reference's float32 one: pairwise float32 sums err by at most ~40 ulp
(2.4e-6) for regions up to 2**24 pixels, so this leaves a factor 40 of margin."""

ENTROPY_BAND = 1e-7
"""The same for an entropy summed in float64 in another order than the reference."""

# Distinct-value counting by bincount when a group's values are small integers
# (8- and 16-bit images): at most this many bins per group.
_MAX_BINS = 2**23


def shannon_entropy(image: npt.ArrayLike, base: float = 2) -> float:
    """Return the Shannon entropy of an image's values, as scikit-image computes it.

    ``-sum(f * log(f)) / log(base)`` over the frequencies ``f`` of the image's
    unique values (``skimage.measure.shannon_entropy``, which calls
    ``scipy.stats.entropy``), with the same arithmetic.

    Parameters
    ----------
    image : array_like
        Any array.
    base : float, default 2
        The logarithm's base; 2 gives bits.

    Returns
    -------
    float
        The entropy, 0 for a constant image.

    Examples
    --------
    >>> shannon_entropy(np.array([[0, 0], [1, 1]]))
    1.0
    >>> shannon_entropy(np.zeros((3, 3)))
    0.0
    """
    _, counts = np.unique(np.asarray(image), return_counts=True)
    frequencies = counts / counts.sum()
    value = np.sum(entr(frequencies))
    value /= math.log(base)
    return float(value)


def flatten_regions(regions: Regions) -> Regions:
    """Return regions as rows ``(k, pixels)``, also when ``k`` is 0.

    Parameters
    ----------
    regions : numpy.ndarray
        ``(k, *region)`` regions.

    Returns
    -------
    numpy.ndarray
        ``(k, prod(region))``, a view where possible.

    Examples
    --------
    >>> flatten_regions(np.zeros((0, 2, 3), np.float32)).shape
    (0, 6)
    """
    return regions.reshape(len(regions), math.prod(regions.shape[1:]))


def region_entropies(rows: Regions) -> FloatArray:
    """Return the Shannon entropy (bits) of each row's values, vectorized.

    Equal to :func:`shannon_entropy` of each row up to float64 rounding (the
    terms are summed in another order), except for rows holding NaNs, which
    :func:`numpy.unique` counts as one value and this counts apart.

    Parameters
    ----------
    rows : numpy.ndarray
        ``(k, n)`` values.

    Returns
    -------
    numpy.ndarray
        ``(k,)`` entropies.

    Examples
    --------
    >>> region_entropies(np.array([[0, 1, 2, 3], [5, 5, 5, 5]], np.float32)).tolist()
    [2.0, 0.0]
    """
    k, size = rows.shape
    row_of, counts = _value_counts(rows)
    terms = entr(counts / size)
    entropy = np.asarray(
        np.bincount(row_of, weights=terms, minlength=k), dtype=np.float64
    )
    return entropy / math.log(2)


def _value_counts(rows: Regions) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return (row, count) of every distinct value of every row, values ascending."""
    k, size = rows.shape
    if rows.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    low, high = float(rows.min()), float(rows.max())
    span = high - low + 1
    if span * k <= _MAX_BINS and np.array_equal(rows, np.trunc(rows)):
        # small integers: one bincount over (row, value) pairs
        span = int(span)
        keys = rows.astype(np.int64) - int(low)
        keys += np.arange(k, dtype=np.int64)[:, np.newaxis] * span
        counts = np.bincount(keys.reshape(-1), minlength=k * span)
        present = np.flatnonzero(counts)
        return present // span, counts[present]
    values = np.sort(rows, axis=1)
    starts_new = np.ones(values.shape, dtype=np.bool_)
    np.not_equal(values[:, 1:], values[:, :-1], out=starts_new[:, 1:])
    starts = np.flatnonzero(starts_new)
    return starts // size, np.diff(np.append(starts, k * size))


def near_threshold(
    values: FloatArray, threshold: float, scale: FloatArray, band: float
) -> BoolArray:
    """Return where a statistic may round to the other side of a threshold.

    Parameters
    ----------
    values : numpy.ndarray
        The statistic per region.
    threshold : float
        The threshold it is compared with.
    scale : numpy.ndarray
        The magnitude the rounding error is relative to, per region.
    band : float
        The relative error bound.

    Returns
    -------
    numpy.ndarray
        True where ``|values - threshold| <= band * (|threshold| + |scale|)``.

    Examples
    --------
    >>> values = np.array([1.0, 1.0 + 1e-9, 2.0])
    >>> near_threshold(values, 1.0, values, 1e-6).tolist()
    [True, True, False]
    """
    with np.errstate(invalid="ignore"):
        result: BoolArray = np.abs(values - threshold) <= band * (
            abs(threshold) + np.abs(scale) + np.finfo(np.float32).tiny
        )
    return result


def decide_again(
    filter_out: Callable[[Regions], bool],
    regions: Regions,
    decisions: BoolArray,
    near: BoolArray,
) -> BoolArray:
    """Replace the decisions of near-threshold regions by the per-region rule's.

    Parameters
    ----------
    filter_out : callable
        The reference's per-patch rule, given a fresh ``(1, *region)`` float32
        array as the reference's padded patch.
    regions : numpy.ndarray
        ``(k, *region)`` regions.
    decisions : numpy.ndarray
        ``(k,)`` vectorized decisions, changed in place.
    near : numpy.ndarray
        ``(k,)`` which to decide again.

    Returns
    -------
    numpy.ndarray
        ``decisions``.

    Examples
    --------
    >>> regions = np.zeros((2, 2, 2), np.float32)
    >>> decisions = np.array([False, False])
    >>> decide_again(lambda p: True, regions, decisions, np.array([False, True]))
    array([False,  True])
    """
    for j in np.flatnonzero(near):
        decisions[j] = filter_out(np.array(regions[j][np.newaxis]))
    return decisions
