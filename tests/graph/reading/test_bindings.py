"""What is kept per reader binding is built once and served to every batch."""

from __future__ import annotations

import numpy as np
import tifffile
import zarr

from careamics_dask.graph.reading.bindings import (
    box_reader_for,
    chunk_reader_for,
    geometry_for,
)
from careamics_dask.loaders import open_image, reader_binding


def test_zarr_binding_keeps_one_geometry_and_one_chunk_reader() -> None:
    array = zarr.create_array({}, data=np.zeros((2, 8, 8), "u2"), chunks=(1, 4, 4))
    binding = reader_binding(open_image(array, "SYX"))
    assert binding is not None
    assert geometry_for(binding) is geometry_for(binding)
    decoder = chunk_reader_for(binding)
    assert decoder is not None
    assert chunk_reader_for(binding) is decoder
    assert box_reader_for(binding, "zarr", 2**20) is None


def test_other_bindings_have_no_fast_readers(tmp_path: object) -> None:
    path = f"{tmp_path}/a.tif"
    tifffile.imwrite(path, np.zeros((2, 8, 8), "u2"))
    binding = reader_binding(open_image(path, "SYX"))
    assert binding is not None
    assert chunk_reader_for(binding) is None
    assert box_reader_for(binding, "auto", 2**20) is None
