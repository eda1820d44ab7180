"""The reference's dict-based grid methods of stratified patching."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from careamics_dask.patching._stratified_state import check_weights

if TYPE_CHECKING:
    from careamics_dask.patching._regions import RegionGrid
    from careamics_dask.patching._shapes import SampleLayout
    from careamics_dask.patching._stratified_state import RegionState
    from careamics_dask.patching.table import PatchTable

__all__ = ["GridWeights", "ReferenceGridMethods"]

BoolArray = npt.NDArray[np.bool_]

GridWeights = (
    Mapping[tuple[int, int], float]
    | Mapping[tuple[int, int, int], float]
    | Mapping[tuple[int, ...], float]
)
"""Region weights by grid cell, as the reference's ``set_region_probs`` takes them."""


class ReferenceGridMethods:
    """Grid cells as dicts of tuples and weights by cell, as the reference has them.

    Mixed into :class:`~careamics_dask.patching.StratifiedPatching`; the array
    methods there are the fast path.
    """

    _layout: SampleLayout
    _grid: RegionGrid
    _regions: RegionState
    _last: tuple[int, PatchTable] | None

    def get_all_grid_coords(self) -> dict[tuple[int, int], list[tuple[int, ...]]]:
        """Return every grid cell per ``(data_idx, sample_idx)`` (the reference's dict).

        Returns
        -------
        dict
            Grid cells as tuples, last axis fastest.

        Examples
        --------
        >>> from careamics_dask.patching import StratifiedPatching
        >>> StratifiedPatching([(1, 1, 64, 32)], [32, 32]).get_all_grid_coords()
        {(0, 0): [(0, 0), (1, 0)]}
        """
        return self._grid_dict(np.ones(self._grid.n_regions, dtype=np.bool_))

    def get_included_grid_coords(self) -> dict[tuple[int, int], list[tuple[int, ...]]]:
        """Return the cells not excluded per ``(data_idx, sample_idx)``, in grid order.

        Returns
        -------
        dict
            Grid cells as tuples (the reference gives them in set order).

        Examples
        --------
        >>> from careamics_dask.patching import StratifiedPatching
        >>> patching = StratifiedPatching([(1, 1, 64, 32)], [32, 32])
        >>> patching.exclude_cells(0, 0, [[0, 0]])
        >>> patching.get_included_grid_coords()
        {(0, 0): [(1, 0)]}
        """
        return self._grid_dict(~self._regions.excluded)

    def _grid_dict(
        self, keep: BoolArray
    ) -> dict[tuple[int, int], list[tuple[int, ...]]]:
        grid = self._grid
        result = {}
        for s in range(self._layout.n_samples):
            start, stop = grid.offsets[s], grid.offsets[s + 1]
            cells = grid.grid[start:stop][keep[start:stop]]
            key = (int(self._layout.data_idx[s]), int(self._layout.sample_idx[s]))
            result[key] = [tuple(c) for c in cells.tolist()]
        return result

    def set_region_probs(
        self, data_idx: int, sample_idx: int, probs: GridWeights
    ) -> None:
        """Set some regions' weights by grid cell (the reference's method).

        Parameters
        ----------
        data_idx : int
            The image stack.
        sample_idx : int
            The index along S.
        probs : mapping of tuple of int to float
            Weights by grid cell; other regions keep theirs.

        Raises
        ------
        ValueError
            When a cell is outside the grid or a weight outside ``[0, 1]``.

        Examples
        --------
        >>> from careamics_dask.patching import StratifiedPatching
        >>> patching = StratifiedPatching([(1, 1, 64, 64)], [32, 32])
        >>> patching.set_region_probs(0, 0, {(1, 1): 0.1})
        >>> patching.n_patches
        4
        """
        s = self._layout.flat_sample(data_idx, sample_idx)
        cells = np.array(list(probs.keys()), dtype=np.int64)
        regions = self._regions.regions_of(s, cells)
        values = np.array(list(probs.values()), dtype=np.float64)
        self._regions.set_weights(
            regions, check_weights(values, len(regions), len(regions))
        )
        self._last = None
