from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import dask.array as da
import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, ZstdCodec

from careamics_dask.errors import (
    AxesError,
    SourceReadError,
    UnsupportedDtypeError,
    UnsupportedSourceError,
)
from careamics_dask.loaders import clear_handle_cache
from careamics_dask.loaders.open import open_image, open_images
from careamics_dask.loaders.registry import guess_loader
from careamics_dask.loaders.zarr_ import ZarrLoader
from careamics_dask.testing import LoaderCase, LoaderTests

RNG = np.random.default_rng(42)
BLOSC_V2 = {"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 1}


def _data(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    return RNG.integers(0, 1000, shape).astype(dtype)


def _write(group: zarr.Group, name: str, data: np.ndarray, **kwargs: Any) -> None:
    array = group.create_array(name, shape=data.shape, dtype=data.dtype, **kwargs)
    array[...] = data


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


class TestV3StoreSorted(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "data.zarr"
        root = zarr.open_group(path, mode="w", zarr_format=3)
        second, first = _data((2, 40, 48)), _data((3, 32, 32))
        # written out of order: the loader sorts by name
        _write(root, "b_second", second, chunks=(1, 16, 16), compressors=ZstdCodec())
        _write(root, "a_first", first, chunks=(1, 32, 16), compressors=ZstdCodec())
        nested = root.create_group("nested")
        _write(nested, "ignored", _data((5, 8, 8)), chunks=(1, 8, 8))
        return LoaderCase(
            source=path,
            axes="SYX",
            expected=[first, second],
            expected_chunks=[(1, 1, 32, 16), (1, 1, 16, 16)],
            path=path,
        )


class TestV2Store(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "v2.zarr"
        root = zarr.open_group(path, mode="w", zarr_format=2)
        data = _data((2, 3, 24, 32), "float32")
        _write(root, "img", data, chunks=(1, 3, 8, 16), compressors=BLOSC_V2)
        return LoaderCase(
            source=str(path),
            axes="TCYX",
            expected=[data],
            expected_chunks=[(1, 3, 8, 16)],
            path=path,
        )


class TestUriToNestedArray(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "nest.zarr"
        root = zarr.open_group(path, mode="w", zarr_format=3)
        group = root.create_group("groupA").create_group("groupB")
        data = _data((8, 16, 24), "int16")
        _write(group, "arr", data, chunks=(4, 8, 8), compressors=BloscCodec())
        _write(group, "other", _data((4, 4)))
        return LoaderCase(
            source=f"{path.as_uri()}/groupA/groupB/arr",
            axes="ZYX",
            expected=[data],
            expected_chunks=[(1, 1, 4, 8, 8)],
            path=path,
        )


class TestUriToNestedGroup(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "nest.zarr"
        root = zarr.open_group(path, mode="w", zarr_format=3)
        group = root.create_group("inputs")
        one, two = _data((16, 16)), _data((16, 16))
        _write(group, "2", two, chunks=(8, 8))
        _write(group, "1", one, chunks=(8, 8))
        _write(root, "elsewhere", _data((4, 4)))
        return LoaderCase(
            source=[f"{path.as_uri()}/inputs"],
            axes="YX",
            expected=[one, two],
            expected_chunks=[(1, 1, 8, 8), (1, 1, 8, 8)],
            path=path,
            data_type="zarr",
        )


class TestShardedV3(LoaderTests):
    """A small shard is the read unit: one request and one decode pass per task."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "sharded.zarr"
        root = zarr.open_group(path, mode="w", zarr_format=3)
        data = _data((2, 64, 64))
        _write(
            root,
            "img",
            data,
            chunks=(1, 16, 16),
            shards=(1, 32, 64),
            compressors=ZstdCodec(),
        )
        return LoaderCase(
            source=path,
            axes="SYX",
            expected=[data],
            expected_chunks=[(1, 1, 32, 64)],
            path=path,
        )


@pytest.fixture
def sharded(tmp_path: Path) -> Path:
    path = tmp_path / "sharded.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=3)
    _write(root, "img", _data((2, 64, 64)), chunks=(1, 16, 16), shards=(1, 32, 64))
    return path


@pytest.mark.parametrize(
    ("read_unit", "chunk_size", "expected"),
    [
        ("chunk", "128MiB", (1, 1, 16, 16)),
        ("shard", "1KiB", (1, 1, 32, 64)),
        ("auto", "128MiB", (1, 1, 32, 64)),
        ("auto", "1KiB", (1, 1, 16, 16)),  # shards above array.chunk-size
    ],
)
def test_sharded_read_unit(
    sharded: Path, read_unit: str, chunk_size: str, expected: tuple[int, ...]
) -> None:
    import dask

    with dask.config.set({"array.chunk-size": chunk_size}):
        stack = open_image(sharded, "SYX", read_unit=read_unit)
    assert tuple(c[0] for c in stack.data.chunks) == expected
    assert stack.attrs["zarr_chunks"] == (1, 16, 16)
    assert stack.attrs["zarr_shards"] == (1, 32, 64)
    raw = zarr.open_array(sharded / "img", mode="r")[:]
    np.testing.assert_array_equal(stack.values[:, 0], raw)


def test_bad_read_unit(sharded: Path) -> None:
    with pytest.raises(ValueError, match="Invalid read_unit 'shards'"):
        open_image(sharded, "SYX", read_unit="shards")


def test_store_whose_root_is_an_array(tmp_path: Path) -> None:
    data = _data((2, 8, 8))
    zarr.create_array(tmp_path / "root.zarr", shape=data.shape, dtype=data.dtype)[
        ...
    ] = data
    stack = open_image(tmp_path / "root.zarr", "SYX")
    assert stack.attrs["array"] == ""
    np.testing.assert_array_equal(stack.values[:, 0], data)


def test_local_path_inside_store(tmp_path: Path) -> None:
    path = tmp_path / "a.zarr"
    data = _data((8, 8))
    _write(zarr.open_group(path, mode="w").create_group("g"), "x", data)
    [stack] = ZarrLoader().open(path / "g" / "x", "YX")
    assert stack.attrs["source"] == str(path)
    assert stack.attrs["array"] == "g/x"
    np.testing.assert_array_equal(stack.values[0, 0], data)


def test_folder_of_stores(tmp_path: Path) -> None:
    for name in ("b.zarr", "a.zarr"):
        _write(zarr.open_group(tmp_path / name, mode="w"), "x", _data((4, 4)))
    stacks = open_images(tmp_path, "YX", "zarr")
    assert [s.attrs["source"] for s in stacks] == [
        str(tmp_path / "a.zarr"),
        str(tmp_path / "b.zarr"),
    ]


def test_zarr_objects(tmp_path: Path) -> None:
    path = tmp_path / "obj.zarr"
    data = _data((2, 8, 8))
    root = zarr.open_group(path, mode="w")
    _write(root, "x", data, chunks=(1, 4, 8))
    loader = ZarrLoader()
    assert loader.guess_can_open(root)
    assert loader.guess_can_open(root["x"])
    [from_group] = loader.open(root, "SYX")
    [from_array] = loader.open(root["x"], "SYX")
    for stack in (from_group, from_array):
        assert stack.attrs["source"] == str(path)
        assert stack.attrs["array"] == "x"
        np.testing.assert_array_equal(stack.values[:, 0], data)


def test_memory_store_object() -> None:
    import pickle

    data = _data((2, 8, 8))
    array = zarr.create_array(zarr.storage.MemoryStore(), shape=(2, 8, 8), dtype="u2")
    array[...] = data
    [stack] = ZarrLoader().open(array, "SYX")
    assert isinstance(stack.data, da.Array)
    restored = pickle.loads(pickle.dumps(stack))
    np.testing.assert_array_equal(restored.values[:, 0], data)


def test_in_memory_reads_numpy(tmp_path: Path) -> None:
    path = tmp_path / "mem.zarr"
    data = _data((2, 8, 8))
    _write(zarr.open_group(path, mode="w"), "x", data, chunks=(1, 4, 4))
    stack = open_image(path, "SYX", in_memory=True)
    assert isinstance(stack.data, np.ndarray)
    np.testing.assert_array_equal(stack.values[:, 0], data)


def test_open_and_compute_leave_store_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ro.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=3)
    _write(root, "x", _data((2, 16, 16)), chunks=(1, 8, 8), compressors=ZstdCodec())
    _write(root, "s", _data((2, 16, 16)), chunks=(1, 8, 8), shards=(1, 16, 16))
    v2 = zarr.open_group(tmp_path / "ro2.zarr", mode="w", zarr_format=2)
    _write(v2, "x", _data((16, 16)), chunks=(8, 8))
    before = _snapshot(tmp_path)
    clear_handle_cache()
    for stack in open_images(path, "SYX"):
        stack.values  # noqa: B018
    open_image(tmp_path / "ro2.zarr", "YX", in_memory=True)
    open_image(tmp_path / "ro2.zarr", "YX").values  # noqa: B018
    clear_handle_cache()
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_corrupt_chunk_names_store_array_region(
    tmp_path: Path, zarr_format: Literal[2, 3]
) -> None:
    path = tmp_path / "bad.zarr"
    group = zarr.open_group(path, mode="w", zarr_format=zarr_format)
    compressor = ZstdCodec() if zarr_format == 3 else BLOSC_V2
    _write(
        group.create_group("g"),
        "img",
        _data((2, 16, 16)),
        chunks=(1, 16, 16),
        compressors=compressor,
    )
    chunk = path / "g" / "img" / ("c/1/0/0" if zarr_format == 3 else "1.0.0")
    assert chunk.is_file()
    chunk.write_bytes(b"\x00garbage, not a compressed chunk" * 3)
    stack = open_image(path.as_uri() + "/g/img", "SYX")  # opening reads no chunk
    with pytest.raises(SourceReadError) as info:
        stack.values  # noqa: B018
    message = str(info.value)
    assert str(path) in message
    assert "'g/img'" in message
    assert "[1:2, 0:16, 0:16]" in message
    assert info.value.array == "g/img"
    assert info.value.region == "[1:2, 0:16, 0:16]"
    np.testing.assert_array_equal(stack[0].values.shape, (1, 16, 16))


def test_guess_can_open() -> None:
    assert ZarrLoader.guess_can_open("data/images.zarr")
    assert ZarrLoader.guess_can_open(Path("data/images.ZARR/"))
    assert ZarrLoader.guess_can_open("file:///d/a.zarr/g/arr")
    assert ZarrLoader.guess_can_open("https://host/a.ome.zarr")
    assert ZarrLoader.guess_can_open("s3://bucket/a.zarr/0")
    assert ZarrLoader.guess_can_open("data/a.zarr/group/array")
    assert not ZarrLoader.guess_can_open("https://host/a.tif")
    assert not ZarrLoader.guess_can_open("a.tif")
    assert not ZarrLoader.guess_can_open(np.zeros(3))
    assert guess_loader("file:///d/a.zarr/g") == "zarr"


def test_group_without_arrays(tmp_path: Path) -> None:
    path = tmp_path / "groups.zarr"
    root = zarr.open_group(path, mode="w")
    _write(root.create_group("inner"), "x", _data((4, 4)))
    with pytest.raises(UnsupportedSourceError) as info:
        open_images(path, "YX", "zarr")
    message = str(info.value)
    assert str(path) in message
    assert "expected arrays at its first level, or an OME-Zarr image" in message
    assert "only the groups ['inner']" in message
    assert f"{path.as_uri()}/inner" in message
    zarr.open_group(tmp_path / "empty.zarr", mode="w")
    with pytest.raises(UnsupportedSourceError, match="no arrays and no groups"):
        open_images(tmp_path / "empty.zarr", "YX", "zarr")


def test_unsupported_dtype(tmp_path: Path) -> None:
    path = tmp_path / "c.zarr"
    array = zarr.open_group(path, mode="w").create_array(
        "cplx", shape=(4, 4), dtype="complex64"
    )
    assert array.dtype == np.complex64
    with pytest.raises(UnsupportedDtypeError, match=r"cplx.*got complex64"):
        open_images(path, "YX", "zarr")


def test_wrong_axes_names_store_and_array(tmp_path: Path) -> None:
    path = tmp_path / "ax.zarr"
    _write(zarr.open_group(path, mode="w").create_group("g"), "img", _data((2, 8, 8)))
    with pytest.raises(AxesError, match=re.escape(f"{path}/g/img")) as info:
        open_images(f"{path.as_uri()}/g", "YX", "zarr")
    assert "has 3 dimensions" in str(info.value)
    with pytest.raises(AxesError, match="Must be a combination of STCZYX"):
        open_images(path.as_uri() + "/g/img", "QYX", "zarr")


def test_non_path_source_rejected() -> None:
    with pytest.raises(UnsupportedSourceError, match="must be a path, a URI or a zarr"):
        ZarrLoader().open(42, "YX")
