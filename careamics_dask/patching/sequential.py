"""Sequential patching: a regular grid of patches, optionally overlapping."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from careamics_dask.patching._shapes import SampleLayout, check_patch_size, check_shapes
from careamics_dask.patching.strategy import TableStrategy
from careamics_dask.patching.table import PatchTable
from careamics_dask.patching.tiled import grid_product

if TYPE_CHECKING:
    from collections.abc import Sequence

    from careamics_dask.patching.specs import PatchSpecs

__all__ = ["SequentialPatching", "compute_sequential_coords_1d"]

Int64Array = npt.NDArray[np.int64]


def compute_sequential_coords_1d(
    axis_size: int, patch_size: int, overlap: int
) -> Int64Array:
    """Return the patch starts along one axis: every ``patch - overlap``, edge last.

    Starts are ``0, step, 2 step, ...`` while the patch fits, then
    ``axis_size - patch`` if the last patch stopped short of the edge. An axis
    shorter than the patch gives the single start 0 (the patch is zero-padded;
    the reference raises ``IndexError`` there).

    Parameters
    ----------
    axis_size : int
        The length of the axis.
    patch_size : int
        The patch length.
    overlap : int
        The overlap of neighbours, ``0 <= overlap < patch_size``.

    Returns
    -------
    numpy.ndarray
        The starts, int64.

    Raises
    ------
    ValueError
        When the overlap is negative or not smaller than the patch.

    Examples
    --------
    >>> compute_sequential_coords_1d(64, 32, 8).tolist()
    [0, 24, 32]
    >>> compute_sequential_coords_1d(20, 32, 0).tolist()
    [0]
    """
    if not 0 <= overlap < patch_size:
        raise ValueError(
            f"Patch overlap out of range: expected 0 <= overlap < patch size "
            f"{patch_size}, got {overlap}."
        )
    if axis_size < patch_size:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, axis_size - patch_size + 1, patch_size - overlap)
    if starts[-1] + patch_size < axis_size:
        starts = np.append(starts, axis_size - patch_size)
    return starts.astype(np.int64)


class SequentialPatching(TableStrategy):
    """Patches on a regular grid covering every sample (the reference's prototype).

    Parameters
    ----------
    data_shapes : sequence of sequence of int
        Image-stack shapes, axes ``S C (Z) Y X``.
    patch_size : sequence of int
        Patch size along ``(Z,) Y, X``.
    overlaps : sequence of int, optional
        Overlap of neighbouring patches per axis; none by default.

    Examples
    --------
    >>> SequentialPatching([(1, 1, 100, 64)], [32, 32]).n_patches
    8
    >>> SequentialPatching([(1, 1, 20, 20)], [32, 32]).table().coords.tolist()
    [[0, 0]]
    """

    _label = "SequentialPatching"

    def __init__(
        self,
        data_shapes: Sequence[Sequence[int]],
        patch_size: Sequence[int],
        overlaps: Sequence[int] | None = None,
    ) -> None:
        self.patch_size = check_patch_size(patch_size)
        ndim = len(self.patch_size)
        self.overlaps = np.array(
            [0] * ndim if overlaps is None else overlaps, dtype=np.int64
        ).reshape(-1)
        if self.overlaps.shape != self.patch_size.shape:
            raise ValueError(
                f"Patch overlaps must match the patch size: expected {ndim} values, "
                f"got {overlaps!r}."
            )
        self.data_shapes = check_shapes(data_shapes, ndim, patch_size)
        layout = SampleLayout.from_shapes(self.data_shapes)
        grids = [
            grid_product(
                [
                    compute_sequential_coords_1d(int(s), int(p), int(o))
                    for s, p, o in zip(
                        shape[2:], self.patch_size, self.overlaps, strict=True
                    )
                ]
            )
            for shape in self.data_shapes
        ]
        per_sample = [grids[d] for d in layout.data_idx]
        counts = np.array([len(g) for g in per_sample], dtype=np.int64)
        row_sample = np.repeat(np.arange(layout.n_samples), counts)
        coords = (
            np.concatenate(per_sample) if per_sample else np.zeros((0, ndim), np.int64)
        )
        self._table = PatchTable.from_columns(
            data_idx=layout.data_idx[row_sample],
            sample_idx=layout.sample_idx[row_sample],
            coords=coords,
            patch_size=self.patch_size,
        )
        self._data_idx = self._table.data_idx

    @property
    def patch_specs(self) -> list[PatchSpecs]:
        """The patches as the reference's list of spec dicts (its attribute)."""
        return list(self._table)

    def _build_table(self, epoch: int) -> PatchTable:
        return self._table
