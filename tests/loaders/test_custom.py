from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from dask.base import compute

from careamics_dask.errors import AxesError, SourceReadError, UnsupportedSourceError
from careamics_dask.loaders.custom import ReadFuncLoader
from careamics_dask.loaders.image_stack import ImageStack, ImageStackLoader
from careamics_dask.loaders.loading import ImageStackLoading, ReadFuncLoading
from careamics_dask.loaders.open import open_image, open_images
from careamics_dask.testing import LoaderCase, LoaderTests, count_region_reads

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

CALLS: list[str] = []
"""Items the counting read functions were called with."""

PATCH_CALLS: list[tuple[int, list[int] | None, list[int], list[int]]] = []
"""Arguments of every TYXStack.extract_patch call."""


@pytest.fixture(autouse=True)
def _synchronous() -> Iterator[None]:
    CALLS.clear()
    PATCH_CALLS.clear()
    with dask.config.set(scheduler="synchronous"):
        yield


def load_npy(path: Path, offset: int = 0) -> np.ndarray:
    CALLS.append(str(path))
    data: np.ndarray = np.load(path)
    shifted: np.ndarray = data + np.asarray(offset, dtype=data.dtype)
    return shifted


def as_array(item: Any) -> np.ndarray:
    CALLS.append(type(item).__name__)
    return np.asarray(item)


def failing_read(path: Path) -> np.ndarray:
    raise RuntimeError("the codec is not installed")


def _random(shape: tuple[int, ...], dtype: str = "uint16", seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1000, shape).astype(dtype)


def _write_npy(folder: Path, names: Sequence[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed, name in enumerate(names):
        path = folder / name
        np.save(path, _random((2, 16, 24), seed=seed))
        paths.append(path)
    return paths


class ReadFuncLoaderTests(LoaderTests):
    """Read-function loaders probe each file once at open time (documented)."""

    def test_open_computes_nothing(self, case: LoaderCase) -> None:
        CALLS.clear()
        with count_region_reads() as counter:
            stacks = self.open(case)
        assert counter.count == 0
        assert len(CALLS) == len(case.expected)  # exactly one probe per file
        for stack in stacks:
            assert isinstance(stack.data, da.Array)
            assert stack.data.npartitions == 1  # one task, one chunk per file
            assert any(
                str(key).startswith("read_file-") for key in stack.data.__dask_graph__()
            )


class TestReadFuncNpyFolder(ReadFuncLoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        folder = tmp_path / "npy"
        paths = _write_npy(folder, ["b.npy", "a.npy", "c.npy"])
        (folder / "readme.txt").write_text("skip me")
        ordered = sorted(paths)
        return LoaderCase(
            source=folder,
            axes="SYX",
            data_type="custom",
            open_kwargs={
                "loading": ReadFuncLoading(load_npy, extension_filter="*.npy")
            },
            expected=[np.load(p) for p in ordered],
            expected_chunks=[(2, 1, 16, 24)] * 3,
            path=folder,
        )


class TestReadFuncKwargs(ReadFuncLoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        [path] = _write_npy(tmp_path, ["x.npy"])
        return LoaderCase(
            source=[path],
            axes="TYX",
            open_kwargs={"loading": ReadFuncLoading(load_npy, {"offset": 5})},
            expected=[np.load(path) + 5],
            path=path,
        )


class TestReadFuncNonPathItems(ReadFuncLoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        arrays = [_random((3, 8, 8), "float32", seed=s) for s in (1, 2)]
        return LoaderCase(
            source=arrays,
            axes="YXC",
            data_type="custom",
            open_kwargs={"loading": ReadFuncLoading(as_array)},
            expected=arrays,
        )


class TestReadFuncInMemory(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        paths = _write_npy(tmp_path, ["a.npy", "b.npy"])
        return LoaderCase(
            source=paths,
            axes="SYX",
            data_type="custom",
            open_kwargs={"loading": ReadFuncLoading(load_npy), "in_memory": True},
            expected=[np.load(p) for p in paths],
            lazy=False,
        )


def test_read_func_in_memory_reads_once(tmp_path: Path) -> None:
    [path] = _write_npy(tmp_path, ["a.npy"])
    stack = open_image(path, "SYX", loading=ReadFuncLoading(load_npy), in_memory=True)
    assert isinstance(stack.data, np.ndarray)
    assert [str(path)] == CALLS


def test_read_func_failure_at_open_names_file(tmp_path: Path) -> None:
    [path] = _write_npy(tmp_path, ["a.npy"])
    with pytest.raises(SourceReadError, match=re.escape(str(path))) as info:
        open_image(path, "SYX", loading=ReadFuncLoading(failing_read))
    assert "the codec is not installed" in str(info.value)
    assert info.value.source == str(path)


def test_read_func_failure_on_compute_names_file(tmp_path: Path) -> None:
    [path] = _write_npy(tmp_path, ["a.npy"])
    stack = open_image(path, "SYX", loading=ReadFuncLoading(load_npy))
    path.unlink()
    with pytest.raises(SourceReadError, match=re.escape(str(path))) as info:
        _ = stack.values
    assert "FileNotFoundError" in str(info.value)
    assert info.value.source == str(path)


def test_read_func_changed_shape_is_refused(tmp_path: Path) -> None:
    [path] = _write_npy(tmp_path, ["a.npy"])
    stack = open_image(path, "SYX", loading=ReadFuncLoading(load_npy))
    np.save(path, np.zeros((3, 16, 24), "uint16"))
    with pytest.raises(SourceReadError, match="expected shape"):
        _ = stack.values


def test_read_func_wrong_axes(tmp_path: Path) -> None:
    [path] = _write_npy(tmp_path, ["a.npy"])
    with pytest.raises(AxesError, match=re.escape(repr(str(path)))):
        open_image(path, "YX", loading=ReadFuncLoading(load_npy))


def test_read_func_runs_on_threads(tmp_path: Path) -> None:
    paths = _write_npy(tmp_path, ["a.npy", "b.npy", "c.npy"])
    with dask.config.set(scheduler="threads"):
        stacks = open_images(paths, "SYX", loading=ReadFuncLoading(load_npy))
        values = compute(*[s.data for s in stacks])
    for value, path in zip(values, paths, strict=True):
        np.testing.assert_array_equal(value[:, 0], np.load(path))


def test_custom_without_loading_is_refused() -> None:
    message = (
        "Found `data_type='custom'`, a custom read function or a custom image "
        "stack loader must be provided."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        open_images([np.zeros((4, 4))], "YX", "custom")


def test_extension_filter_without_match(tmp_path: Path) -> None:
    _write_npy(tmp_path, ["a.npy"])
    with pytest.raises(UnsupportedSourceError, match=re.escape("'*.raw'")):
        open_images(
            tmp_path, "SYX", loading=ReadFuncLoading(load_npy, extension_filter="*.raw")
        )


# --- ImageStackLoading ---------------------------------------------------------------


def load_numpy_stacks(source: Sequence[Path], axes: str) -> list[np.ndarray]:
    return [np.load(p) for p in source]


def load_dask_stacks(source: Sequence[Path], axes: str, chunk: int) -> list[da.Array]:
    return [da.from_array(np.load(p), chunks=(1, chunk, chunk)) for p in source]


def load_data_arrays(source: Sequence[np.ndarray], axes: str) -> list[xr.DataArray]:
    yxc = xr.DataArray(
        da.from_array(source[0], chunks=(8, 8, 2)),
        dims=("Y", "X", "C"),
        coords={"C": ["dapi", "gfp"]},
        attrs={"pixel_sizes": {"Y": 0.5, "X": 0.25}, "note": "kept"},
    )
    canonical = xr.DataArray(
        da.from_array(source[1]),
        dims=("S", "C", "Y", "X"),
        coords={"C": ["a", "b", "c"]},
    )
    return [yxc, canonical]


class TYXStack:
    """A reference-style ImageStack over an in-memory TYX array."""

    def __init__(self, data: np.ndarray, name: str) -> None:
        self.data = data
        self.source = name
        self.original_axes = "TYX"
        self.original_data_shape = data.shape
        self.chunks = (1, 8, 16)  # in the original axes

    @property
    def data_shape(self) -> tuple[int, ...]:
        t, y, x = self.data.shape
        return (t, 1, y, x)

    @property
    def data_dtype(self) -> np.dtype[Any]:
        return self.data.dtype

    def extract_patch(
        self,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> np.ndarray:
        PATCH_CALLS.append(
            (
                sample_idx,
                None if channels is None else list(channels),
                list(coords),
                list(patch_size),
            )
        )
        sample: np.ndarray = self.data[sample_idx][np.newaxis]
        if channels is not None:
            sample = sample[list(channels)]
        box = tuple(slice(c, c + p) for c, p in zip(coords, patch_size, strict=True))
        return sample[(slice(None), *box)].astype(np.float32)


class NpyVolumeStack:
    """A reference-style ImageStack over an SCZYX .npy file, opened per read."""

    def __init__(self, path: Path) -> None:
        self.source = path
        self.data_shape = np.load(path, mmap_mode="r").shape
        self.data_dtype = np.load(path, mmap_mode="r").dtype

    def extract_patch(
        self,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> np.ndarray:
        data = np.load(self.source, mmap_mode="r")[sample_idx]
        if channels is not None:
            data = data[list(channels)]
        box = tuple(slice(c, c + p) for c, p in zip(coords, patch_size, strict=True))
        return np.asarray(data[(slice(None), *box)], dtype=np.float32)


class WrongShapeStack(TYXStack):
    def extract_patch(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return np.zeros((1, 2, 2), np.float32)


def load_tyx_stacks(source: Sequence[np.ndarray], axes: str) -> list[TYXStack]:
    return [TYXStack(a, f"mem{i}") for i, a in enumerate(source)]


def load_volume_stacks(source: Sequence[Path], axes: str) -> list[NpyVolumeStack]:
    return [NpyVolumeStack(p) for p in source]


class TestImageStackNumpy(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        paths = _write_npy(tmp_path, ["a.npy", "b.npy"])
        return LoaderCase(
            source=paths,
            axes="SYX",
            open_kwargs={"loading": ImageStackLoading(load_numpy_stacks)},
            expected=[np.load(p) for p in paths],
            lazy=False,
        )


class TestImageStackDask(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        paths = _write_npy(tmp_path, ["a.npy"])
        loading = ImageStackLoading(load_dask_stacks, {"chunk": 8})
        return LoaderCase(
            source=paths,
            axes="TYX",
            data_type="custom",
            open_kwargs={"loading": loading},
            expected=[np.load(paths[0])],
            expected_chunks=[(1, 1, 8, 8)],
        )


class TestImageStackDataArrays(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        arrays = [_random((16, 16, 2), seed=1), _random((2, 3, 8, 8), seed=2)]
        return LoaderCase(
            source=arrays,
            axes="YXC",
            open_kwargs={"loading": ImageStackLoading(load_data_arrays)},
            expected=arrays,
            expected_axes=["YXC", "SCYX"],
            channel_names=[["dapi", "gfp"], ["a", "b", "c"]],
        )

    def test_attrs_kept(self, case: LoaderCase) -> None:
        yxc, _ = self.open(case)
        assert yxc.attrs["pixel_sizes"] == {"Y": 0.5, "X": 0.25}
        assert yxc.attrs["note"] == "kept"
        assert yxc.data.chunksize == (1, 2, 8, 8)


class TestImageStackProtocol(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        arrays = [_random((3, 16, 32), seed=3), _random((2, 24, 16), "uint8", seed=4)]
        return LoaderCase(
            source=arrays,
            axes="TYX",
            open_kwargs={"loading": ImageStackLoading(load_tyx_stacks)},
            expected=arrays,
            expected_chunks=[(1, 1, 8, 16), (1, 1, 8, 16)],
        )

    def test_regions_read_through_extract_patch(self, case: LoaderCase) -> None:
        stack = self.open(case)[0]
        assert stack.attrs["source"] == "mem0"
        PATCH_CALLS.clear()
        values = stack[1:2, :, 8:16, 16:32].values
        assert PATCH_CALLS == [(1, [0], [8, 16], [8, 16])]
        np.testing.assert_array_equal(values[0, 0], case.expected[0][1, 8:16, 16:32])


class TestImageStackProtocolVolume(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        data = _random((2, 3, 4, 8, 8), "float32", seed=5)
        path = tmp_path / "volume.npy"
        np.save(path, data)
        return LoaderCase(
            source=[path],
            axes="SCZYX",
            open_kwargs={"loading": ImageStackLoading(load_volume_stacks)},
            expected=[data],
            expected_chunks=[(1, 3, 4, 8, 8)],
        )


def test_image_stack_protocol_in_memory() -> None:
    data = _random((2, 8, 8))
    stack = open_image(
        [data], "TYX", loading=ImageStackLoading(load_tyx_stacks), in_memory=True
    )
    assert isinstance(stack.data, np.ndarray)
    np.testing.assert_array_equal(stack.values[:, 0], data)


def test_protocol_class_is_recognised() -> None:
    assert isinstance(TYXStack(np.zeros((1, 2, 2)), "x"), ImageStack)
    assert not isinstance(np.zeros((2, 2)), ImageStack)


class UnpicklableStack(TYXStack):
    def __init__(self, data: np.ndarray, name: str) -> None:
        super().__init__(data, name)
        self.lock = threading.Lock()


def test_unpicklable_protocol_object_is_refused() -> None:
    def load(source: Any, axes: str) -> list[UnpicklableStack]:
        return [UnpicklableStack(np.zeros((2, 8, 8)), "locked")]

    with pytest.raises(UnsupportedSourceError, match="cannot be pickled") as info:
        open_images("anything", "TYX", loading=ImageStackLoading(load))
    assert "'locked'" in str(info.value)


def test_wrong_patch_shape_fails_on_compute() -> None:
    def load(source: Any, axes: str) -> list[WrongShapeStack]:
        return [WrongShapeStack(np.zeros((2, 8, 8)), "wrong")]

    stack = open_image("anything", "TYX", loading=ImageStackLoading(load))
    with pytest.raises(SourceReadError, match="returned shape") as info:
        _ = stack.values
    assert info.value.source == "wrong"


def test_unknown_item_kind_is_refused() -> None:
    def load(source: Any, axes: str) -> list[object]:
        return [{"not": "a stack"}]

    with pytest.raises(UnsupportedSourceError, match="is a dict: expected"):
        open_images("anything", "YX", loading=ImageStackLoading(load))


def test_data_array_with_foreign_dims_is_refused() -> None:
    def load(source: Any, axes: str) -> list[xr.DataArray]:
        return [xr.DataArray(np.zeros((4, 4)), dims=("row", "col"))]

    with pytest.raises(AxesError, match="expected one letter of STCZYX per dim"):
        open_images("anything", "YX", loading=ImageStackLoading(load))


def test_image_stack_loader_gets_source_axes_and_kwargs() -> None:
    seen: list[tuple[Any, str, dict[str, Any]]] = []

    def load(source: Any, axes: str, **kwargs: Any) -> list[np.ndarray]:
        seen.append((source, axes, kwargs))
        return [np.zeros((4, 4))]

    loader = ImageStackLoader(ImageStackLoading(load, {"level": 1}))
    loader.open("store.xyz", "YX", extra=2)
    assert seen == [("store.xyz", "YX", {"level": 1, "extra": 2})]


def test_read_func_loader_direct_open_of_array() -> None:
    [stack] = ReadFuncLoader(ReadFuncLoading(as_array)).open(np.ones((4, 4)), "YX")
    assert stack.attrs["source"] == "array"
    assert CALLS == ["ndarray"]
