"""Tiled patching: overlapping tiles with the crop and stitch columns of prediction."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt

from careamics_dask.patching._shapes import SampleLayout, check_patch_size, check_shapes
from careamics_dask.patching.strategy import TableStrategy
from careamics_dask.patching.table import PatchTable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from careamics_dask.patching.specs import TileSpecs

__all__ = ["TiledPatching", "compute_tile_coords_1d", "grid_product"]

Int64Array = npt.NDArray[np.int64]


def compute_tile_coords_1d(
    axis_size: int, patch_size: int, overlap: int
) -> tuple[Int64Array, Int64Array, Int64Array, Int64Array]:
    """Return the tiles along one axis: starts, stitch starts, crop starts, crop sizes.

    The reference's ``_compute_1d_coords``, vectorized. Tiles start every
    ``patch_size - overlap``; the first keeps ``[0, patch - overlap // 2)``, the
    middle ones drop ``overlap // 2`` on each side, the last ends at the image edge
    and keeps what remains. With an even overlap the crops partition
    ``[0, axis_size)``; an axis shorter than the tile gives one tile at 0 whose crop
    is the whole axis (the tile is zero-padded when extracted).

    Parameters
    ----------
    axis_size : int
        The length of the axis.
    patch_size : int
        The tile length.
    overlap : int
        The overlap of neighbouring tiles, ``0 <= overlap < patch_size``.

    Returns
    -------
    coords, stitch_coords, crop_coords, crop_size : numpy.ndarray
        One int64 entry per tile: tile start in the image, where the crop goes in
        the image, crop start relative to the tile, crop length.

    Raises
    ------
    ValueError
        When the overlap is negative or not smaller than the tile.

    Examples
    --------
    >>> [a.tolist() for a in compute_tile_coords_1d(100, 32, 8)]
    [[0, 24, 48, 68], [0, 28, 52, 76], [0, 4, 4, 8], [28, 24, 24, 24]]
    """
    if not 0 <= overlap < patch_size:
        raise ValueError(
            f"Tile overlap out of range: expected 0 <= overlap < patch size "
            f"{patch_size}, got {overlap}."
        )
    half = overlap // 2
    starts = np.arange(0, max(1, axis_size - overlap), patch_size - overlap)
    coords = starts.astype(np.int64)
    crop_coords = np.full(len(starts), half, dtype=np.int64)
    crop_size = np.full(len(starts), patch_size - overlap, dtype=np.int64)
    crop_coords[0] = 0
    crop_size[0] = axis_size if axis_size <= patch_size else patch_size - half
    stitch = coords + crop_coords
    if len(starts) > 1:  # the last tile ends at the image edge
        previous_end = stitch[-2] + crop_size[-2]
        coords[-1] = max(0, axis_size - patch_size)
        stitch[-1] = previous_end
        crop_coords[-1] = previous_end - coords[-1]
        crop_size[-1] = axis_size - previous_end
    return coords, stitch, crop_coords, crop_size


def grid_product(axes: Sequence[Int64Array]) -> Int64Array:
    """Return every combination of per-axis values, last axis fastest.

    Parameters
    ----------
    axes : sequence of numpy.ndarray
        One 1-D array per axis.

    Returns
    -------
    numpy.ndarray
        ``(prod(len), n_axes)`` rows, in ``itertools.product`` order.

    Examples
    --------
    >>> grid_product([np.array([0, 1]), np.array([5, 6])]).tolist()
    [[0, 5], [0, 6], [1, 5], [1, 6]]
    """
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.reshape(-1) for m in mesh], axis=1).astype(np.int64)


class TiledPatching(TableStrategy):
    """Overlapping tiles covering every image, with crop and stitch columns.

    For each stack the tiles of every axis (:func:`compute_tile_coords_1d`) are
    combined with the last axis fastest; every sample gets the same tiles,
    sample-major. ``total_tiles`` counts the tiles of the whole image stack (all
    samples), as the reference.

    Parameters
    ----------
    data_shapes : sequence of sequence of int
        Image-stack shapes, axes ``S C (Z) Y X``.
    patch_size : sequence of int
        Tile size along ``(Z,) Y, X``.
    overlaps : sequence of int
        Overlap of neighbouring tiles per axis (even for an exact partition).

    Examples
    --------
    >>> tiling = TiledPatching([(2, 1, 64, 100)], [32, 32], [8, 8])
    >>> tiling.n_patches
    24
    >>> spec = tiling.get_patch_spec(3)
    >>> spec["coords"], spec["stitch_coords"], spec["crop_coords"], spec["crop_size"]
    ((0, 68), (0, 76), (0, 8), (28, 24))
    >>> spec["total_tiles"]
    24
    """

    _label = "TiledPatching"

    def __init__(
        self,
        data_shapes: Sequence[Sequence[int]],
        patch_size: Sequence[int],
        overlaps: Sequence[int],
    ) -> None:
        self.patch_size = check_patch_size(patch_size)
        self.overlaps = np.array(overlaps, dtype=np.int64).reshape(-1)
        if self.overlaps.shape != self.patch_size.shape:
            raise ValueError(
                f"Tile overlaps must match the patch size: expected "
                f"{len(self.patch_size)} values, got {list(overlaps)!r}."
            )
        self.data_shapes = check_shapes(data_shapes, len(self.patch_size), patch_size)
        self._table = self._tile_all()
        self._data_idx = self._table.data_idx

    def _tile_stack(self, shape: Int64Array) -> dict[str, Int64Array]:
        """Return the tile columns of one sample of a stack of this shape."""
        per_axis = [
            compute_tile_coords_1d(int(size), int(p), int(o))
            for size, p, o in zip(
                shape[2:], self.patch_size, self.overlaps, strict=True
            )
        ]
        names = ("coords", "stitch_coords", "crop_coords", "crop_size")
        return {
            name: grid_product([axis[i] for axis in per_axis])
            for i, name in enumerate(names)
        }

    def _tile_all(self) -> PatchTable:
        layout = SampleLayout.from_shapes(self.data_shapes)
        cache: dict[bytes, dict[str, Int64Array]] = {}
        per_stack = []
        for shape in self.data_shapes:
            key = shape[2:].tobytes()
            if key not in cache:
                cache[key] = self._tile_stack(shape)
            per_stack.append(cache[key])
        tiles = np.array([len(t["coords"]) for t in per_stack], dtype=np.int64)
        rows_per_sample = tiles[layout.data_idx]
        row_sample = np.repeat(np.arange(layout.n_samples), rows_per_sample)
        # position of each row among its sample's tiles
        sample_start = np.cumsum(rows_per_sample) - rows_per_sample
        within = np.arange(len(row_sample)) - sample_start[row_sample]
        # offset of each stack's tiles in the concatenated per-stack tiles
        stack_start = np.cumsum(tiles) - tiles
        source = stack_start[layout.data_idx[row_sample]] + within
        empty = np.zeros((0, len(self.patch_size)), dtype=np.int64)
        columns = {
            name: np.concatenate([t[name] for t in per_stack] or [empty])[source]
            for name in ("coords", "stitch_coords", "crop_coords", "crop_size")
        }
        data_idx = layout.data_idx[row_sample]
        return PatchTable.from_columns(
            data_idx=data_idx,
            sample_idx=layout.sample_idx[row_sample],
            coords=columns["coords"],
            patch_size=self.patch_size,
            crop_coords=columns["crop_coords"],
            crop_size=columns["crop_size"],
            stitch_coords=columns["stitch_coords"],
            total_tiles=(tiles * self.data_shapes[:, 0])[data_idx],
        )

    @property
    def tile_specs(self) -> list[TileSpecs]:
        """The tiles as the reference's list of tile spec dicts (its attribute)."""
        return [cast("TileSpecs", spec) for spec in self._table]

    def _build_table(self, epoch: int) -> PatchTable:
        return self._table
