"""Vectorized draws of stratified patch starts: bins to regions to coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from careamics_dask.patching._regions import box_bits

if TYPE_CHECKING:
    from careamics_dask.patching._regions import RegionGrid

__all__ = ["StratifiedSampler"]

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _cumulative(values: FloatArray) -> FloatArray:
    """Return ``[0, v0, v0 + v1, ...]``."""
    cumulative = np.zeros(len(values) + 1)
    np.cumsum(values, out=cumulative[1:])
    return cumulative


def _pick(
    cumulative: FloatArray, targets: FloatArray, start: Int64Array, stop: Int64Array
) -> Int64Array:
    """Return ``k`` with ``cumulative[k] <= target < cumulative[k + 1]``, kept in range.

    Rounding can put a target a hair outside its segment ``[start, stop)``; the
    result is clipped back into it.
    """
    found = np.searchsorted(cumulative, targets, side="right") - 1
    return np.clip(found, start, stop - 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class StratifiedSampler:
    """Everything an epoch draw needs, flattened over all samples.

    Row ``j`` of the table is bin ``j``: a sample's bins are its patch indices.
    With probability ``mass[j]`` (the bin's summed region probabilities) the row
    draws a region of its bin in proportion to the probabilities; otherwise one of
    its sample's regions in proportion to all of them. That mixture is exactly the
    reference's bin weights plus the bin's unused capacity spread over the sample.

    Attributes
    ----------
    row_sample : numpy.ndarray
        Flat sample of each row, ``(N,)``.
    bin_start, bin_stop : numpy.ndarray
        Each row's members in ``members``, ``(N,)``.
    members : numpy.ndarray
        Regions of positive probability grouped by bin, ``(M,)``.
    member_cumulative : numpy.ndarray
        Running sum of their probabilities, ``(M + 1,)``.
    sample_start, sample_stop : numpy.ndarray
        Each row's sample's regions in ``regions``, ``(N,)``.
    regions : numpy.ndarray
        Regions of positive probability, sample-major, ``(P,)``.
    region_cumulative : numpy.ndarray
        Running sum of their probabilities, ``(P + 1,)``.
    """

    row_sample: Int64Array
    bin_start: Int64Array
    bin_stop: Int64Array
    members: Int64Array
    member_cumulative: FloatArray
    sample_start: Int64Array
    sample_stop: Int64Array
    regions: Int64Array
    region_cumulative: FloatArray

    @classmethod
    def build(
        cls,
        grid: RegionGrid,
        counts: Int64Array,
        bins: Int64Array,
        probs: FloatArray,
    ) -> StratifiedSampler:
        """Flatten per-sample packings into draw arrays.

        Parameters
        ----------
        grid : RegionGrid
            The regions.
        counts : numpy.ndarray
            Patches (bins) per sample, ``(n_samples,)``.
        bins : numpy.ndarray
            Bin of each region within its sample, -1 for none, ``(R,)``.
        probs : numpy.ndarray
            Probability of each region within its bin (weighted area / bin size),
            ``(R,)``.

        Returns
        -------
        StratifiedSampler
            The draw arrays.
        """
        first_row = np.cumsum(counts) - counts
        row_sample = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        n_rows = len(row_sample)
        in_bin = np.flatnonzero((bins >= 0) & (probs > 0))
        global_bin = first_row[grid.sample[in_bin]] + bins[in_bin]
        order = np.argsort(global_bin, kind="stable")
        members = in_bin[order]
        edges = np.searchsorted(global_bin[order], np.arange(n_rows + 1))
        regions = np.flatnonzero(probs > 0)
        sample_edges = np.searchsorted(grid.sample[regions], np.arange(len(counts) + 1))
        return cls(
            row_sample=row_sample,
            bin_start=edges[:-1],
            bin_stop=edges[1:],
            members=members,
            member_cumulative=_cumulative(probs[members]),
            sample_start=sample_edges[:-1][row_sample],
            sample_stop=sample_edges[1:][row_sample],
            regions=regions,
            region_cumulative=_cumulative(probs[regions]),
        )

    def draw_regions(self, uniform: FloatArray) -> Int64Array:
        """Return the region of every row for uniform numbers in ``[0, 1)``.

        Parameters
        ----------
        uniform : numpy.ndarray
            ``(N,)`` uniform draws, one per row.

        Returns
        -------
        numpy.ndarray
            ``(N,)`` region indices.
        """
        base = self.member_cumulative[self.bin_start]
        mass = self.member_cumulative[self.bin_stop] - base
        chosen = np.empty(len(uniform), dtype=np.int64)
        in_bin = uniform < mass
        single = in_bin & (self.bin_stop - self.bin_start == 1)
        chosen[single] = self.members[self.bin_start[single]]
        multi = np.flatnonzero(in_bin & ~single)
        if len(multi):
            found = _pick(
                self.member_cumulative,
                base[multi] + uniform[multi],
                self.bin_start[multi],
                self.bin_stop[multi],
            )
            chosen[multi] = self.members[found]
        spread = np.flatnonzero(~in_bin)
        if len(spread):
            # the conditional uniform on [mass, 1) rescaled to [0, 1)
            rescaled = (uniform[spread] - mass[spread]) / (1 - mass[spread])
            start, stop = self.sample_start[spread], self.sample_stop[spread]
            low = self.region_cumulative[start]
            total = self.region_cumulative[stop] - low
            found = _pick(self.region_cumulative, low + rescaled * total, start, stop)
            chosen[spread] = self.regions[found]
        return chosen


def _draw_in_boxes(
    grid: RegionGrid,
    removed: BoolArray,
    regions: Int64Array,
    rng: np.random.Generator,
) -> Int64Array:
    """Return uniform starts of regions that lost sub-boxes to exclusions.

    One integer below the region's area is decoded into a sub-box (proportional
    to its area) and a position in it (uniform per axis): the reference's
    two-step draw in one.
    """
    ndim = grid.grid.shape[1]
    box_areas = grid.box_areas(removed, regions)
    upper = np.cumsum(box_areas, axis=1)
    position = rng.integers(0, upper[:, -1])
    box = (upper <= position[:, None]).sum(axis=1)
    rows = np.arange(len(regions))
    remainder = position - (upper[rows, box] - box_areas[rows, box])
    bits = box_bits(ndim)[box]
    extents = grid.extents[regions[:, None], np.arange(ndim)[None, :], bits]
    offsets: Int64Array = bits.copy()
    for axis in range(ndim - 1, -1, -1):
        offsets[:, axis] += remainder % extents[:, axis]
        remainder //= extents[:, axis]
    return offsets


def draw_starts(
    grid: RegionGrid,
    removed: BoolArray,
    partial: BoolArray,
    regions: Int64Array,
    rng: np.random.Generator,
) -> Int64Array:
    """Return a uniform patch start among the selectable starts of each region.

    A region without exclusions is a box of starts, ``origin + [0, length)`` per
    axis, drawn with one uniform number per axis. A region that lost sub-boxes to
    an excluded neighbour is drawn by decoding one integer below its area.

    Parameters
    ----------
    grid : RegionGrid
        The regions.
    removed : numpy.ndarray
        ``(R, 2**ndim)`` sub-boxes removed by exclusions.
    partial : numpy.ndarray
        ``(R,)`` regions with a removed sub-box.
    regions : numpy.ndarray
        ``(N,)`` regions, each with a positive area.
    rng : numpy.random.Generator
        The epoch's generator.

    Returns
    -------
    numpy.ndarray
        ``(N, ndim)`` patch starts in image coordinates.
    """
    lengths = grid.lengths[regions]
    offsets = (rng.random(lengths.shape) * lengths).astype(np.int64)
    np.minimum(offsets, lengths - 1, out=offsets)
    rows = np.flatnonzero(partial[regions])
    if len(rows):
        offsets[rows] = _draw_in_boxes(grid, removed, regions[rows], rng)
    starts: Int64Array = grid.grid[regions] * grid.patch_size
    starts += offsets
    return starts
