from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import dask
import dask.array as da
import numpy as np
import pytest
import tifffile

from careamics_dask.errors import (
    AxesError,
    SourceNotFoundError,
    SourceReadError,
    UnsupportedSourceError,
)
from careamics_dask.loaders import clear_handle_cache
from careamics_dask.loaders.open import open_image, open_images
from careamics_dask.loaders.tiff import TiffLoader, TiffRegionReader
from careamics_dask.testing import LoaderCase, LoaderTests

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(autouse=True)
def _synchronous_and_clean() -> Iterator[None]:
    clear_handle_cache()
    with dask.config.set(scheduler="synchronous"):
        yield
    clear_handle_cache()


def _random(shape: tuple[int, ...], dtype: str = "uint16", seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1000, shape).astype(dtype)


class TestMultiPageTiff(LoaderTests):
    """Uncompressed multi-page file: one chunk per page; data type guessed."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        data = _random((3, 2, 32, 48))
        path = tmp_path / "pages.tif"
        tifffile.imwrite(path, data)
        return LoaderCase(
            source=path,
            axes="TCYX",
            expected=[tifffile.imread(path)],
            expected_chunks=[(1, 1, 32, 48)],
            path=path,
        )


class TestTiledZlibTiff(LoaderTests):
    """Tiled, zlib-compressed file: one chunk per tile."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        data = _random((2, 64, 96), seed=1)
        path = tmp_path / "tiled.tiff"
        tifffile.imwrite(path, data, tile=(32, 32), compression="zlib")
        return LoaderCase(
            source=str(path),
            axes="SYX",
            data_type="tiff",
            expected=[tifffile.imread(path)],
            expected_chunks=[(1, 1, 32, 32)],
            path=path,
        )


class TestZstdStripTiff(LoaderTests):
    """Striped, zstd-compressed 3-D file with samples last: one chunk per strip."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        data = _random((4, 40, 24), "float32", seed=2)
        path = tmp_path / "strips.tif"
        tifffile.imwrite(path, data, rowsperstrip=8, compression="zstd")
        return LoaderCase(
            source=path,
            axes="ZYX",
            data_type="tiff",
            expected=[tifffile.imread(path)],
            expected_chunks=[(1, 1, 1, 8, 24)],
            path=path,
        )


class TestOmeTiff(LoaderTests):
    """OME-TIFF: channel names and physical sizes come from the OME-XML."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        data = _random((2, 3, 16, 16), "uint8", seed=3)
        path = tmp_path / "image.ome.tif"
        tifffile.imwrite(
            path,
            data,
            ome=True,
            metadata={
                "axes": "CZYX",
                "PhysicalSizeX": 0.3,
                "PhysicalSizeY": 0.4,
                "PhysicalSizeZ": 1.5,
                "Channel": {"Name": ["dapi", "gfp"]},
            },
        )
        return LoaderCase(
            source=path,
            axes="CZYX",
            data_type="tiff",
            expected=[tifffile.imread(path)],
            channel_names=[["dapi", "gfp"]],
            pixel_sizes=[{"Z": 1.5, "Y": 0.4, "X": 0.3}],
            expected_chunks=[(1, 1, 1, 16, 16)],
            path=path,
        )


class TestImageJTiff(LoaderTests):
    """ImageJ hyperstack: Z spacing and the X/Y resolution tags."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        data = _random((3, 4, 2, 16, 16), "float32", seed=4)
        path = tmp_path / "hyperstack.tif"
        tifffile.imwrite(
            path,
            data,
            imagej=True,
            resolution=(1 / 0.25, 1 / 0.5),
            metadata={"spacing": 2.0, "unit": "um", "axes": "TZCYX"},
        )
        return LoaderCase(
            source=path,
            axes="TZCYX",
            data_type="tiff",
            expected=[tifffile.imread(path)],
            pixel_sizes=[{"Z": 2.0, "Y": 0.5, "X": 0.25}],
            expected_chunks=[(1, 1, 1, 16, 16)],
            path=path,
        )


class TestTiffFolder(LoaderTests):
    """A folder opens every TIFF below it, recursively, in sorted path order."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        folder = tmp_path / "data"
        (folder / "sub").mkdir(parents=True)
        paths = [folder / "b.tif", folder / "a.tif", folder / "sub" / "c.tiff"]
        for seed, path in enumerate(paths):
            tifffile.imwrite(path, _random((2, 16, 16), seed=10 + seed))
        (folder / "notes.txt").write_text("not an image")
        ordered = sorted(paths)
        assert [p.name for p in ordered] == ["a.tif", "b.tif", "c.tiff"]
        return LoaderCase(
            source=folder,
            axes="SYX",
            data_type="tiff",
            expected=[tifffile.imread(p) for p in ordered],
            expected_chunks=[(1, 1, 16, 16)] * 3,
            path=folder,
        )


class TestInMemoryTiff(LoaderTests):
    """in_memory=True reads NumPy arrays with tifffile.imread."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "mem.tif"
        tifffile.imwrite(path, _random((2, 16, 16), seed=5), compression="lzw")
        return LoaderCase(
            source=[path],
            axes="TYX",
            data_type="tiff",
            open_kwargs={"in_memory": True},
            expected=[tifffile.imread(path)],
            lazy=False,
            path=path,
        )


def test_folder_sources_keep_sorted_order(tmp_path: Path) -> None:
    for name in ["z.tif", "m.tif", "a.tif"]:
        tifffile.imwrite(tmp_path / name, np.zeros((4, 4), "uint8"))
    stacks = open_images(tmp_path, "YX", "tiff")
    assert [os.path.basename(s.attrs["source"]) for s in stacks] == [
        "a.tif",
        "m.tif",
        "z.tif",
    ]


def test_tiled_file_reads_one_tile(tmp_path: Path) -> None:
    data = _random((256, 256), "uint8", seed=6)
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, data, tile=(64, 64), compression="zstd")
    stack = open_image(path, "YX", "tiff")
    assert isinstance(stack.data, da.Array)
    assert stack.data.chunks[2:] == ((64,) * 4, (64,) * 4)
    np.testing.assert_array_equal(
        stack[0, 0, 64:128, 128:192].values, data[64:128, 128:192]
    )
    reader = TiffRegionReader(
        source=str(path),
        shape=(256, 256),
        dtype="uint8",
        chunks=(64, 64),
        mtime_ns=os.stat(path).st_mtime_ns,
        size=os.stat(path).st_size,
    )
    np.testing.assert_array_equal(reader[64:128, 0:64], data[64:128, 0:64])


@pytest.mark.parametrize("compression", ["zlib", "zstd", "lzw"])
def test_compressed_tiff_values(tmp_path: Path, compression: str) -> None:
    data = _random((2, 32, 32), seed=7)
    path = tmp_path / f"{compression}.tif"
    tifffile.imwrite(path, data, compression=compression, tile=(16, 16))
    stack = open_image(path, "SYX", "tiff")
    np.testing.assert_array_equal(stack.values[:, 0], data)


def test_not_a_tiff_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "fake.tif"
    path.write_bytes(b"this is not a TIFF file at all")
    with pytest.raises(UnsupportedSourceError, match="is not a valid TIFF") as info:
        open_image(path, "YX", "tiff")
    assert str(path) in str(info.value)
    assert info.value.source == str(path)


def test_truncated_header_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "short.tif"
    tifffile.imwrite(path, np.zeros((2, 16, 16), "uint8"))
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(UnsupportedSourceError, match=re.escape(str(path))):
        open_image(path, "SYX", "tiff")


def _truncate_pixels(path: Path) -> None:
    """Cut the file in the middle of the pixel data of its last page."""
    with tifffile.TiffFile(path) as tif:
        last = tif.pages[-1]
        cut = last.dataoffsets[0] + last.databytecounts[0] // 2
    path.write_bytes(path.read_bytes()[:cut])


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_truncated_pixels_fail_when_computed(
    tmp_path: Path, compression: str | None
) -> None:
    data = _random((2, 32, 32), seed=8)
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, data, compression=compression)
    _truncate_pixels(path)
    stack = open_image(path, "SYX", "tiff")
    np.testing.assert_array_equal(stack[0].values[0], data[0])
    with pytest.raises(SourceReadError, match=re.escape(str(path))) as info:
        _ = stack[1].values
    assert info.value.source == str(path)
    assert info.value.region == "[1:2, 0:32, 0:32]"
    assert "[1:2, 0:32, 0:32]" in str(info.value)


def test_truncated_pixels_fail_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, _random((2, 32, 32)), compression="zlib")
    _truncate_pixels(path)
    with pytest.raises(SourceReadError, match=re.escape(str(path))):
        open_image(path, "SYX", "tiff", in_memory=True)


def test_changed_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "changing.tif"
    tifffile.imwrite(path, np.zeros((2, 16, 16), "uint8"))
    stack = open_image(path, "SYX", "tiff")
    tifffile.imwrite(path, np.ones((3, 16, 16), "uint8"))
    with pytest.raises(SourceReadError, match="changed since it was opened"):
        _ = stack.values


@pytest.mark.parametrize("axes", ["YX", "SCYX"])
def test_wrong_axes_name_the_file(tmp_path: Path, axes: str) -> None:
    path = tmp_path / "three_d.tif"
    tifffile.imwrite(path, np.zeros((2, 16, 16), "uint8"))
    with pytest.raises(AxesError, match=re.escape(repr(str(path)))):
        open_image(path, axes, "tiff")


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.tif"
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        open_image(missing, "YX", "tiff")
    with pytest.raises(SourceNotFoundError, match=re.escape(str(missing))):
        TiffLoader().open(missing, "YX")


def test_folder_without_tiffs(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"png")
    with pytest.raises(UnsupportedSourceError, match=re.escape("'*.tif*'")):
        open_images(tmp_path, "YX", "tiff")


def test_non_path_source_rejected() -> None:
    with pytest.raises(UnsupportedSourceError, match="TIFF sources must be paths"):
        TiffLoader().open(np.zeros((4, 4)), "YX")


def test_guess_can_open() -> None:
    assert TiffLoader.guess_can_open("a/b.TIF")
    assert TiffLoader.guess_can_open("b.tiff")
    assert not TiffLoader.guess_can_open("b.zarr")
