"""The TensorStore backend reads the same pixels as zarr-python, or steps aside."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, BytesCodec, GzipCodec, ZstdCodec

from careamics_dask.graph.batch import read_patches
from careamics_dask.graph.reading import PatchReader, StackSource
from careamics_dask.loaders import open_image
from careamics_dask.testing import count_region_reads
from tests.graph.reading.helpers import expected_patches as _expected
from tests.graph.reading.helpers import random_rows as _rows
from tests.graph.reading.helpers import zarr_source as _source

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("tensorstore")

RNG = np.random.default_rng(3)
DATA = RNG.integers(0, 60000, (3, 37, 45), dtype=np.uint16)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"chunks": (1, 16, 16)},
        {"chunks": (1, 16, 16), "compressors": ZstdCodec(level=1)},
        {"chunks": (1, 16, 16), "compressors": GzipCodec()},
        {"chunks": (1, 16, 16), "compressors": BloscCodec()},
        {"chunks": (1, 16, 16), "serializer": BytesCodec(endian="big")},
        {"chunks": (1, 16, 16), "zarr_format": 2},
        {"chunks": (1, 16, 16), "zarr_format": 2, "compressors": None},
        {"chunks": (1, 8, 8), "shards": (1, 16, 16)},
    ],
)
def test_boxes_equal_zarr_and_numpy(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    source = _source(tmp_path / "d.zarr", DATA, "SYX", **kwargs)
    rows = _rows(40, source.shape, 12)
    through_ts = read_patches([source], rows, None, backend="tensorstore")
    through_zarr = read_patches([source], rows, None, backend="zarr")
    np.testing.assert_array_equal(through_ts, through_zarr)
    np.testing.assert_array_equal(through_ts, _expected(DATA[:, None], rows, None))
    reader = PatchReader([source], backend="tensorstore")
    reader.prefetch(rows.data_idx, rows.sample_idx, rows.coords, rows.patch_size)
    assert reader._box_readers[0] is not None  # TensorStore did the reading
    assert not reader._chunks  # and zarr-python did not


def test_missing_chunks_read_as_the_fill_value(tmp_path: Path) -> None:
    array = zarr.create_array(
        store=str(tmp_path / "d.zarr"),
        name="a",
        shape=(2, 40, 40),
        chunks=(1, 16, 16),
        dtype="int16",
        fill_value=-7,
    )
    array[0, :20, :20] = 5  # the other chunks are never written
    expected = np.asarray(array[:])
    source = StackSource.from_stack(open_image(tmp_path / "d.zarr", "SYX"))
    rows = _rows(30, source.shape, 16, seed=1)
    got = read_patches([source], rows, None, backend="tensorstore")
    np.testing.assert_array_equal(got, _expected(expected[:, None], rows, None))


@pytest.mark.parametrize("axes", ["SZYXC", "SCZYX"])
def test_channels_kept_read_only_their_chunks(tmp_path: Path, axes: str) -> None:
    canonical = RNG.integers(0, 999, (2, 3, 6, 20, 24)).astype("u2")  # S C Z Y X
    order = ["SCZYX".index(a) for a in axes]
    data = np.transpose(canonical, order)
    chunks = tuple({"S": 1, "C": 1, "Z": 4, "Y": 8, "X": 8}[a] for a in axes)
    source = _source(tmp_path / "d.zarr", data, axes, chunks=chunks)
    rows = _rows(12, source.shape, 6, seed=2)
    # canonical source axes: one read per patch, straight into the batch
    reader = PatchReader([source], backend="tensorstore")
    low, high = reader.clipped(rows.data_idx, rows.coords, rows.patch_size)
    _, covered = reader.submit_direct(
        np.arange(len(rows)), rows.data_idx, rows.sample_idx, low, high
    )
    assert covered.all() == (axes == "SCZYX")
    for channels in ([0, 2], [1], [2, 0], None):
        with count_region_reads() as reads:
            got = read_patches([source], rows, channels, backend="tensorstore")
        np.testing.assert_array_equal(got, _expected(canonical, rows, channels))
        with count_region_reads() as zarr_reads:
            read_patches([source], rows, channels, backend="zarr")
        # the same storage chunks as zarr-python reads (dropped channels untouched)
        assert reads.count == zarr_reads.count > 0
