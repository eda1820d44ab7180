"""Synthetic demo data: deterministic images, every kind readable with its axes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
import tifffile
import zarr

import careamics_dask as cd
from careamics_dask.app.demo import synthetic_image, write_demo_data

if TYPE_CHECKING:
    from pathlib import Path


def test_synthetic_image_is_seeded_uint16_with_bright_blobs() -> None:
    first = synthetic_image((64, 80), seed=3)
    assert first.dtype == np.uint16
    assert first.shape == (64, 80)
    np.testing.assert_array_equal(first, synthetic_image((64, 80), seed=3))
    assert not np.array_equal(first, synthetic_image((64, 80), seed=4))
    # a dim background around 100 with blobs far above it
    assert 50 < np.median(first) < 400
    assert first.max() > 4 * np.median(first)


def test_synthetic_image_in_3d() -> None:
    volume = synthetic_image((4, 32, 32), seed=0, n_blobs=5)
    assert volume.shape == (4, 32, 32)


def test_zarr_kind_holds_one_array_with_its_axes(tmp_path: Path) -> None:
    path = write_demo_data(
        tmp_path / "d.zarr",
        n_samples=2,
        n_channels=3,
        spatial=(32, 48),
        chunks=(16, 16),
    )
    array = zarr.open_group(path, mode="r")["images"]
    assert isinstance(array, zarr.Array)
    assert array.shape == (2, 3, 32, 48)
    assert array.chunks == (1, 1, 16, 16)
    assert array.attrs["axes"] == "SCYX"
    stack = cd.open_image(path, axes="SCYX")
    assert stack.shape == (2, 3, 32, 48)


def test_ome_zarr_kind_carries_axes_channels_and_pixel_sizes(tmp_path: Path) -> None:
    path = write_demo_data(
        tmp_path / "p.zarr", "ome-zarr", n_samples=1, spatial=(32, 32), chunks=(16, 16)
    )
    image = cd.open_image(path, axes="")
    assert image.dims == ("S", "C", "Y", "X")
    assert list(image.coords["C"].values) == ["channel_0", "channel_1"]
    assert image.attrs["pixel_sizes"]["X"] == pytest.approx(0.1)


def test_tiff_kind_writes_one_tiled_file_per_sample(tmp_path: Path) -> None:
    path = write_demo_data(
        tmp_path / "t", "tiff", n_samples=3, spatial=(64, 64), chunks=(32, 32)
    )
    files = sorted(path.glob("*.tif"))
    assert [f.name for f in files] == [f"sample_{i:03d}.tif" for i in range(3)]
    with tifffile.TiffFile(files[0]) as tif:
        assert tif.series[0].axes == "CYX"
        page = tif.pages.first
        assert page.is_tiled


def test_samples_differ_and_are_reproducible(tmp_path: Path) -> None:
    one = write_demo_data(tmp_path / "a.zarr", n_samples=2, spatial=(32, 32))
    two = write_demo_data(tmp_path / "b.zarr", n_samples=2, spatial=(32, 32))
    a = np.asarray(zarr.open_array(one, path="images", mode="r")[...])
    b = np.asarray(zarr.open_array(two, path="images", mode="r")[...])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[1])


def test_existing_path_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "d.zarr"
    path.mkdir()
    (path / "keep").write_text("mine")
    with pytest.raises(FileExistsError, match="exists already"):
        write_demo_data(path)
    assert (path / "keep").read_text() == "mine"


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected one of 'zarr', 'ome-zarr', 'tiff'"):
        write_demo_data(tmp_path / "x", "png", spatial=(16, 16))  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()
