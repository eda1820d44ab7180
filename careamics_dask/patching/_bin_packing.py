"""Best-fit-decreasing packing of region areas into a fixed number of bins."""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["pack_regions", "region_bin_packing"]

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def _grow(
    capacity: list[float], area: float
) -> tuple[float, list[float], list[tuple[float, int]], int]:
    """Grow every bin by the shortfall of the emptiest (lowest index on ties).

    Returns the increase, the new capacities, the new order and the grown bin.
    """
    top = max(capacity)
    chosen = capacity.index(top)
    increase = area - top
    capacity = [c + increase for c in capacity]
    order = sorted((c, b) for b, c in enumerate(capacity))
    return increase, capacity, order, chosen


def _best_fit_decreasing(
    areas: Sequence[float], n_bins: int, leading: int
) -> tuple[float, list[int]]:
    """Pack areas (sorted decreasing) into ``n_bins`` bins that grow as needed.

    The reference's loop, with the bins kept sorted by remaining capacity (ties by
    index, as ``argmin``/``argmax`` pick the lowest index) so that each step is a
    bisection instead of a scan over all bins. Two shortcuts place the same bins
    as the loop: the ``leading`` areas equal to the largest fill the first bins
    exactly, in order; and a bin that is the best fit for an area stays the best
    fit for the next equal area as long as it fits (its capacity only shrinks).
    """
    bin_size = areas[0]
    first = min(n_bins, leading)
    capacity = [0.0] * first + [bin_size] * (n_bins - first)
    order = list(zip(capacity, range(n_bins), strict=True))
    assignment: list[int] = list(range(first))
    i, n = first, len(areas)
    while i < n:
        area = areas[i]
        k = bisect_left(order, (area, -1))  # smallest capacity that fits
        if k == len(order):  # fits nowhere: grow every bin by the shortfall
            increase, capacity, order, chosen = _grow(capacity, area)
            bin_size += increase
            del order[bisect_left(order, (capacity[chosen], chosen))]
            capacity[chosen] -= area
            insort(order, (capacity[chosen], chosen))
            assignment.append(chosen)
            i += 1
            continue
        remaining, chosen = order.pop(k)
        while True:
            remaining -= area
            assignment.append(chosen)
            i += 1
            if i == n or areas[i] != area or remaining < area:
                break
        capacity[chosen] = remaining
        insort(order, (remaining, chosen))
    return bin_size, assignment


def pack_regions(areas: FloatArray, n_bins: int) -> tuple[int, Int64Array]:
    """Pack region areas into ``n_bins`` bins of the smallest common size.

    The reference's ``_region_bin_packing``: no bins gives size 0; at most one
    region per bin puts region ``i`` in bin ``i`` with size ``ceil(max(area))``;
    otherwise best fit decreasing (ties in area by region index), growing every
    bin when an area fits nowhere, size rounded up. Regions of area 0 change no
    capacity and are left out (bin -1): they are never sampled.

    Parameters
    ----------
    areas : numpy.ndarray
        ``(n_regions,)`` non-negative (weighted) areas.
    n_bins : int
        The number of bins (the sample's patch count).

    Returns
    -------
    bin_size : int
        The common capacity.
    bins : numpy.ndarray
        ``(n_regions,)`` bin of each region, -1 for none.

    Examples
    --------
    >>> size, bins = pack_regions(np.array([10.0, 7, 5, 4, 3]), 3)
    >>> size, bins.tolist()
    (10, [0, 1, 2, 2, 1])
    """
    bins = np.full(len(areas), -1, dtype=np.int64)
    if n_bins <= 0 or not len(areas):
        return 0, bins
    if len(areas) <= n_bins:
        bins[:] = np.arange(len(areas))
        return math.ceil(float(areas.max())), bins
    order = np.argsort(-areas, kind="stable")
    order = order[areas[order] > 0]
    if not len(order):
        return 0, bins
    sorted_areas = areas[order]
    leading = int(np.count_nonzero(sorted_areas == sorted_areas[0]))
    bin_size, assignment = _best_fit_decreasing(sorted_areas.tolist(), n_bins, leading)
    bins[order] = assignment
    return math.ceil(bin_size), bins


def region_bin_packing(
    region_areas: Mapping[int, float] | Sequence[float], n_bins: int
) -> tuple[int, list[Int64Array]]:
    """Return the reference's ``_region_bin_packing`` result: size and bin members.

    Parameters
    ----------
    region_areas : mapping of int to float, or sequence of float
        Areas by region id (a sequence uses ids ``0..n-1``).
    n_bins : int
        The number of bins.

    Returns
    -------
    bin_size : int
        The common capacity.
    bins : list of numpy.ndarray
        ``n_bins`` arrays of region ids, in packing order (empty for no bins).

    Examples
    --------
    >>> region_bin_packing({0: 10, 1: 7, 2: 5, 3: 4, 4: 3}, 3)
    (10, [array([0]), array([1, 4]), array([2, 3])])
    """
    by_id = (
        dict(region_areas)
        if isinstance(region_areas, Mapping)
        else dict(enumerate(region_areas))
    )
    ids = np.array(list(by_id.keys()), dtype=np.int64)
    areas = np.array(list(by_id.values()), dtype=np.float64)
    if n_bins <= 0:
        return 0, []
    if len(areas) <= n_bins:
        size = math.ceil(float(areas.max()))
        empty = [np.array([], dtype=np.int64)] * (n_bins - len(ids))
        return size, [ids[i : i + 1] for i in range(len(ids))] + empty
    order = np.argsort(-areas, kind="stable")
    positive = order[areas[order] > 0]
    members: list[list[int]] = [[] for _ in range(n_bins)]
    if not len(positive):  # every area is 0: all go to the first bin
        members[0] = order.tolist()
        return 0, [ids[np.array(m, dtype=np.int64)] for m in members]
    sorted_areas = areas[positive]
    leading = int(np.count_nonzero(sorted_areas == sorted_areas[0]))
    bin_size, assignment = _best_fit_decreasing(sorted_areas.tolist(), n_bins, leading)
    for region, chosen in zip(positive.tolist(), assignment, strict=True):
        members[chosen].append(region)
    # zero areas go to the fullest bin (lowest index), changing no capacity
    if len(positive) < len(order):
        loads = [sum(areas[m]) for m in members]
        fullest = int(np.argmin([bin_size - load for load in loads]))
        members[fullest].extend(order[len(positive) :].tolist())
    return math.ceil(bin_size), [ids[np.array(m, dtype=np.int64)] for m in members]
