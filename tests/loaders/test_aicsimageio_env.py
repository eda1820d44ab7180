"""aicsimageio 4.14 objects through the bioimage loader (run by .ci/aicsimageio.sh).

aicsimageio pins zarr < 2.16, so these tests run in their own environment beside
zarr 2; in the main environment (zarr 3, no aicsimageio) they are skipped.
"""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import tifffile

from careamics_dask.loaders.bioimage import BioImageLoader
from careamics_dask.loaders.open import open_image, open_images
from careamics_dask.loaders.registry import get_loader, guess_loader
from careamics_dask.testing import LoaderCase, LoaderTests

aicsimageio = pytest.importorskip("aicsimageio")

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [
    pytest.mark.bioio,
    # ome-types >= 0.4 warns about an argument aicsimageio 4.14 still passes; as an
    # error it would make AICSImage fall back from OmeTiffReader to TiffReader.
    pytest.mark.filterwarnings(
        "ignore:As of version 0.4.0, the parser argument is ignored:DeprecationWarning"
    ),
]

NAMES = ["dapi", "gfp"]


def write_ome_czyx(path: Path, seed: int = 0) -> Any:
    data = np.random.default_rng(seed).integers(0, 4000, (2, 3, 16, 20), "uint16")
    tifffile.imwrite(
        path,
        data,
        ome=True,
        photometric="minisblack",
        metadata={
            "axes": "CZYX",
            "Channel": {"Name": NAMES},
            "PhysicalSizeX": 0.5,
            "PhysicalSizeY": 0.5,
            "PhysicalSizeZ": 2.0,
        },
    )
    return data


def test_environment_has_zarr_2() -> None:
    zarr = pytest.importorskip("zarr")
    assert int(zarr.__version__.split(".")[0]) == 2, zarr.__version__


def test_package_imports_without_zarr() -> None:
    """The package and its loaders import beside zarr 2, without importing zarr."""
    code = (
        "import sys, careamics_dask, careamics_dask.loaders, "
        "careamics_dask.loaders.bioimage, careamics_dask.loaders.czi, "
        "careamics_dask.loaders.array\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'zarr'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_zarr_loader_unavailable_with_zarr_2() -> None:
    with pytest.raises(ImportError):
        get_loader("zarr")


class TestAICSImageOmeTiff(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "czyx.ome.tif"
        data = write_ome_czyx(path)
        image = aicsimageio.AICSImage(path)
        assert type(image.reader).__name__ == "OmeTiffReader"
        return LoaderCase(
            source=image,
            axes="",
            expected=[data[None]],
            expected_axes=["TCZYX"],
            channel_names=[NAMES],
            pixel_sizes=[{"Z": 2.0, "Y": 0.5, "X": 0.5}],
            expected_chunks=[(1, 1, 3, 16, 20)],
            path=path,
        )


def test_open_images_aicsimage(tmp_path: Path) -> None:
    path = tmp_path / "czyx.ome.tif"
    data = write_ome_czyx(path)
    image = aicsimageio.AICSImage(path)
    assert guess_loader(image) == "bioimage"
    stack = open_image(image, "CZYX")
    assert stack.dims == ("S", "C", "Z", "Y", "X")
    assert stack.shape == (1, 2, 3, 16, 20)
    assert stack.attrs["original_axes"] == "CZYX"
    assert stack.attrs["source"] == str(path)
    assert stack.attrs["array"] == "Image:0"
    assert list(stack.coords["C"].values) == NAMES
    assert stack.attrs["pixel_sizes"] == {"Z": 2.0, "Y": 0.5, "X": 0.5}
    np.testing.assert_array_equal(stack.values[0], data)
    [direct] = BioImageLoader().open(image, "TCZYX", in_memory=True)
    assert isinstance(direct.data, np.ndarray)
    np.testing.assert_array_equal(direct.values[0], data)


def test_aicsimage_scenes(tmp_path: Path) -> None:
    path = tmp_path / "two.ome.tif"
    rng = np.random.default_rng(3)
    first = rng.integers(0, 255, (2, 8, 8), "uint8")
    second = rng.integers(0, 255, (3, 4, 6), "uint8")
    with tifffile.TiffWriter(path, ome=True) as writer:
        writer.write(first, photometric="minisblack", metadata={"axes": "ZYX"})
        writer.write(second, photometric="minisblack", metadata={"axes": "ZYX"})
    image = aicsimageio.AICSImage(path)
    assert len(image.scenes) == 2
    stacks = open_images(image, "ZYX")
    assert [s.shape for s in stacks] == [(1, 1, 2, 8, 8), (1, 1, 3, 4, 6)]
    np.testing.assert_array_equal(stacks[1].values[0, 0], second)
    assert image.current_scene == image.scenes[0]
