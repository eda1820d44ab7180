"""Random patching: uniform patch starts, a new table every epoch or drawn once."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from careamics_dask.patching._shapes import SampleLayout, check_patch_size, check_shapes
from careamics_dask.patching.seeds import epoch_rng, resolve_seed
from careamics_dask.patching.strategy import TableStrategy
from careamics_dask.patching.table import PatchTable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from careamics_dask.patching.specs import PatchSpecs

__all__ = ["FixedPatching", "FixedRandomPatching", "RandomPatching"]

Int64Array = npt.NDArray[np.int64]


def count_grid_patches(spatial: Int64Array, patch_size: Int64Array) -> Int64Array:
    """Return ``prod(ceil(shape / patch))`` per row: non-overlapping grid patches.

    Parameters
    ----------
    spatial : numpy.ndarray
        Spatial shapes, ``(n, ndim)``.
    patch_size : numpy.ndarray
        Patch size, ``(ndim,)``.

    Returns
    -------
    numpy.ndarray
        Patch counts, ``(n,)``, int64.

    Examples
    --------
    >>> count_grid_patches(np.array([[64, 64], [43, 71]]), np.array([32, 32])).tolist()
    [4, 6]
    """
    counts: Int64Array = (-(-spatial // patch_size)).prod(axis=1).astype(np.int64)
    return counts


class RandomPatching(TableStrategy):
    """Patches at uniformly random positions, a new table every epoch (training).

    Every sample of every stack gets ``prod(ceil(shape / patch))`` patches, in
    stack-major, then sample-major order, as the reference. Starts are uniform on
    ``[0, max(shape - patch, 0)]`` per axis; an image smaller than the patch gives
    start 0 and the patch is zero-padded at the end when extracted.

    Parameters
    ----------
    data_shapes : sequence of sequence of int
        Image-stack shapes, axes ``S C (Z) Y X``.
    patch_size : sequence of int
        Patch size along ``(Z,) Y, X``.
    seed : int or None, optional
        Seed of every epoch's table; ``None`` draws one once (see ``seed``).

    Attributes
    ----------
    seed : int
        The seed in use: the table of epoch ``e`` depends only on it and ``e``.

    Examples
    --------
    >>> patching = RandomPatching([(2, 1, 64, 64), (1, 1, 43, 71)], [32, 32], seed=1)
    >>> patching.n_patches
    14
    >>> table = patching.table(epoch=3)
    >>> bool((table.coords <= [32, 39]).all()), patching.table(3) == table
    (True, True)
    >>> patching.get_patch_indices(1).tolist()
    [8, 9, 10, 11, 12, 13]
    """

    _label = "RandomPatchingStrategy"
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
        layout = SampleLayout.from_shapes(self.data_shapes)
        per_sample = count_grid_patches(layout.spatial, self.patch_size)
        row_sample = np.repeat(np.arange(layout.n_samples), per_sample)
        self._data_idx = layout.data_idx[row_sample]
        self._sample_idx = layout.sample_idx[row_sample]
        # highest start per row, inclusive
        self._max_start = np.maximum(layout.spatial - self.patch_size, 0)[row_sample]
        for column in (self._data_idx, self._sample_idx, self._max_start):
            column.flags.writeable = False
        self._forbidden: Int64Array | None = None

    def without_cells(self, cells: npt.ArrayLike) -> RandomPatching:
        """Return a copy whose patches never overlap the given grid cells.

        A start that would overlap a cell is drawn again (the same draws for the
        same seed and epoch); the patch count is unchanged. Used by the
        validation split of random patching.

        Parameters
        ----------
        cells : array_like of int
            ``(k, 2 + ndim)`` rows ``(data_idx, sample_idx, *grid cell)``; cell
            ``g`` covers ``[g * patch, (g + 1) * patch)``.

        Returns
        -------
        RandomPatching
            The copy.

        Examples
        --------
        >>> patching = RandomPatching([(1, 1, 32, 32)], [8, 8], seed=1)
        >>> apart = patching.without_cells([[0, 0, 1, 1]])
        >>> coords = apart.table(0).coords
        >>> bool(((coords + 8 <= 8) | (coords >= 16)).any(axis=1).all())
        True
        """
        rows = np.asarray(cells, dtype=np.int64).reshape(-1, 2 + len(self.patch_size))
        clone = copy.copy(self)
        clone._forbidden = rows.copy()
        clone._last = None
        return clone

    def _hits(self, coords: Int64Array, rows: Int64Array) -> npt.NDArray[np.bool_]:
        """Return which of ``rows`` (with ``coords``) overlap a forbidden cell."""
        hits = np.zeros(len(rows), dtype=np.bool_)
        forbidden = self._forbidden
        if forbidden is None or not len(forbidden):
            return hits
        patch = self.patch_size
        for data_idx, sample_idx in {(int(r[0]), int(r[1])) for r in forbidden}:
            cells = forbidden[
                (forbidden[:, 0] == data_idx) & (forbidden[:, 1] == sample_idx)
            ]
            lo, hi = cells[:, 2:] * patch, (cells[:, 2:] + 1) * patch
            mine = (self._data_idx[rows] == data_idx) & (
                self._sample_idx[rows] == sample_idx
            )
            starts = coords[mine][:, None, :]
            overlap = ((starts < hi[None]) & (starts + patch > lo[None])).all(axis=2)
            hits[np.flatnonzero(mine)] = overlap.any(axis=1)
        return hits

    def _redraw_forbidden(self, coords: Int64Array, rng: np.random.Generator) -> None:
        """Draw again, in place, the starts that overlap a forbidden cell."""
        rows = np.arange(len(coords))
        for _ in range(256):
            rows = rows[self._hits(coords[rows], rows)]
            if not len(rows):
                return
            coords[rows] = rng.integers(
                0, self._max_start[rows], size=coords[rows].shape, endpoint=True
            )
        raise ValueError(
            "Random patches cannot avoid the validation cells: the held-out cells "
            "(and their guard) leave too few positions for patches. Decrease "
            "'n_val_patches' or the patch size, or use stratified patching."
        )

    def _draw(self, epoch: int) -> PatchTable:
        rng = epoch_rng(self.seed, epoch)
        bounds = self._max_start
        if len(bounds) and (bounds == bounds[0]).all():
            bounds = bounds[0]  # one shape: broadcast bounds draw ~4x faster
        coords = rng.integers(
            0, bounds, size=(self.n_patches, len(self.patch_size)), endpoint=True
        )
        if self._forbidden is not None:
            self._redraw_forbidden(coords, rng)
        return PatchTable.from_columns(
            data_idx=self._data_idx,
            sample_idx=self._sample_idx,
            coords=coords,
            patch_size=self.patch_size,
        )

    def _build_table(self, epoch: int) -> PatchTable:
        return self._draw(epoch)

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
        >>> RandomPatching([(1, 1, 16, 16)] * 2, [8, 8]).get_patch_indices(1).tolist()
        [4, 5, 6, 7]
        """
        start, stop = np.searchsorted(self._data_idx, [data_idx, data_idx + 1])
        return np.arange(start, stop, dtype=np.int64)


class FixedRandomPatching(RandomPatching):
    """Random patches drawn once and identical in every epoch (validation).

    Counts, order and ranges are those of :class:`RandomPatching`; the table is
    the one :class:`RandomPatching` would give for epoch 0 with the same seed.

    Parameters
    ----------
    data_shapes : sequence of sequence of int
        Image-stack shapes, axes ``S C (Z) Y X``.
    patch_size : sequence of int
        Patch size along ``(Z,) Y, X``.
    seed : int or None, optional
        Seed of the table; ``None`` draws one once.

    Examples
    --------
    >>> patching = FixedRandomPatching([(1, 1, 19, 37)], [8, 8], seed=2)
    >>> patching.n_patches, patching.table(0) == patching.table(5)
    (15, True)
    """

    _label = "FixedRandomPatchingStrategy"
    _index_error = "Index {index} out of bounds for {label} with number of patches, {n}"
    is_random = False


class FixedPatching(TableStrategy):
    """A given patch table, identical in every epoch (the automatic validation split).

    Parameters
    ----------
    table : PatchTable or sequence of PatchSpecs
        The patches: a table, or the reference's list of spec dicts
        (``FixedPatching(list_of_specs)``, as :meth:`from_specs`).

    Examples
    --------
    >>> table = PatchTable.from_columns(
    ...     data_idx=[0, 1], sample_idx=[0, 0], coords=[[0, 0], [8, 8]],
    ...     patch_size=[8, 8],
    ... )
    >>> patching = FixedPatching(table)
    >>> patching.n_patches, patching.get_patch_spec(1)["coords"]
    (2, (8, 8))
    """

    _label = "FixedPatching"

    def __init__(self, table: PatchTable | Sequence[PatchSpecs]) -> None:
        if not isinstance(table, PatchTable):
            table = FixedPatching.from_specs(list(table)).table()
        self._table: PatchTable = table
        self._data_idx = table.data_idx

    @classmethod
    def from_specs(cls, specs: Sequence[PatchSpecs], ndim: int = 2) -> FixedPatching:
        """Build from the reference's spec dicts (its ``FixedPatching`` argument).

        Parameters
        ----------
        specs : sequence of PatchSpecs
            Dicts with ``data_idx``, ``sample_idx``, ``coords`` and ``patch_size``.
        ndim : int, default 2
            The number of spatial axes, used when ``specs`` is empty.

        Returns
        -------
        FixedPatching
            The strategy.

        Examples
        --------
        >>> spec = dict(data_idx=0, sample_idx=0, coords=(4, 4), patch_size=(8, 8))
        >>> FixedPatching.from_specs([spec]).table().row(0) == spec
        True
        """
        n = len(specs)
        width = len(specs[0]["coords"]) if n else ndim
        return cls(
            PatchTable.from_columns(
                data_idx=[spec["data_idx"] for spec in specs],
                sample_idx=[spec["sample_idx"] for spec in specs],
                coords=np.array([spec["coords"] for spec in specs]).reshape(n, width),
                patch_size=np.array([spec["patch_size"] for spec in specs]).reshape(
                    n, width
                ),
            )
        )

    @property
    def fixed_patch_specs(self) -> list[PatchSpecs]:
        """The patches as the reference's list of spec dicts (its attribute)."""
        return list(self._table)

    def _build_table(self, epoch: int) -> PatchTable:
        return self._table
