"""Stratified sampling regions as arrays: grid, sub-box extents, exclusions, counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["RegionGrid", "box_bits", "count_stratified_patches", "orthant_overlaps"]

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def box_bits(ndim: int) -> Int64Array:
    """Return the half each sub-box uses per axis: 0 for ``(0, 1)``, 1 for ``(1, p)``.

    Sub-boxes are numbered as ``itertools.product`` enumerates them, first axis
    most significant, as the reference's ``_SamplingRegion.subregions``.

    Parameters
    ----------
    ndim : int
        The number of spatial axes.

    Returns
    -------
    numpy.ndarray
        ``(2**ndim, ndim)`` zeros and ones.

    Examples
    --------
    >>> box_bits(2).tolist()
    [[0, 0], [0, 1], [1, 0], [1, 1]]
    """
    codes = np.arange(2**ndim)[:, None]
    return ((codes >> np.arange(ndim - 1, -1, -1)) & 1).astype(np.int64)


def orthant_overlaps(ndim: int) -> BoolArray:
    """Return which sub-boxes an orthant overlaps: ``[q, d]`` for orthant q, box d.

    Orthant ``q`` of a region covers starts ``[q_i, q_i + p_i)``; sub-box ``d``
    covers ``[0, 1)`` where ``d_i = 0`` and ``[1, p_i)`` where ``d_i = 1``. They
    overlap on axis i iff ``q_i == 0 or d_i == 1``, and overlap iff on every axis.

    Parameters
    ----------
    ndim : int
        The number of spatial axes.

    Returns
    -------
    numpy.ndarray
        ``(2**ndim, 2**ndim)`` booleans.

    Examples
    --------
    >>> orthant_overlaps(2).astype(int).tolist()
    [[1, 1, 1, 1], [0, 1, 0, 1], [0, 0, 1, 1], [0, 0, 0, 1]]
    """
    bits = box_bits(ndim)
    per_axis = (bits[:, None, :] == 0) | (bits[None, :, :] == 1)
    overlaps: BoolArray = per_axis.all(axis=2)
    return overlaps


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionGrid:
    """The sampling regions of every sample, flattened sample-major.

    Region ``r`` of a sample sits on grid cell ``g`` (origin ``g * p``); its
    selectable patch starts are ``origin + [0, p)`` per axis, split into the halves
    ``[0, 1)`` and ``[1, p)`` and clipped so every patch lies inside the image.

    Attributes
    ----------
    patch_size : numpy.ndarray
        ``(ndim,)``.
    grid_shapes : numpy.ndarray
        ``(shape + 1) // patch`` per sample, ``(n_samples, ndim)``.
    offsets : numpy.ndarray
        First region of each sample, ``(n_samples + 1,)``.
    sample : numpy.ndarray
        Flat sample of each region, ``(R,)``.
    grid : numpy.ndarray
        Grid cell of each region, ``(R, ndim)``, last axis fastest.
    extents : numpy.ndarray
        Length of the two halves per axis after clipping, ``(R, ndim, 2)``.
    lengths : numpy.ndarray
        Selectable starts per axis without exclusions (the two halves together),
        ``(R, ndim)``.
    """

    patch_size: Int64Array
    grid_shapes: Int64Array
    offsets: Int64Array
    sample: Int64Array
    grid: Int64Array
    extents: Int64Array
    lengths: Int64Array

    @classmethod
    def build(cls, spatial: Int64Array, patch_size: Int64Array) -> RegionGrid:
        """Lay out the regions of samples of the given spatial shapes.

        Parameters
        ----------
        spatial : numpy.ndarray
            Spatial shape of each sample, ``(n_samples, ndim)``.
        patch_size : numpy.ndarray
            ``(ndim,)``.

        Returns
        -------
        RegionGrid
            The regions.

        Examples
        --------
        >>> grid = RegionGrid.build(np.array([[64, 64]]), np.array([32, 32]))
        >>> grid.areas(np.zeros((4, 4), bool)).tolist()
        [1024, 32, 32, 1]
        """
        grid_shapes = (spatial + 1) // patch_size
        n_cells = grid_shapes.prod(axis=1)
        offsets = np.zeros(len(spatial) + 1, dtype=np.int64)
        np.cumsum(n_cells, out=offsets[1:])
        sample = np.repeat(np.arange(len(spatial), dtype=np.int64), n_cells)
        local = np.arange(offsets[-1], dtype=np.int64) - offsets[sample]
        shapes = grid_shapes[sample]
        grid = np.empty_like(shapes)
        for axis in range(shapes.shape[1] - 1, -1, -1):
            grid[:, axis] = local % shapes[:, axis]
            local //= shapes[:, axis]
        # highest selectable start, relative to the origin, plus one
        limit = spatial[sample] - grid * patch_size - patch_size + 1
        extents = np.stack(
            [np.minimum(1, limit), np.maximum(np.minimum(patch_size, limit) - 1, 0)],
            axis=2,
        )
        return cls(
            patch_size=patch_size,
            grid_shapes=grid_shapes,
            offsets=offsets,
            sample=sample,
            grid=grid,
            extents=extents.astype(np.int64),
            lengths=extents.sum(axis=2).astype(np.int64),
        )

    @property
    def n_regions(self) -> int:
        """The number of regions of all samples."""
        return int(self.offsets[-1])

    def box_areas(
        self, removed: BoolArray, regions: Int64Array | None = None
    ) -> Int64Array:
        """Return the selectable starts of every sub-box of some regions.

        Parameters
        ----------
        removed : numpy.ndarray
            ``(R, 2**ndim)`` sub-boxes removed by exclusions.
        regions : numpy.ndarray, optional
            Region indices; all regions by default.

        Returns
        -------
        numpy.ndarray
            ``(len(regions), 2**ndim)`` areas, 0 for removed or clipped boxes.
        """
        selection = slice(None) if regions is None else regions
        extents = self.extents[selection]
        bits = box_bits(self.grid.shape[1])
        areas = np.ones((len(extents), len(bits)), dtype=np.int64)
        for axis in range(bits.shape[1]):
            areas *= extents[:, axis, :][:, bits[:, axis]]
        areas[removed[selection]] = 0
        return areas

    def areas(self, removed: BoolArray) -> Int64Array:
        """Return the number of selectable starts of every region.

        Parameters
        ----------
        removed : numpy.ndarray
            ``(R, 2**ndim)`` sub-boxes removed by exclusions.

        Returns
        -------
        numpy.ndarray
            ``(R,)`` areas.
        """
        areas: Int64Array = self.lengths.prod(axis=1)
        partial = np.flatnonzero(removed.any(axis=1))
        areas[partial] = self.box_areas(removed, partial).sum(axis=1)
        return areas

    def removed_boxes(self, excluded: BoolArray) -> BoolArray:
        """Return the sub-boxes whose patches would overlap an excluded cell.

        For an excluded cell ``g`` and every ``q`` in ``{0, 1}**ndim``, region
        ``g - q`` (if it exists) loses the sub-boxes overlapping its orthant ``q``,
        as the reference's ``exclude_patches`` (the cell's own region loses all).

        Parameters
        ----------
        excluded : numpy.ndarray
            ``(R,)`` excluded cells.

        Returns
        -------
        numpy.ndarray
            ``(R, 2**ndim)`` booleans.
        """
        ndim = self.grid.shape[1]
        removed = np.zeros((self.n_regions, 2**ndim), dtype=np.bool_)
        cells = np.flatnonzero(excluded)
        if not len(cells):
            return removed
        shapes = self.grid_shapes[self.sample[cells]]
        strides = np.cumprod(shapes[:, ::-1], axis=1)[:, ::-1]
        strides = np.concatenate(
            [strides[:, 1:], np.ones((len(cells), 1), np.int64)], 1
        )
        grid = self.grid[cells]
        overlaps = orthant_overlaps(ndim)
        for q, bits in enumerate(box_bits(ndim)):
            inside = (grid >= bits).all(axis=1)
            neighbours = cells[inside] - (strides[inside] * bits).sum(axis=1)
            removed[neighbours] |= overlaps[q]
        return removed


def count_stratified_patches(
    spatial: Int64Array,
    patch_size: Int64Array,
    grid: RegionGrid,
    sums: tuple[FloatArray, FloatArray],
    weights: FloatArray,
    weight_set: BoolArray,
    excluded: BoolArray,
) -> Int64Array:
    """Return the reference's stratified patch count of every sample.

    ``ceil(prod(shape / p) - sum(1 - w over set weights) - n_excluded)``, the
    weights subtracted one by one in grid order as the reference does, so the
    float result (and its ceiling) is the same. A sample without selectable starts,
    or whose weighted starts are all 0, gets 0 patches; counts are never negative.

    Parameters
    ----------
    spatial : numpy.ndarray
        Spatial shape of each sample, ``(n_samples, ndim)``.
    patch_size : numpy.ndarray
        ``(ndim,)``.
    grid : RegionGrid
        The regions.
    sums : tuple of numpy.ndarray
        Per sample: the sum of region areas, and of areas times weights.
    weights : numpy.ndarray
        ``(R,)`` region weights.
    weight_set : numpy.ndarray
        ``(R,)`` whether a weight was set (only those reduce the count).
    excluded : numpy.ndarray
        ``(R,)`` excluded cells.

    Returns
    -------
    numpy.ndarray
        ``(n_samples,)`` counts.

    Examples
    --------
    >>> spatial, patch = np.array([[43, 71]]), np.array([8, 8])
    >>> grid, sums = RegionGrid.build(spatial, patch), (np.ones(1), np.ones(1))
    >>> weights, unset = np.ones(45), np.zeros(45, bool)
    >>> count_stratified_patches(spatial, patch, grid, sums, weights, unset, unset)
    array([48])
    """
    totals = (spatial / patch_size).prod(axis=1)
    n_excluded = np.bincount(grid.sample[excluded], minlength=len(spatial))
    weighted = np.flatnonzero(
        np.bincount(grid.sample[weight_set], minlength=len(spatial))
    )
    for s in weighted:
        start, stop = grid.offsets[s], grid.offsets[s + 1]
        terms = (1 - weights[start:stop])[weight_set[start:stop]]
        # sequential, like `total -= 1 - p` per key: cumsum adds left to right
        totals[s] = np.cumsum(np.concatenate([[totals[s]], -terms]))[-1]
    counts = np.ceil(totals - n_excluded)
    counts[(sums[0] == 0) | (sums[1] == 0)] = 0
    result: Int64Array = np.maximum(counts, 0).astype(np.int64)
    return result
