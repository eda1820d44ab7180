"""Stratified patching: weighted grid regions, exclusions, bin-packed epoch tables."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from careamics_dask.patching._regions import RegionGrid
from careamics_dask.patching._shapes import SampleLayout, check_patch_size, check_shapes
from careamics_dask.patching._stratified_compat import ReferenceGridMethods
from careamics_dask.patching._stratified_draw import draw_starts
from careamics_dask.patching._stratified_state import (
    RegionState,
    check_weights,
    frozen,
)
from careamics_dask.patching.seeds import epoch_rng, resolve_seed
from careamics_dask.patching.strategy import TableStrategy
from careamics_dask.patching.table import PatchTable

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["StratifiedPatching"]

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class StratifiedPatching(ReferenceGridMethods, TableStrategy):
    """Patches spread over a grid of regions so each pixel is covered about once.

    Every sample has a grid of ``(shape + 1) // patch`` cells; the region of cell
    ``g`` holds the patch starts ``g * patch + [0, patch)`` that keep the patch
    inside the image. A sample gets ``ceil(prod(shape / patch) - sum(1 - w) -
    n_excluded)`` patches (weights ``w`` of the regions that have one); its regions'
    weighted areas are bin-packed into that many bins, and each patch index draws
    from its bin (the reference's semantics, ``reference_semantics.md`` §2.5).
    Regions live in arrays and every epoch's table is one vectorized draw.

    Parameters
    ----------
    data_shapes : sequence of sequence of int
        Image-stack shapes, axes ``S C (Z) Y X``.
    patch_size : sequence of int
        Patch size along ``(Z,) Y, X``.
    seed : int or None, optional
        Seed of every epoch's table; ``None`` draws one once (see ``seed``).

    Examples
    --------
    >>> patching = StratifiedPatching([(1, 1, 64, 64), (1, 1, 100, 40)], [32, 32], 1)
    >>> patching.n_patches, patching.grid_shapes.tolist()
    (8, [[2, 2], [3, 1]])
    >>> patching.exclude_cells(0, 0, [[1, 1]])
    >>> patching.n_patches
    7
    >>> patching.set_region_weights(1, 0, np.array([[1.0], [0.5], [0.0]]))
    >>> patching.sample_patch_counts.tolist()
    [3, 3]
    >>> bool((patching.table(epoch=4).coords[:3] == 0).any(axis=1).all())
    True
    """

    _label = "StratifiedPatching"
    is_random = True

    def __init__(
        self,
        data_shapes: Sequence[Sequence[int]],
        patch_size: Sequence[int],
        seed: int | None = None,
    ) -> None:
        self.patch_size = check_patch_size(patch_size)
        self.data_shapes = check_shapes(data_shapes, len(self.patch_size), patch_size)
        self.seed = resolve_seed(seed)
        self._layout = SampleLayout.from_shapes(self.data_shapes)
        self._grid = RegionGrid.build(self._layout.spatial, self.patch_size)
        self._regions = RegionState(self._grid, self._layout, self.patch_size)

    # --- reading ------------------------------------------------------------

    @property
    def n_patches(self) -> int:
        """The number of patches per epoch (the sum over samples)."""
        return int(self._regions.sampling.counts.sum())

    @property
    def sample_patch_counts(self) -> Int64Array:
        """Patches per sample, stack-major, ``(n_samples,)``."""
        return frozen(self._regions.sampling.counts)

    @property
    def grid_shapes(self) -> Int64Array:
        """Grid shape of every sample, ``(n_samples, ndim)``."""
        return frozen(self._grid.grid_shapes)

    @property
    def region_offsets(self) -> Int64Array:
        """First region of each sample in the flat region arrays, ``(n + 1,)``."""
        return frozen(self._grid.offsets)

    @property
    def all_grid_coords(self) -> Int64Array:
        """Every region: ``(R, 2 + ndim)`` rows of data_idx, sample_idx, grid cell."""
        sample = self._grid.sample
        return frozen(
            np.column_stack(
                [
                    self._layout.data_idx[sample],
                    self._layout.sample_idx[sample],
                    self._grid.grid,
                ]
            )
        )

    @property
    def included_grid_coords(self) -> Int64Array:
        """The rows of :attr:`all_grid_coords` whose cell is not excluded."""
        return frozen(self.all_grid_coords[~self._regions.excluded])

    @property
    def region_weights(self) -> FloatArray:
        """Weight of every region (1 unless set), aligned with ``all_grid_coords``."""
        return frozen(self._regions.weights.copy())

    @property
    def excluded_cells(self) -> BoolArray:
        """Whether each region's cell is excluded, aligned with ``all_grid_coords``."""
        return frozen(self._regions.excluded.copy())

    @property
    def region_areas(self) -> Int64Array:
        """Selectable patch starts of every region, after exclusions."""
        return frozen(self._regions.sampling.areas)

    def get_patch_indices(self, data_idx: int) -> Int64Array:
        """Return the contiguous indices of the patches of one image stack.

        Parameters
        ----------
        data_idx : int
            The image stack.

        Returns
        -------
        numpy.ndarray
            Increasing patch indices, int64.

        Examples
        --------
        >>> patching = StratifiedPatching([(1, 1, 64, 64)] * 2, [32, 32])
        >>> patching.get_patch_indices(1).tolist()
        [4, 5, 6, 7]
        """
        offsets = np.concatenate([[0], np.cumsum(self._regions.sampling.counts)])
        stacks = self._layout.stack_offsets
        start, stop = offsets[stacks[data_idx]], offsets[stacks[data_idx + 1]]
        return np.arange(start, stop, dtype=np.int64)

    # --- changing -----------------------------------------------------------

    def set_region_weights(
        self, data_idx: int, sample_idx: int, weights: npt.ArrayLike
    ) -> None:
        """Set the weight of every region of one sample (e.g. from a filter).

        A region of weight ``w`` is sampled about ``w`` times as often as one of
        weight 1, and the sample's patch count falls by ``1 - w``.

        Parameters
        ----------
        data_idx : int
            The image stack.
        sample_idx : int
            The index along S.
        weights : array_like of float
            One weight in ``[0, 1]`` per grid cell, of the sample's grid shape (or
            flat, last axis fastest).

        Raises
        ------
        IndexError
            When the sample does not exist.
        ValueError
            When the weights do not match the grid or are outside ``[0, 1]``.

        Examples
        --------
        >>> patching = StratifiedPatching([(1, 1, 64, 64)], [32, 32])
        >>> patching.set_region_weights(0, 0, [[1.0, 0.5], [0.5, 1.0]])
        >>> patching.n_patches
        3
        """
        s = self._layout.flat_sample(data_idx, sample_idx)
        start, stop = self._grid.offsets[s], self._grid.offsets[s + 1]
        values = check_weights(weights, stop - start, self._grid.grid_shapes[s])
        self._regions.set_weights(slice(start, stop), values)
        self._last = None

    def set_all_region_weights(
        self, weights: npt.ArrayLike | Sequence[npt.ArrayLike]
    ) -> None:
        """Set the weights of all regions at once (a bulk filter result).

        Parameters
        ----------
        weights : array_like or sequence of array_like
            Either one flat array aligned with :attr:`all_grid_coords`, or one array
            of grid shape per sample (stack-major).

        Raises
        ------
        ValueError
            When the shapes do not match or a weight is outside ``[0, 1]``.

        Examples
        --------
        >>> patching = StratifiedPatching([(2, 1, 64, 64)], [32, 32])
        >>> patching.set_all_region_weights(np.full(8, 0.5))
        >>> patching.sample_patch_counts.tolist()
        [2, 2]
        """
        n_regions = self._grid.n_regions
        if isinstance(weights, np.ndarray) and weights.ndim <= 1:
            flat = weights
        elif (
            isinstance(weights, list | tuple) and len(weights) == self._layout.n_samples
        ):
            flat = (
                np.concatenate(
                    [np.asarray(w, dtype=np.float64).reshape(-1) for w in weights]
                )
                if weights
                else np.zeros(0)
            )
        else:
            flat = np.asarray(weights, dtype=np.float64).reshape(-1)
        self._regions.set_weights(
            slice(None), check_weights(flat, n_regions, n_regions)
        )
        self._last = None

    def exclude_cells(
        self, data_idx: int, sample_idx: int, grid_coords: npt.ArrayLike
    ) -> None:
        """Exclude grid cells: no patch of any later epoch overlaps them.

        Parameters
        ----------
        data_idx : int
            The image stack.
        sample_idx : int
            The index along S.
        grid_coords : array_like of int
            ``(k, ndim)`` grid cells; cell ``g`` covers ``[g * p, (g + 1) * p)``.

        Raises
        ------
        IndexError
            When the sample does not exist.
        ValueError
            When a cell is outside the sample's grid.

        Examples
        --------
        >>> patching = StratifiedPatching([(1, 1, 64, 64)], [32, 32])
        >>> patching.exclude_cells(0, 0, [[1, 1]])
        >>> patching.region_areas.tolist(), patching.n_patches
        ([63, 1, 1, 0], 3)
        """
        s = self._layout.flat_sample(data_idx, sample_idx)
        self._regions.exclude(self._regions.regions_of(s, grid_coords))
        self._last = None

    def exclude_patches(
        self, data_idx: int, sample_idx: int, grid_coords: Sequence[Sequence[int]]
    ) -> None:
        """Exclude grid cells (the reference's name of :meth:`exclude_cells`).

        Parameters
        ----------
        data_idx : int
            The image stack.
        sample_idx : int
            The index along S.
        grid_coords : sequence of sequence of int
            Grid cells.

        Examples
        --------
        >>> patching = StratifiedPatching([(1, 1, 64, 64)], [32, 32])
        >>> patching.exclude_patches(0, 0, [(1, 1)])
        >>> patching.n_patches
        3
        """
        self.exclude_cells(data_idx, sample_idx, grid_coords)

    def exclude_all_cells(self, excluded: npt.ArrayLike) -> None:
        """Exclude cells of all samples at once.

        Parameters
        ----------
        excluded : array_like of bool
            ``(R,)`` mask aligned with :attr:`all_grid_coords`; ``True`` excludes.

        Raises
        ------
        ValueError
            When the mask has the wrong length.

        Examples
        --------
        >>> patching = StratifiedPatching([(2, 1, 64, 64)], [32, 32])
        >>> patching.exclude_all_cells(np.arange(8) == 7)
        >>> patching.sample_patch_counts.tolist()
        [4, 3]
        """
        mask = np.asarray(excluded, dtype=np.bool_)
        if mask.shape != (self._grid.n_regions,):
            raise ValueError(
                f"Excluded-cell mask has the wrong length: expected "
                f"{(self._grid.n_regions,)}, got {mask.shape}."
            )
        self._regions.exclude(mask)
        self._last = None

    def copy(self) -> StratifiedPatching:
        """Return an independent copy (same seed, weights and exclusions).

        Returns
        -------
        StratifiedPatching
            The copy.

        Examples
        --------
        >>> patching = StratifiedPatching([(1, 1, 64, 64)], [32, 32], seed=3)
        >>> other = patching.copy()
        >>> other.exclude_cells(0, 0, [[0, 0]])
        >>> patching.n_patches, other.n_patches
        (4, 3)
        """
        clone = copy.copy(self)
        clone._regions = self._regions.copy()
        clone._last = None
        return clone

    def _build_table(self, epoch: int) -> PatchTable:
        state = self._regions.sampling
        sampler = state.sampler
        rng = epoch_rng(self.seed, epoch)
        regions = sampler.draw_regions(rng.random(len(sampler.row_sample)))
        coords = draw_starts(self._grid, state.removed, state.partial, regions, rng)
        return PatchTable.from_columns(
            data_idx=self._layout.data_idx[sampler.row_sample],
            sample_idx=self._layout.sample_idx[sampler.row_sample],
            coords=coords,
            patch_size=self.patch_size,
        )
