from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
import pytest
import tifffile
import xarray as xr

from careamics_dask.errors import AxesError, SourceReadError, UnsupportedSourceError
from careamics_dask.loaders.bioimage import BioImageLoader
from careamics_dask.loaders.open import open_image, open_images
from careamics_dask.loaders.registry import guess_loader
from careamics_dask.testing import LoaderCase, LoaderTests

bioio = pytest.importorskip("bioio")
pytest.importorskip("bioio_tifffile")

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.bioio


def write_imagej_tzyx(path: Path) -> Any:
    data = np.random.default_rng(0).integers(0, 4000, (3, 4, 16, 20), "uint16")
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(2.0, 2.0),
        metadata={"axes": "TZYX", "spacing": 1.5, "unit": "um"},
    )
    return data


def write_two_series(path: Path) -> tuple[Any, Any]:
    rng = np.random.default_rng(1)
    first = rng.integers(0, 255, (2, 3, 16, 16), "uint8")
    second = rng.integers(0, 255, (2, 2, 8, 12), "uint8")
    with tifffile.TiffWriter(path) as writer:
        writer.write(first, photometric="minisblack", metadata={"axes": "CZYX"})
        writer.write(second, photometric="minisblack", metadata={"axes": "CZYX"})
    return first, second


class TestBioImageTZYX(LoaderTests):
    """An ImageJ hyperstack: dims TCZYX, physical sizes from resolution/spacing."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "tzyx.tif"
        data = write_imagej_tzyx(path)
        image = bioio.BioImage(path)
        assert image.dims.order == "TCZYX"
        raw = tifffile.imread(path)[:, None]  # T Z Y X -> T C Z Y X
        np.testing.assert_array_equal(raw[:, 0], data)
        return LoaderCase(
            source=image,
            axes="TCZYX",
            expected=[raw],
            data_type="bioimage",
            # bioio-tifffile's generated "Channel:0:0" is no name: C holds 0..C-1
            channel_names=None,
            pixel_sizes=[{"Z": 1.5, "Y": 0.5, "X": 0.5}],
            expected_chunks=[(1, 1, 4, 16, 20)],
            path=path,
        )


class TestBioImageCZYXDropT(LoaderTests):
    """Axes name the dims to keep: the singleton T of a CZYX OME-TIFF is dropped."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "czyx.tif"
        data = np.random.default_rng(2).random((2, 3, 8, 12)).astype("float32")
        tifffile.imwrite(path, data, metadata={"axes": "CZYX"})
        image = bioio.BioImage(path, channel_names=["dapi", "gfp"])
        return LoaderCase(
            source=image,
            axes="ZCYX",  # any order of the letters; the object's order is used
            expected=[tifffile.imread(path)],
            expected_axes=["CZYX"],
            channel_names=[["dapi", "gfp"]],
            path=path,
        )


class TestBioImageScenes(LoaderTests):
    """Every series of a multi-series TIFF is a scene and an image stack."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "series.tif"
        write_two_series(path)
        image = bioio.BioImage(path)
        assert len(image.scenes) == 2
        raws = [tifffile.imread(path, series=i)[None] for i in range(2)]
        return LoaderCase(
            source=image, axes="", expected=raws, expected_axes=["TCZYX"] * 2, path=path
        )


def test_scene_selection_and_attrs(tmp_path: Path) -> None:
    path = tmp_path / "series.tif"
    _, second = write_two_series(path)
    image = bioio.BioImage(path)
    assert guess_loader(image) == "bioimage"
    by_name = open_image(image, "CZYX", scenes=["Image:1"])
    by_index = open_image(image, "CZYX", "bioimage", scenes=[1])
    np.testing.assert_array_equal(by_name.values[0], second)
    assert by_name.data.name == by_index.data.name
    assert by_name.attrs["source"] == str(path)
    assert by_name.attrs["array"] == "Image:1"
    assert by_name.attrs["scene_index"] == 1
    assert image.current_scene == "Image:0"  # the caller's object is untouched


def test_unknown_scene(tmp_path: Path) -> None:
    path = tmp_path / "series.tif"
    write_two_series(path)
    with pytest.raises(UnsupportedSourceError, match=r"Scene 'Image:7' not found"):
        open_images(bioio.BioImage(path), "", scenes=["Image:7"])
    with pytest.raises(UnsupportedSourceError, match="expected an index below 2"):
        open_images(bioio.BioImage(path), "", scenes=[2])


def test_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "tzyx.tif"
    data = write_imagej_tzyx(path)
    stack = open_image(bioio.BioImage(path), "TZYX", in_memory=True)
    assert isinstance(stack.data, np.ndarray)
    assert stack.dims == ("S", "C", "Z", "Y", "X")
    np.testing.assert_array_equal(stack.values[:, 0], data)


@pytest.mark.parametrize(
    ("axes", "match"),
    [
        ("STCZYX", r"unknown \['S'\]"),
        ("TCYX", r"non-singleton dims left out \['Z'\]"),
        ("TTCZYX", "do not fit"),
    ],
)
def test_axes_must_fit_dims(tmp_path: Path, axes: str, match: str) -> None:
    path = tmp_path / "tzyx.tif"
    write_imagej_tzyx(path)
    with pytest.raises(AxesError, match=match):
        open_images(bioio.BioImage(path), axes)


def test_rgb_rejected(tmp_path: Path) -> None:
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, np.zeros((16, 16, 3), "uint8"), photometric="rgb")
    image = bioio.BioImage(path)
    assert "S" in image.dims.order
    with pytest.raises(UnsupportedSourceError, match="RGB"):
        open_images(image, "")


def test_not_a_bioimage() -> None:
    with pytest.raises(
        UnsupportedSourceError, match=r"without \['xarray_dask_data', 'scenes'"
    ):
        BioImageLoader().open(xr.DataArray(np.zeros((4, 4)), dims=("Y", "X")), "")


def test_read_error_names_scene(tmp_path: Path) -> None:
    path = tmp_path / "tzyx.tif"
    write_imagej_tzyx(path)
    stack = open_image(bioio.BioImage(path), "")
    path.unlink()
    with pytest.raises(SourceReadError, match="Image:0") as info:
        stack.values  # noqa: B018
    assert info.value.source == str(path)


class _Sizes:
    Z = None
    Y = 0.25
    X = 0.5


def test_duck_typed_object_without_pickling() -> None:
    """A local class does not pickle: lazy opening refuses, in memory works."""

    class Reader:
        def __init__(self) -> None:
            data = np.arange(2 * 3 * 4 * 5, dtype="int16").reshape(1, 2, 3, 4, 5)
            self.xarray_dask_data = xr.DataArray(
                da.from_array(data), dims=tuple("TCZYX")
            )
            self.data = data
            self.dims = "TCZYX"
            self.scenes = ("only",)
            self.current_scene = "only"
            self.physical_pixel_sizes = _Sizes()
            self.channel_names = ["a", "b"]

        def set_scene(self, scene: int | str) -> None:
            self.current_scene = "only"

    reader = Reader()
    assert BioImageLoader.guess_can_open(reader)
    with pytest.raises(UnsupportedSourceError, match="does not pickle"):
        BioImageLoader().open(reader, "")
    [stack] = BioImageLoader().open(reader, "CZYX", in_memory=True)
    assert list(stack.coords["C"].values) == ["a", "b"]
    assert stack.attrs["pixel_sizes"] == {"Y": 0.25, "X": 0.5}
    np.testing.assert_array_equal(stack.values, reader.data[0][None])
