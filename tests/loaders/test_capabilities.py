"""Readers say what they can do through capability Protocols, asked once per reader."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
import tifffile
import zarr

from careamics_dask.loaders import (
    SupportsBoxRead,
    SupportsChunkRead,
    SupportsRegionRead,
    box_reader_of,
    chunk_reader_of,
    open_image,
    reader_binding,
)
from careamics_dask.loaders.capabilities import SupportsZarrArray, check_backend

if TYPE_CHECKING:
    from pathlib import Path

DATA = np.arange(2 * 20 * 24, dtype=np.uint16).reshape(2, 20, 24)


def _reader(stack: object) -> object:
    binding = reader_binding(stack)  # type: ignore[arg-type]
    assert binding is not None
    return binding.reader


def test_zarr_readers_offer_chunks_and_boxes(tmp_path: Path) -> None:
    zarr.create_array(store=str(tmp_path / "a.zarr"), data=DATA, chunks=(1, 8, 8))
    reader = _reader(open_image(tmp_path / "a.zarr", "SYX"))
    assert isinstance(reader, SupportsRegionRead)
    assert isinstance(reader, SupportsChunkRead)
    assert isinstance(reader, SupportsBoxRead)
    assert isinstance(reader, SupportsZarrArray)
    chunks = chunk_reader_of(reader)
    assert chunks is not None
    np.testing.assert_array_equal(chunks.read((1, 2, 0)), DATA[1:2, 16:20, 0:8])
    assert box_reader_of(reader, backend="zarr") is None


def test_other_readers_offer_regions_only(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "a.tif", DATA)
    reader = _reader(open_image(tmp_path / "a.tif", "SYX"))
    assert isinstance(reader, SupportsRegionRead)
    assert not isinstance(reader, SupportsChunkRead)
    assert not isinstance(reader, SupportsBoxRead)
    assert chunk_reader_of(reader) is None
    assert box_reader_of(reader, backend="tensorstore") is None


def test_unknown_backend_is_refused_for_any_reader() -> None:
    with pytest.raises(ValueError, match=r"Unknown batching backend 'fast'"):
        box_reader_of(object(), backend="fast")
    with pytest.raises(ValueError, match=r"expected one of \('auto'"):
        check_backend("fast")
