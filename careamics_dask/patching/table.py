"""The patch table: one row per patch, stored as read-only NumPy columns."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, overload

import numpy as np
import numpy.typing as npt

from careamics_dask.patching._columns import (
    build_columns,
    check_columns,
    concat_columns,
    lexsort_keys,
    row_spec,
    select_rows,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from careamics_dask.patching.specs import PatchSpecs

__all__ = ["PatchTable"]

Int64Array = npt.NDArray[np.int64]
_Rows = slice | npt.NDArray[np.integer] | npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False, repr=False)
class PatchTable:
    """Patches as columns: which stack and sample, where, and how large.

    Build it with :meth:`from_columns`, which converts and freezes the columns.
    Rows are patches in dataset index order; every column is a read-only int64
    array. Tile tables (prediction) also carry the crop and stitch columns.

    Attributes
    ----------
    data_idx : numpy.ndarray
        Image stack of each patch, ``(N,)``.
    sample_idx : numpy.ndarray
        Index along S of each patch, ``(N,)``.
    coords : numpy.ndarray
        Start of each patch along ``(Z,) Y, X``, ``(N, ndim)``.
    patch_size : numpy.ndarray
        Size of each patch, ``(N, ndim)`` (a broadcast view when all are equal).
    crop_coords : numpy.ndarray or None
        Tiles: start of the kept crop, relative to the tile, ``(N, ndim)``.
    crop_size : numpy.ndarray or None
        Tiles: size of the kept crop, ``(N, ndim)``.
    stitch_coords : numpy.ndarray or None
        Tiles: where the crop goes in the image, ``(N, ndim)``.
    total_tiles : numpy.ndarray or None
        Tiles: number of tiles of the patch's image stack (all samples), ``(N,)``.

    Examples
    --------
    >>> table = PatchTable.from_columns(
    ...     data_idx=[0, 0], sample_idx=[0, 1], coords=[[0, 0], [8, 4]],
    ...     patch_size=[8, 8],
    ... )
    >>> len(table), table.ndim, table.is_tiled
    (2, 2, False)
    >>> table.row(1)
    {'data_idx': 0, 'sample_idx': 1, 'coords': (8, 4), 'patch_size': (8, 8)}
    >>> len(table[table.sample_idx == 1])
    1
    """

    data_idx: Int64Array
    sample_idx: Int64Array
    coords: Int64Array
    patch_size: Int64Array
    crop_coords: Int64Array | None = None
    crop_size: Int64Array | None = None
    stitch_coords: Int64Array | None = None
    total_tiles: Int64Array | None = None

    def __post_init__(self) -> None:
        check_columns(self._columns())

    @classmethod
    def from_columns(
        cls,
        *,
        data_idx: npt.ArrayLike,
        sample_idx: npt.ArrayLike,
        coords: npt.ArrayLike,
        patch_size: npt.ArrayLike,
        crop_coords: npt.ArrayLike | None = None,
        crop_size: npt.ArrayLike | None = None,
        stitch_coords: npt.ArrayLike | None = None,
        total_tiles: npt.ArrayLike | None = None,
    ) -> PatchTable:
        """Build a table from array-likes, converting and freezing the columns.

        Parameters
        ----------
        data_idx, sample_idx : array_like of int
            ``(N,)`` columns.
        coords : array_like of int
            ``(N, ndim)`` patch starts.
        patch_size : array_like of int
            ``(N, ndim)`` sizes, or one ``(ndim,)`` size broadcast to every row.
        crop_coords, crop_size, stitch_coords : array_like of int, optional
            ``(N, ndim)`` tile columns (all or none).
        total_tiles : array_like of int, optional
            ``(N,)`` tile counts per image stack.

        Returns
        -------
        PatchTable
            The table.

        Raises
        ------
        ValueError
            When a column has the wrong shape or only some tile columns are given.
        TypeError
            When a column does not hold integers.

        Examples
        --------
        >>> PatchTable.from_columns(
        ...     data_idx=[], sample_idx=[], coords=np.zeros((0, 3), int),
        ...     patch_size=[1, 2, 2],
        ... )
        PatchTable(n_patches=0, ndim=3, tiled=False)
        """
        columns = build_columns(
            {
                "data_idx": data_idx,
                "sample_idx": sample_idx,
                "coords": coords,
                "patch_size": patch_size,
                "crop_coords": crop_coords,
                "crop_size": crop_size,
                "stitch_coords": stitch_coords,
                "total_tiles": total_tiles,
            }
        )
        return cls(**columns)  # type: ignore[arg-type]

    @property
    def ndim(self) -> int:
        """The number of spatial axes (2 or 3)."""
        return int(self.coords.shape[1])

    @property
    def is_tiled(self) -> bool:
        """Whether the table carries the crop and stitch columns of tiles."""
        return self.crop_coords is not None

    def __len__(self) -> int:
        return int(self.data_idx.shape[0])

    def __repr__(self) -> str:
        return (
            f"PatchTable(n_patches={len(self)}, ndim={self.ndim}, "
            f"tiled={self.is_tiled})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PatchTable):
            return NotImplemented
        return all(
            (a is None and b is None)
            or (a is not None and b is not None and np.array_equal(a, b))
            for a, b in zip(
                self._columns().values(), other._columns().values(), strict=True
            )
        )

    __hash__ = None  # type: ignore[assignment]

    @overload
    def __getitem__(self, index: int | np.integer) -> PatchSpecs: ...

    @overload
    def __getitem__(self, index: _Rows) -> PatchTable: ...

    def __getitem__(self, index: int | np.integer | _Rows) -> PatchSpecs | PatchTable:
        if isinstance(index, int | np.integer):
            return self.row(int(index))
        if isinstance(index, slice):
            return self._map(lambda column: column[index])
        return self.take(index)

    def __iter__(self) -> Iterator[PatchSpecs]:
        return (self.row(i) for i in range(len(self)))

    def _columns(self) -> dict[str, Int64Array | None]:
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def _map(self, select: Callable[[Int64Array], Int64Array]) -> PatchTable:
        """Apply ``select`` to every column (slicing or taking rows)."""
        return PatchTable(**select_rows(self._columns(), select))  # type: ignore[arg-type]

    def row(self, index: int) -> PatchSpecs:
        """Return one row as the reference's spec dict.

        Parameters
        ----------
        index : int
            The row, ``0 <= index < len(self)`` (negative counts from the end).

        Returns
        -------
        PatchSpecs or TileSpecs
            Plain Python ints and tuples; tiles also carry ``crop_coords``,
            ``crop_size``, ``stitch_coords`` and ``total_tiles``.

        Raises
        ------
        IndexError
            When the row does not exist.

        Examples
        --------
        >>> table = PatchTable.from_columns(
        ...     data_idx=[0], sample_idx=[0], coords=[[0, 0]], patch_size=[4, 4]
        ... )
        >>> table.row(0)["coords"]
        (0, 0)
        """
        n = len(self)
        if not -n <= index < n:
            raise IndexError(
                f"Patch table row out of range: expected -{n} <= index < {n}, "
                f"got {index}."
            )
        return row_spec(self._columns(), index)

    def take(self, indices: npt.ArrayLike) -> PatchTable:
        """Return the rows at ``indices`` (int array or boolean mask), in that order.

        Parameters
        ----------
        indices : array_like of int or bool
            Row indices, or a mask of length ``len(self)``.

        Returns
        -------
        PatchTable
            A new table.

        Raises
        ------
        IndexError
            When an index is out of range or a mask has the wrong length.

        Examples
        --------
        >>> table = PatchTable.from_columns(
        ...     data_idx=[0, 1, 2], sample_idx=[0, 0, 0], coords=np.zeros((3, 2), int),
        ...     patch_size=[4, 4],
        ... )
        >>> table.take([2, 0]).data_idx.tolist()
        [2, 0]
        """
        selection = np.asarray(indices)
        if selection.dtype == np.bool_:
            if selection.shape != (len(self),):
                raise IndexError(
                    f"Patch table mask has the wrong length: expected {len(self)}, "
                    f"got {selection.shape}."
                )
            selection = np.flatnonzero(selection)
        elif selection.size == 0:
            selection = selection.astype(np.int64)
        return self._map(lambda column: column[selection])

    @classmethod
    def concat(cls, tables: Sequence[PatchTable]) -> PatchTable:
        """Concatenate tables row-wise.

        Parameters
        ----------
        tables : sequence of PatchTable
            At least one table; all with the same ``ndim`` and tiling.

        Returns
        -------
        PatchTable
            The rows of every table, in order.

        Raises
        ------
        ValueError
            When no table is given, or they differ in ``ndim`` or tiling.

        Examples
        --------
        >>> one = PatchTable.from_columns(
        ...     data_idx=[0], sample_idx=[0], coords=[[0, 0]], patch_size=[4, 4]
        ... )
        >>> len(PatchTable.concat([one, one]))
        2
        """
        if not tables:
            raise ValueError("Cannot concatenate patch tables: expected at least one.")
        kinds = {(table.ndim, table.is_tiled) for table in tables}
        if len(kinds) != 1:
            raise ValueError(
                "Cannot concatenate patch tables: expected the same ndim and tiling, "
                f"got (ndim, tiled) = {sorted(kinds)}."
            )
        columns = concat_columns([table._columns() for table in tables])
        return cls(**columns)  # type: ignore[arg-type]

    def argsort(self, by: Sequence[str] = ("data_idx", "sample_idx")) -> Int64Array:
        """Return the stable order of the rows sorted by some columns.

        Parameters
        ----------
        by : sequence of str, default ("data_idx", "sample_idx")
            Keys, most significant first: ``"data_idx"``, ``"sample_idx"`` and
            ``"coords"`` (every axis, Z before Y before X).

        Returns
        -------
        numpy.ndarray
            Row indices, int64.

        Raises
        ------
        ValueError
            When a key is unknown.

        Examples
        --------
        >>> table = PatchTable.from_columns(
        ...     data_idx=[1, 0, 1], sample_idx=[0, 0, 0],
        ...     coords=[[5, 0], [0, 0], [2, 0]], patch_size=[4, 4],
        ... )
        >>> table.argsort(by=("data_idx", "coords")).tolist()
        [1, 2, 0]
        """
        keys = lexsort_keys(self._columns(), by)
        if not keys:
            return np.arange(len(self), dtype=np.int64)
        return np.lexsort(keys).astype(np.int64)

    def sort(self, by: Sequence[str] = ("data_idx", "sample_idx")) -> PatchTable:
        """Return the table sorted (stably) by some columns; see :meth:`argsort`.

        Parameters
        ----------
        by : sequence of str, default ("data_idx", "sample_idx")
            Keys, most significant first.

        Returns
        -------
        PatchTable
            A new table.

        Examples
        --------
        >>> table = PatchTable.from_columns(
        ...     data_idx=[1, 0], sample_idx=[0, 0], coords=[[0, 0], [0, 0]],
        ...     patch_size=[4, 4],
        ... )
        >>> table.sort().data_idx.tolist()
        [0, 1]
        """
        return self.take(self.argsort(by))

    def indices_of(self, data_idx: int) -> Int64Array:
        """Return the rows of one image stack (the reference's ``get_patch_indices``).

        Parameters
        ----------
        data_idx : int
            The image stack.

        Returns
        -------
        numpy.ndarray
            Row indices in increasing order, int64.

        Examples
        --------
        >>> table = PatchTable.from_columns(
        ...     data_idx=[0, 1, 0], sample_idx=[0, 0, 1], coords=np.zeros((3, 2), int),
        ...     patch_size=[4, 4],
        ... )
        >>> table.indices_of(0).tolist()
        [0, 2]
        """
        return np.flatnonzero(self.data_idx == data_idx).astype(np.int64)
