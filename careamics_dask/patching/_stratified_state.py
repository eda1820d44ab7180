"""Region weights and exclusions of stratified patching, and what they imply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from careamics_dask.patching._bin_packing import pack_regions
from careamics_dask.patching._regions import count_stratified_patches
from careamics_dask.patching._stratified_draw import StratifiedSampler

if TYPE_CHECKING:
    from careamics_dask.patching._regions import RegionGrid
    from careamics_dask.patching._shapes import SampleLayout

__all__ = ["RegionState", "Sampling", "check_weights", "frozen"]

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ArrayT = TypeVar("ArrayT", bound="np.ndarray[Any, Any]")
Packing = tuple[int, Int64Array]


def frozen(array: ArrayT) -> ArrayT:
    """Return a read-only view of ``array``."""
    view = array.view()
    view.flags.writeable = False
    return view


def check_weights(weights: npt.ArrayLike, n: int, grid_shape: Any) -> FloatArray:
    """Return weights as a flat float array after checking their count and range."""
    values = np.asarray(weights, dtype=np.float64)
    if values.size != n:
        raise ValueError(
            f"Region weights do not match the grid: expected {n} values (grid shape "
            f"{tuple(np.asarray(grid_shape).tolist())}), got shape {values.shape}."
        )
    values = values.reshape(-1)
    if not np.isfinite(values).all() or (values < 0).any() or (values > 1).any():
        raise ValueError(
            "Region weights must lie in [0, 1]: got values from "
            f"{np.nanmin(values)} to {np.nanmax(values)}. A weight is a relative "
            "sampling probability (filters use e.g. 0.1 for background)."
        )
    return values


@dataclass(frozen=True, slots=True, kw_only=True)
class Sampling:
    """What the weights and exclusions imply: areas, counts, packings, draw arrays."""

    removed: BoolArray
    partial: BoolArray
    areas: Int64Array
    counts: Int64Array
    bin_sizes: Int64Array
    sampler: StratifiedSampler


class RegionState:
    """Per-region weights and exclusions, with their sampling computed on demand.

    Packings are cached by (patch count, weighted areas), so samples with the same
    shape and weights (the unfiltered case) are packed once, and a change to a few
    samples repacks only those.

    Parameters
    ----------
    grid : RegionGrid
        The regions.
    layout : SampleLayout
        The samples.
    patch_size : numpy.ndarray
        ``(ndim,)``.
    """

    def __init__(
        self, grid: RegionGrid, layout: SampleLayout, patch_size: Int64Array
    ) -> None:
        self.grid = grid
        self.layout = layout
        self.patch_size = patch_size
        self.weights = np.ones(grid.n_regions)
        self.weight_set = np.zeros(grid.n_regions, dtype=np.bool_)
        self.excluded = np.zeros(grid.n_regions, dtype=np.bool_)
        self._packings: dict[tuple[int, bytes], Packing] = {}
        self._sampling: Sampling | None = None

    def __getstate__(self) -> dict[str, object]:
        # packings are a cache keyed by area bytes: not worth pickling
        return {**self.__dict__, "_packings": {}}

    def copy(self) -> RegionState:
        """Return an independent copy (the immutable grid is shared)."""
        clone = RegionState(self.grid, self.layout, self.patch_size)
        clone.weights[:] = self.weights
        clone.weight_set[:] = self.weight_set
        clone.excluded[:] = self.excluded
        clone._packings = dict(self._packings)
        clone._sampling = self._sampling
        return clone

    def regions_of(self, s: int, cells: npt.ArrayLike) -> Int64Array:
        """Return the flat regions of grid cells of flat sample ``s``."""
        shape = self.grid.grid_shapes[s]
        array = np.asarray(cells, dtype=np.int64).reshape(-1, len(shape))
        outside = ((array < 0) | (array >= shape)).any(axis=1)
        if outside.any():
            raise ValueError(
                f"Grid cell outside the sample's grid: expected 0 <= cell < "
                f"{tuple(shape.tolist())}, got {tuple(array[outside][0].tolist())}. "
                "Cells are patch-size steps; edge cells that cannot hold a patch "
                "do not exist."
            )
        if not len(array):
            return np.zeros(0, dtype=np.int64)
        local = np.ravel_multi_index(tuple(array.T), tuple(shape))
        regions: Int64Array = (self.grid.offsets[s] + local).astype(np.int64)
        return regions

    def set_weights(self, regions: slice | Int64Array, values: FloatArray) -> None:
        """Set the weights of some regions (checked by the caller)."""
        self.weights[regions] = values
        self.weight_set[regions] = True
        self._sampling = None

    def exclude(self, regions: slice | Int64Array | BoolArray) -> None:
        """Exclude the cells of some regions."""
        self.excluded[regions] = True
        self._sampling = None

    @property
    def sampling(self) -> Sampling:
        """The sampling the current weights and exclusions imply."""
        if self._sampling is None:
            self._sampling = self._compute()
        return self._sampling

    def _compute(self) -> Sampling:
        grid, n_samples = self.grid, self.layout.n_samples
        removed = grid.removed_boxes(self.excluded)
        areas = grid.areas(removed)
        adjusted = areas * self.weights
        sums: tuple[FloatArray, FloatArray] = (
            np.bincount(grid.sample, areas, n_samples).astype(np.float64),
            np.bincount(grid.sample, adjusted, n_samples).astype(np.float64),
        )
        counts = count_stratified_patches(
            self.layout.spatial,
            self.patch_size,
            grid,
            sums,
            self.weights,
            self.weight_set,
            self.excluded,
        )
        bins, bin_sizes = self._pack(adjusted, counts)
        sizes = bin_sizes[grid.sample]
        probs = np.zeros_like(adjusted)
        np.divide(adjusted, sizes, out=probs, where=(adjusted > 0) & (sizes > 0))
        return Sampling(
            removed=removed,
            partial=np.asarray(removed.any(axis=1), dtype=np.bool_),
            areas=areas,
            counts=counts,
            bin_sizes=bin_sizes,
            sampler=StratifiedSampler.build(grid, counts, bins, probs),
        )

    def _pack(
        self, adjusted: FloatArray, counts: Int64Array
    ) -> tuple[Int64Array, Int64Array]:
        """Bin-pack every sample with patches, reusing identical packings."""
        offsets = self.grid.offsets
        bins = np.full(self.grid.n_regions, -1, dtype=np.int64)
        bin_sizes = np.zeros(len(counts), dtype=np.int64)
        packings: dict[tuple[int, bytes], Packing] = {}
        for s in np.flatnonzero(counts):
            areas = adjusted[offsets[s] : offsets[s + 1]]
            key = (int(counts[s]), areas.tobytes())
            packing = packings.get(key) or self._packings.get(key)
            if packing is None:
                packing = pack_regions(areas, key[0])
            packings[key] = packing
            bin_sizes[s], bins[offsets[s] : offsets[s + 1]] = packing
        self._packings = packings
        return bins, bin_sizes
