from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.patching.specs import is_tile_specs
from careamics_dask.patching.table import PatchTable


def make_table(n: int = 5, *, tiled: bool = False) -> PatchTable:
    rng = np.random.default_rng(n)
    extra = {}
    if tiled:
        extra = {
            "crop_coords": rng.integers(0, 4, (n, 2)),
            "crop_size": rng.integers(1, 8, (n, 2)),
            "stitch_coords": rng.integers(0, 32, (n, 2)),
            "total_tiles": np.full(n, n),
        }
    return PatchTable.from_columns(
        data_idx=np.arange(n) % 3,
        sample_idx=np.arange(n) % 2,
        coords=rng.integers(0, 100, (n, 2)),
        patch_size=[8, 8],
        **extra,
    )


def test_columns_are_read_only_int64() -> None:
    table = make_table()
    for column in (table.data_idx, table.sample_idx, table.coords, table.patch_size):
        assert column.dtype == np.int64
        assert not column.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            column[...] = 0


def test_caller_array_stays_writable_and_is_not_copied_needlessly() -> None:
    coords = np.zeros((2, 2), dtype=np.int64)
    table = PatchTable.from_columns(
        data_idx=[0, 0], sample_idx=[0, 1], coords=coords, patch_size=[4, 4]
    )
    assert coords.flags.writeable
    assert np.shares_memory(table.coords, coords)


def test_patch_size_is_broadcast_per_row() -> None:
    table = make_table(4)
    assert table.patch_size.shape == (4, 2)
    assert table.patch_size.strides[0] == 0
    per_row = PatchTable.from_columns(
        data_idx=[0, 1],
        sample_idx=[0, 0],
        coords=[[0, 0], [0, 0]],
        patch_size=[[4, 4], [9, 7]],
    )
    assert per_row.row(1)["patch_size"] == (9, 7)


def test_row_is_the_reference_spec_dict() -> None:
    table = make_table(3)
    spec = table.row(2)
    assert spec == {
        "data_idx": 2,
        "sample_idx": 0,
        "coords": tuple(table.coords[2].tolist()),
        "patch_size": (8, 8),
    }
    assert all(type(v) is int for v in spec["coords"])
    assert type(spec["data_idx"]) is int
    assert table[2] == spec
    assert table[np.int64(-1)] == spec
    assert list(table) == [table.row(i) for i in range(3)]


def test_tile_row_has_tile_keys() -> None:
    table = make_table(3, tiled=True)
    spec = table.row(0)
    assert is_tile_specs(spec)
    assert set(spec) == {
        "data_idx", "sample_idx", "coords", "patch_size",
        "crop_coords", "crop_size", "stitch_coords", "total_tiles",
    }  # fmt: skip
    assert spec["total_tiles"] == 3
    assert table.is_tiled
    assert not make_table().is_tiled


def test_row_out_of_range() -> None:
    with pytest.raises(IndexError, match="expected -5 <= index < 5, got 5"):
        make_table().row(5)


def test_slicing_masks_and_take() -> None:
    table = make_table(6, tiled=True)
    assert len(table[1:4]) == 3
    assert table[1:4].row(0) == table.row(1)
    mask = table.data_idx == 1
    assert table[mask].data_idx.tolist() == [1, 1]
    taken = table.take([5, 0])
    assert [taken.row(0), taken.row(1)] == [table.row(5), table.row(0)]
    assert table[np.array([5, 0])] == taken
    assert len(table.take(np.array([], dtype=np.int64))) == 0
    with pytest.raises(IndexError, match="mask has the wrong length"):
        table.take(np.ones(2, dtype=bool))


def test_concat() -> None:
    a, b = make_table(3), make_table(4)
    both = PatchTable.concat([a, b])
    assert len(both) == 7
    assert both.row(3) == b.row(0)
    with pytest.raises(ValueError, match="at least one"):
        PatchTable.concat([])
    with pytest.raises(ValueError, match="same ndim and tiling"):
        PatchTable.concat([a, make_table(2, tiled=True)])


def test_sort_and_argsort() -> None:
    table = PatchTable.from_columns(
        data_idx=[1, 0, 1, 0], sample_idx=[0, 1, 0, 0],
        coords=[[5, 1], [0, 0], [2, 9], [3, 3]], patch_size=[4, 4],
    )  # fmt: skip
    assert table.argsort().tolist() == [3, 1, 0, 2]  # stable
    assert table.argsort(by=("data_idx", "coords")).tolist() == [1, 3, 2, 0]
    assert table.sort(by=("coords",)).coords[:, 0].tolist() == [0, 2, 3, 5]
    assert table.argsort(by=()).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="Unknown patch table sort key"):
        table.argsort(by=("x",))


def test_indices_of() -> None:
    table = make_table(7)
    assert table.indices_of(1).tolist() == [1, 4]
    assert table.indices_of(9).tolist() == []


def test_equality_and_repr() -> None:
    assert make_table(4) == make_table(4)
    assert make_table(4) != make_table(5)
    assert make_table(4) != make_table(4, tiled=True)
    assert (make_table(4) == "x") is False
    assert repr(make_table(4)) == "PatchTable(n_patches=4, ndim=2, tiled=False)"


def test_column_errors() -> None:
    with pytest.raises(TypeError, match="must hold integers"):
        PatchTable.from_columns(
            data_idx=[0], sample_idx=[0], coords=[[0.5, 0.0]], patch_size=[4, 4]
        )
    with pytest.raises(ValueError, match="wrong shape"):
        PatchTable.from_columns(
            data_idx=[0, 1], sample_idx=[0], coords=[[0, 0]], patch_size=[4, 4]
        )
    with pytest.raises(ValueError, match="given together"):
        PatchTable.from_columns(
            data_idx=[0], sample_idx=[0], coords=[[0, 0]], patch_size=[4, 4],
            crop_coords=[[0, 0]],
        )  # fmt: skip
    with pytest.raises(ValueError, match="from_columns"):
        PatchTable(
            data_idx=np.zeros(1, np.int32),
            sample_idx=np.zeros(1, np.int64),
            coords=np.zeros((1, 2), np.int64),
            patch_size=np.zeros((1, 2), np.int64),
        )


def test_empty_table() -> None:
    table = PatchTable.from_columns(
        data_idx=[], sample_idx=[], coords=np.zeros((0, 3), np.int64),
        patch_size=[2, 4, 4],
    )  # fmt: skip
    assert len(table) == 0
    assert table.ndim == 3
    assert list(table) == []
