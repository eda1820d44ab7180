"""Per-sample grid cells of stratified patching, and which samples to show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from careamics_dask.patching import StratifiedPatching

if TYPE_CHECKING:
    from careamics_dask.factory.dataset import CareamicsDataset
    from careamics_dask.patching import PatchTable

__all__ = ["SampleGrid", "busiest_sample", "plane_rows", "sample_grid"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleGrid:
    """The stratified grid of one sample, as ``(Y, X)`` cell images.

    Attributes
    ----------
    weights : numpy.ndarray
        ``(gy, gx)`` region weights (1 unless a filter or the user set them).
    excluded : numpy.ndarray
        ``(gy, gx)`` whether the cell was taken out of training (validation).
    cell : tuple of int
        The ``(Y, X)`` cell size in pixels (the patch size).
    z_cell : int or None
        The Z cell shown, for 3-D grids.
    """

    weights: npt.NDArray[np.float64]
    excluded: npt.NDArray[np.bool_]
    cell: tuple[int, int]
    z_cell: int | None

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """The ``imshow`` extent of the cells in image pixel coordinates."""
        gy, gx = self.weights.shape
        return (-0.5, gx * self.cell[1] - 0.5, gy * self.cell[0] - 0.5, -0.5)


def sample_grid(
    dataset: CareamicsDataset, data_idx: int, sample_idx: int, z: int | None
) -> SampleGrid | None:
    """Return the stratified grid of one sample, or None for other strategies.

    Parameters
    ----------
    dataset : CareamicsDataset
        The dataset.
    data_idx, sample_idx : int
        The image stack and sample.
    z : int or None
        The Z plane shown (3-D grids).

    Returns
    -------
    SampleGrid or None
        The cells, or None when the patching has no region weights.
    """
    patching = dataset.patching
    if not isinstance(patching, StratifiedPatching):
        return None
    coords = patching.all_grid_coords
    weights = np.asarray(patching.region_weights, np.float64)
    excluded = np.asarray(patching.excluded_cells, bool)
    size = tuple(int(v) for v in patching.patch_size)
    rows = (coords[:, 0] == data_idx) & (coords[:, 1] == sample_idx)
    cells = coords[rows, 2:]
    z_cell = None
    if cells.shape[1] == 3:
        z_cell = int(z or 0) // size[0]
        keep = cells[:, 0] == z_cell
        cells, rows = cells[keep, 1:], np.flatnonzero(rows)[keep]
        size = size[1:]
    shape = tuple(int(v) + 1 for v in cells.max(axis=0)) if len(cells) else (0, 0)
    weight_image = np.ones(shape, np.float64)
    excluded_image = np.zeros(shape, bool)
    weight_image[cells[:, 0], cells[:, 1]] = weights[rows]
    excluded_image[cells[:, 0], cells[:, 1]] = excluded[rows]
    return SampleGrid(
        weights=weight_image,
        excluded=excluded_image,
        cell=(size[0], size[1]),
        z_cell=z_cell,
    )


def busiest_sample(table: PatchTable | None) -> tuple[int, int]:
    """Return ``(data_idx, sample_idx)`` holding the most rows of a table.

    Parameters
    ----------
    table : PatchTable or None
        E.g. the validation table.

    Returns
    -------
    tuple of int
        ``(0, 0)`` for an empty or missing table.

    Examples
    --------
    >>> from careamics_dask.patching import PatchTable
    >>> table = PatchTable.from_columns(data_idx=[0, 1, 1], sample_idx=[2, 0, 0],
    ...     coords=[[0, 0]] * 3, patch_size=[4, 4])
    >>> busiest_sample(table)
    (1, 0)
    """
    if table is None or len(table) == 0:
        return 0, 0
    pairs, counts = np.unique(
        np.column_stack([table.data_idx, table.sample_idx]), axis=0, return_counts=True
    )
    best = pairs[int(np.argmax(counts))]
    return int(best[0]), int(best[1])


def plane_rows(
    table: PatchTable, data_idx: int, sample_idx: int, z: int | None
) -> npt.NDArray[np.bool_]:
    """Select the rows of one sample whose patch meets the shown Z plane.

    Parameters
    ----------
    table : PatchTable
        A patch or tile table.
    data_idx, sample_idx : int
        The image stack and sample.
    z : int or None
        The Z plane of 3-D tables.

    Returns
    -------
    numpy.ndarray
        A boolean row mask.
    """
    rows = (table.data_idx == data_idx) & (table.sample_idx == sample_idx)
    if table.ndim == 3 and z is not None:
        start = table.coords[:, 0]
        rows &= (start <= z) & (z < start + table.patch_size[:, 0])
    return np.asarray(rows, bool)
