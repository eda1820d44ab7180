"""Column helpers of the patch table: convert, freeze, check, join and order."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from careamics_dask.patching.specs import TILE_KEYS

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from careamics_dask.patching.specs import PatchSpecs, TileSpecs

__all__ = [
    "COLUMNS",
    "SORT_KEYS",
    "build_columns",
    "check_columns",
    "concat_columns",
    "freeze",
    "lexsort_keys",
    "row_spec",
    "select_rows",
]

Int64Array = npt.NDArray[np.int64]
Columns = dict[str, Int64Array | None]

TILE_COLUMNS = (*TILE_KEYS, "total_tiles")
COLUMNS = ("data_idx", "sample_idx", "coords", "patch_size", *TILE_COLUMNS)
SORT_KEYS = ("data_idx", "sample_idx", "coords")


def freeze(values: npt.ArrayLike, shape: tuple[int, ...], name: str) -> Int64Array:
    """Return ``values`` as a read-only int64 array of the given shape.

    A writable input is wrapped in a read-only view, not copied; other dtypes of
    integers are converted.
    """
    array = np.asarray(values)
    if array.dtype != np.int64:
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise TypeError(
                f"Patch table column {name!r} must hold integers: got dtype "
                f"{array.dtype}."
            )
        array = array.astype(np.int64)
    if array.shape != shape and array.size == np.prod(shape):
        array = array.reshape(shape)
    if array.shape != shape:
        raise ValueError(
            f"Patch table column {name!r} has the wrong shape: expected {shape}, "
            f"got {array.shape}."
        )
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array


def build_columns(values: dict[str, npt.ArrayLike | None]) -> Columns:
    """Convert array-likes into frozen columns; one patch size may be broadcast."""
    coords = np.asarray(values["coords"])
    sizes = np.asarray(values["patch_size"])
    ndim = coords.shape[1] if coords.ndim == 2 else sizes.shape[-1]
    n = len(coords)
    row_shape = (n, ndim)
    if sizes.ndim == 1:
        sizes = np.broadcast_to(freeze(sizes, (ndim,), "patch_size"), row_shape)
    columns: Columns = {}
    for name in COLUMNS:
        column = sizes if name == "patch_size" else values[name]
        shape = (n,) if name in ("data_idx", "sample_idx", "total_tiles") else row_shape
        columns[name] = None if column is None else freeze(column, shape, name)
    return columns


def check_columns(columns: Columns) -> None:
    """Raise unless the columns are int64 of consistent shapes, tiles all or none."""
    coords = columns["coords"]
    if coords is None or coords.ndim != 2:
        raise ValueError("Patch table column 'coords' must be (N, ndim) int64.")
    n, ndim = coords.shape
    missing = [columns[name] is None for name in TILE_COLUMNS]
    if any(missing) and not all(missing):
        raise ValueError(
            "Patch table tile columns must be given together: expected all or "
            f"none of {TILE_COLUMNS}."
        )
    for name, column in columns.items():
        shape = (n,) if name in ("data_idx", "sample_idx", "total_tiles") else (n, ndim)
        if column is not None and (column.shape != shape or column.dtype != np.int64):
            raise ValueError(
                f"Patch table column {name!r} must be int64 of shape {shape}: got "
                f"{column.dtype} of shape {column.shape}. Build tables with "
                "PatchTable.from_columns."
            )


def concat_columns(tables: Sequence[Columns]) -> Columns:
    """Concatenate the columns of several tables (same kinds checked by the caller)."""
    joined: Columns = {}
    for name in COLUMNS:
        parts = [part for table in tables if (part := table[name]) is not None]
        if not parts:
            joined[name] = None
            continue
        array: Int64Array = np.concatenate(parts)
        joined[name] = freeze(array, array.shape, name)
    return joined


def lexsort_keys(columns: Columns, by: Sequence[str]) -> list[Int64Array]:
    """Return ``np.lexsort`` keys for sort keys given most significant first."""
    keys: list[Int64Array] = []
    for key in by:
        column = columns.get(key) if key in SORT_KEYS else None
        if column is None:
            raise ValueError(
                f"Unknown patch table sort key: expected one of {SORT_KEYS}, "
                f"got {key!r}."
            )
        keys.extend(column.T if column.ndim == 2 else [column])
    return keys[::-1]


def _values(column: Int64Array | None, index: int) -> tuple[int, ...]:
    """Return one row of a present ``(N, ndim)`` column as a tuple of ints."""
    if column is None:  # pragma: no cover - check_columns forbids it
        raise ValueError("Patch table tile columns must be given together.")
    return tuple(column[index].tolist())


def row_spec(columns: Columns, index: int) -> PatchSpecs:
    """Return one row as the reference's spec dict (tile keys for tile tables)."""
    data_idx, sample_idx = columns["data_idx"], columns["sample_idx"]
    if data_idx is None or sample_idx is None:  # pragma: no cover - required
        raise ValueError(
            "Patch table columns 'data_idx' and 'sample_idx' are required."
        )
    spec: PatchSpecs = {
        "data_idx": int(data_idx[index]),
        "sample_idx": int(sample_idx[index]),
        "coords": _values(columns["coords"], index),
        "patch_size": _values(columns["patch_size"], index),
    }
    total_tiles = columns["total_tiles"]
    if total_tiles is None:
        return spec
    tile: TileSpecs = {
        **spec,
        "crop_coords": _values(columns["crop_coords"], index),
        "crop_size": _values(columns["crop_size"], index),
        "stitch_coords": _values(columns["stitch_coords"], index),
        "total_tiles": int(total_tiles[index]),
    }
    return tile


def select_rows(
    columns: Columns, select: Callable[[Int64Array], Int64Array]
) -> Columns:
    """Apply ``select`` (a slice or a take) to every present column, frozen."""
    selected: Columns = {}
    for name, column in columns.items():
        rows = None if column is None else select(column)
        selected[name] = None if rows is None else freeze(rows, rows.shape, name)
    return selected
