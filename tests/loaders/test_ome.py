from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pytest
import zarr

from careamics_dask.errors import AxesError, UnsupportedSourceError
from careamics_dask.loaders._ome import check_ome_axes, read_ome_image
from careamics_dask.loaders.open import open_image, open_images
from careamics_dask.testing import LoaderCase, LoaderTests

if TYPE_CHECKING:
    from pathlib import Path

RNG = np.random.default_rng(7)
NAMES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


def write_ome_image(
    group: zarr.Group,
    data: np.ndarray,
    axes: str,
    *,
    version: Literal["0.4", "0.5"],
    scale: list[float],
    unit: str | None = "micrometer",
    labels: list[str] | None = None,
    paths: tuple[str, str] = ("0", "1"),
    chunks: tuple[int, ...] | None = None,
    declared_level: str | None = None,
) -> None:
    """Write a two-level OME-NGFF image into a group with plain zarr."""
    axes_meta: list[dict[str, Any]] = []
    for name in axes:
        entry: dict[str, Any] = {"name": name, "type": NAMES[name]}
        if unit and NAMES[name] == "space":
            entry["unit"] = unit
        axes_meta.append(entry)
    spatial = [i for i, name in enumerate(axes) if NAMES[name] == "space"][-2:]
    datasets = []
    for level, path in enumerate(paths):
        factor = 2**level
        selection = tuple(
            slice(None, None, factor) if i in spatial else slice(None)
            for i in range(data.ndim)
        )
        level_data = data[selection]
        extra: dict[str, Any] = {}
        if version == "0.4":
            extra["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
        else:
            extra["dimension_names"] = list(axes)
        array = group.create_array(
            path,
            shape=level_data.shape,
            dtype=level_data.dtype,
            chunks=chunks or level_data.shape,
            **extra,
        )
        array[...] = level_data
        level_scale = [s * factor if i in spatial else s for i, s in enumerate(scale)]
        datasets.append(
            {
                "path": path,
                "coordinateTransformations": [{"type": "scale", "scale": level_scale}],
            }
        )
    multiscales = [{"name": "image", "axes": axes_meta, "datasets": datasets}]
    block: dict[str, Any] = {"multiscales": multiscales}
    if labels is not None:
        block["omero"] = {"channels": [{"label": label} for label in labels]}
    if declared_level is not None:
        datasets[0]["path"] = declared_level
    if version == "0.4":
        multiscales[0]["version"] = "0.4"
        group.attrs.update(block)
    else:
        group.attrs.update({"ome": {"version": "0.5", **block}})


class TestOmeZarr04(LoaderTests):
    """NGFF 0.4 in a Zarr v2 store, opened by its path with no axes."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "image.ome.zarr"
        root = zarr.open_group(path, mode="w", zarr_format=2)
        data = RNG.integers(0, 255, (2, 4, 32, 32)).astype("uint8")
        write_ome_image(
            root,
            data,
            "czyx",
            version="0.4",
            scale=[1.0, 2.0, 0.5, 0.25],
            labels=["DAPI", "GFP"],
            chunks=(1, 2, 16, 16),
        )
        return LoaderCase(
            source=path,
            axes="",
            expected=[data],
            expected_axes=["CZYX"],
            channel_names=[["DAPI", "GFP"]],
            pixel_sizes=[{"Z": 2.0, "Y": 0.5, "X": 0.25}],
            expected_chunks=[(1, 1, 2, 16, 16)],
            path=path,
            data_type="zarr",
        )


class TestOmeZarr05(LoaderTests):
    """NGFF 0.5 in a Zarr v3 store; level paths come from the metadata."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "image.zarr"
        root = zarr.open_group(path, mode="w", zarr_format=3)
        data = RNG.integers(0, 4000, (3, 2, 32, 48)).astype("uint16")
        write_ome_image(
            root,
            data,
            "tcyx",
            version="0.5",
            scale=[1.0, 1.0, 0.3, 0.3],
            labels=["a", "b"],
            paths=("s0", "s1"),
            chunks=(1, 1, 16, 16),
        )
        return LoaderCase(
            source=path,
            axes="TCYX",
            expected=[data],
            expected_axes=["TCYX"],
            channel_names=[["a", "b"]],
            pixel_sizes=[{"Y": 0.3, "X": 0.3}],
            expected_chunks=[(1, 1, 16, 16)],
            path=path,
        )


class TestOmeZarrUriToImageGroup(LoaderTests):
    """A URI to an image group inside a container is detected by its metadata."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "container.zarr"
        root = zarr.open_group(path, mode="w", zarr_format=3)
        root.attrs["bioformats2raw.layout"] = 3
        data = RNG.random((5, 16, 16)).astype("float32")
        write_ome_image(
            root.create_group("0"), data, "zyx", version="0.5", scale=[3, 1, 1]
        )
        return LoaderCase(
            source=f"{path.as_uri()}/0",
            axes="ZYX",
            expected=[data],
            expected_axes=["ZYX"],
            pixel_sizes=[{"Z": 3.0, "Y": 1.0, "X": 1.0}],
            expected_chunks=[(1, 1, 5, 16, 16)],
            path=path,
            data_type="zarr",
        )


@pytest.fixture
def ome04(tmp_path: Path) -> Path:
    path = tmp_path / "a.ome.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=2)
    data = np.arange(2 * 3 * 16 * 16, dtype="uint16").reshape(2, 3, 16, 16)
    write_ome_image(
        root, data, "tcyx", version="0.4", scale=[1, 1, 0.5, 0.5], labels=["a", "b"]
    )
    return path


def test_full_resolution_level_and_attrs(ome04: Path) -> None:
    stack = open_image(ome04, "")
    assert stack.shape == (2, 3, 16, 16)
    assert stack.attrs["array"] == "0"
    assert stack.attrs["pixel_unit"] == "micrometer"
    assert stack.attrs["ome_version"] == "0.4"
    assert stack.attrs["original_axes"] == "TCYX"


def test_sample_axis_letter_agrees_with_time(ome04: Path) -> None:
    assert open_image(ome04, "scyx").attrs["original_axes"] == "TCYX"


def test_disagreeing_axes_say_both(ome04: Path) -> None:
    with pytest.raises(AxesError) as info:
        open_images(ome04, "SYX", "zarr")
    message = str(info.value)
    assert "expected 'TCYX'" in message
    assert "got 'SYX'" in message
    assert str(ome04) in message


def test_mismatched_channel_labels_are_ignored(
    ome04: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        stack = open_image(ome04, "")
    assert list(stack.coords["C"].values) == [0, 1, 2]
    assert "ignoring 2 omero channel labels" in caplog.text


def test_in_memory(ome04: Path) -> None:
    stack = open_image(ome04, "", in_memory=True)
    assert isinstance(stack.data, np.ndarray)
    expected = zarr.open_array(ome04 / "0", mode="r")[:]
    np.testing.assert_array_equal(stack.values, expected)


def test_missing_level_array(tmp_path: Path) -> None:
    path = tmp_path / "broken.zarr"
    root = zarr.open_group(path, mode="w")
    write_ome_image(
        root,
        np.zeros((8, 8), "uint8"),
        "yx",
        version="0.5",
        scale=[1, 1],
        declared_level="missing",
    )
    with pytest.raises(UnsupportedSourceError, match="no array is there"):
        open_images(path, "", "zarr")


def test_container_root_hints_at_images(tmp_path: Path) -> None:
    path = tmp_path / "container.zarr"
    root = zarr.open_group(path, mode="w")
    root.attrs["bioformats2raw.layout"] = 3
    write_ome_image(
        root.create_group("0"),
        np.zeros((8, 8), "u1"),
        "yx",
        version="0.5",
        scale=[1, 1],
    )
    with pytest.raises(UnsupportedSourceError, match="bioformats2raw layout"):
        open_images(path, "", "zarr")


@pytest.mark.parametrize(
    ("multiscales", "match"),
    [
        ([], "non-empty 'multiscales' list"),
        ([{"axes": ["y", "x"], "datasets": []}], "'datasets' with a 'path'"),
        ([{"axes": [], "datasets": [{"path": "0"}]}], "a list of 'axes'"),
        (
            [{"axes": ["angle", "y", "x"], "datasets": [{"path": "0"}]}],
            "Unsupported OME-Zarr axis",
        ),
        (
            [
                {
                    "axes": ["y", "x"],
                    "datasets": [
                        {
                            "path": "0",
                            "coordinateTransformations": [
                                {"type": "scale", "scale": [1.0]}
                            ],
                        }
                    ],
                }
            ],
            "a scale with 2 values",
        ),
    ],
)
def test_malformed_metadata(multiscales: list[Any], match: str) -> None:
    with pytest.raises(UnsupportedSourceError, match=re.escape(match)):
        read_ome_image({"multiscales": multiscales}, where="x.zarr")


def test_metadata_parsing_details() -> None:
    attrs = {
        "ome": {
            "version": "0.5",
            "multiscales": [
                {
                    "axes": [
                        {"name": "t", "type": "time", "unit": "second"},
                        {"name": "y", "type": "space", "unit": "micrometer"},
                        {"name": "x", "type": "space", "unit": "nanometer"},
                    ],
                    "datasets": [
                        {
                            "path": "/0/",
                            "coordinateTransformations": [
                                {"type": "scale", "scale": [2.0, 0.5, 0.5]},
                                {"type": "translation", "translation": [0, 5, 5]},
                            ],
                        }
                    ],
                    "coordinateTransformations": [
                        {"type": "scale", "scale": [1.0, 2.0, 4.0]}
                    ],
                }
            ],
            "omero": {"channels": [{"label": "x"}, {"color": "FFFFFF"}]},
        }
    }
    image = read_ome_image(attrs, where="a.zarr")
    assert image is not None
    assert image.version == "0.5"
    assert image.level_path == "0"
    assert image.axes == "TYX"
    # mixed spatial units: each axis converted to micrometres (issue 18)
    assert image.pixel_sizes == {"Y": 1.0, "X": 0.002}
    assert image.pixel_unit == "micrometer"
    assert image.channel_names is None  # one channel has no label
    assert read_ome_image({"other": 1}, where="a.zarr") is None


def test_check_ome_axes() -> None:
    assert check_ome_axes(None, "CZYX", where="a") == "CZYX"
    assert check_ome_axes("czyx", "CZYX", where="a") == "CZYX"
    with pytest.raises(AxesError, match="pass axes='CZYX' or axes=''"):
        check_ome_axes("ZYX", "CZYX", where="a")
