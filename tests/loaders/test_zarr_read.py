"""Zarr region readers read regions and hand out their fast readers."""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING

import numpy as np
import zarr

from careamics_dask.loaders._zarr_read import ZarrObjectRegionReader, ZarrRegionReader
from careamics_dask.loaders.zarr_ import locate_zarr

if TYPE_CHECKING:
    from pathlib import Path

DATA = np.arange(3 * 10 * 12, dtype=np.int16).reshape(3, 10, 12)


def test_location_reader_reads_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "a.zarr"
    zarr.create_array(store=str(path), name="x", data=DATA, chunks=(1, 5, 6))
    reader = ZarrRegionReader(
        location=locate_zarr(path / "x"),
        shape=DATA.shape,
        dtype=DATA.dtype,
        chunks=(1, 5, 6),
    )
    region = (slice(1, 3), slice(2, 9), slice(0, 12))
    np.testing.assert_array_equal(reader[region], DATA[region])
    assert reader.open_zarr_array() is reader.open_zarr_array()  # one handle
    restored = pickle.loads(pickle.dumps(reader))
    np.testing.assert_array_equal(restored[region], DATA[region])
    decoder = reader.chunk_reader()
    assert decoder is not None
    np.testing.assert_array_equal(decoder.read((2, 1, 1)), DATA[2:3, 5:10, 6:12])
    assert reader.box_reader(backend="zarr", cache_bytes=2**20) is None


def test_object_reader_reads_its_array() -> None:
    array = zarr.create_array({}, data=DATA, chunks=(1, 5, 6))
    reader = ZarrObjectRegionReader(array, chunks=(1, 5, 6))
    assert reader.open_zarr_array() is array
    np.testing.assert_array_equal(reader[(slice(0, 1),)], DATA[:1])
    assert reader.box_reader(backend="auto", cache_bytes=2**20) is None  # memory
