"""The TensorStore backend reads the same pixels as zarr-python, or steps aside."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import dask
import numpy as np
import pytest
from numcodecs import Delta  # type: ignore[import-untyped]
from zarr.codecs import ZstdCodec

from careamics_dask.errors import SourceReadError
from careamics_dask.graph.batch import read_patches
from careamics_dask.graph.reading import StackSource
from careamics_dask.loaders import open_image
from careamics_dask.loaders._zarr_tensorstore import TensorStoreBoxes
from careamics_dask.patching import PatchTable
from careamics_dask.runtime import reading_options
from tests.graph.reading.helpers import expected_patches as _expected
from tests.graph.reading.helpers import random_rows as _rows
from tests.graph.reading.helpers import zarr_source as _source

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("tensorstore")

RNG = np.random.default_rng(3)
DATA = RNG.integers(0, 60000, (3, 37, 45), dtype=np.uint16)


def test_auto_steps_aside_where_tensorstore_cannot_read(tmp_path: Path) -> None:
    # a v2 filter TensorStore does not implement
    source = _source(
        tmp_path / "d.zarr",
        DATA,
        "SYX",
        chunks=(1, 16, 16),
        zarr_format=2,
        filters=[Delta(dtype="u2")],
    )
    assert source.binding is not None
    reader = source.binding.reader
    assert TensorStoreBoxes.for_reader(reader, backend="auto") is None
    rows = _rows(10, source.shape, 12)
    np.testing.assert_array_equal(
        read_patches([source], rows, None, backend="auto"),
        _expected(DATA[:, None], rows, None),
    )
    with pytest.raises(ValueError, match=r"TensorStore cannot read .*d\.zarr.*'auto'"):
        TensorStoreBoxes.for_reader(reader, backend="tensorstore")


def test_zarr_backend_and_other_sources_never_use_tensorstore(tmp_path: Path) -> None:
    source = _source(tmp_path / "d.zarr", DATA, "SYX", chunks=(1, 16, 16))
    assert source.binding is not None
    assert TensorStoreBoxes.for_reader(source.binding.reader, backend="zarr") is None
    tiff = tmp_path / "d.tif"
    import tifffile

    tifffile.imwrite(tiff, DATA)
    tiff_source = StackSource.from_stack(open_image(tiff, "SYX"))
    if tiff_source.binding is not None:
        reader = tiff_source.binding.reader
        assert TensorStoreBoxes.for_reader(reader, backend="tensorstore") is None
    with pytest.raises(ValueError, match=r"Unknown batching backend 'fast'"):
        TensorStoreBoxes.for_reader(source.binding.reader, backend="fast")


def test_missing_package_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _source(tmp_path / "d.zarr", DATA, "SYX", chunks=(1, 16, 16))
    assert source.binding is not None
    monkeypatch.setitem(sys.modules, "tensorstore", None)  # import fails
    reader = source.binding.reader
    assert TensorStoreBoxes.for_reader(reader, backend="auto") is None
    with pytest.raises(ValueError, match=r"careamics-dask\[fast\]"):
        TensorStoreBoxes.for_reader(reader, backend="tensorstore")


def test_corrupt_chunk_names_source_and_region(tmp_path: Path) -> None:
    source = _source(
        tmp_path / "d.zarr", DATA, "SYX", chunks=(1, 16, 16), compressors=ZstdCodec()
    )
    (tmp_path / "d.zarr" / "a" / "c" / "1" / "0" / "2").write_bytes(b"not zstd")
    rows = PatchTable.from_columns(
        data_idx=[0], sample_idx=[1], coords=[[2, 34]], patch_size=[[8, 8]]
    )
    with pytest.raises(SourceReadError, match=r"\[1:2, 2:10, 34:42\]") as info:
        read_patches([source], rows, None, backend="tensorstore")
    assert "d.zarr" in str(info.value)
    assert "TensorStore" in str(info.value)


def test_reading_writes_nothing_to_the_store(tmp_path: Path) -> None:
    source = _source(tmp_path / "d.zarr", DATA, "SYX", chunks=(1, 16, 16))

    def snapshot() -> dict[str, tuple[int, int]]:
        found = {}
        for folder, _, files in os.walk(tmp_path / "d.zarr"):
            for name in files:
                stat = os.stat(os.path.join(folder, name))
                found[os.path.join(folder, name)] = (stat.st_mtime_ns, stat.st_size)
        return found

    before = snapshot()
    read_patches([source], _rows(20, source.shape, 12), None, backend="tensorstore")
    assert snapshot() == before


def test_backend_comes_from_the_configuration() -> None:
    with dask.config.set({"careamics-dask.batching.backend": "auto"}):
        assert reading_options()["backend"] == "auto"
    with dask.config.set(
        {
            "careamics-dask.batching.backend": "zarr",
            "careamics-dask.cache.chunk-bytes": 1024,
        }
    ):
        options = reading_options()
    assert options["backend"] == "zarr"
    assert options["chunk_cache_bytes"] == 1024
