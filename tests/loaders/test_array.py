from __future__ import annotations

import re
from typing import TYPE_CHECKING

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from careamics_dask.errors import AxesError, UnsupportedDtypeError
from careamics_dask.loaders.open import open_image, open_images
from careamics_dask.testing import LoaderCase, LoaderTests

if TYPE_CHECKING:
    from pathlib import Path


class TestNumpyArray(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        data = np.random.default_rng(0).integers(0, 500, (3, 2, 16, 24), "uint16")
        return LoaderCase(source=data, axes="TCYX", expected=[data], lazy=False)


class TestDaskArray(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        data = np.random.default_rng(1).random((2, 3, 8, 16, 16), "float32")
        return LoaderCase(
            source=[da.from_array(data, chunks=(1, 3, 4, 8, 8))],
            axes="STZYX",
            expected=[data],
            expected_chunks=[(3, 1, 4, 8, 8)],
        )


class TestDataArray(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        data = np.arange(2 * 16 * 16 * 3, dtype="int32").reshape(2, 16, 16, 3)
        array = xr.DataArray(
            da.from_array(data, chunks=(1, 8, 8, 3)),
            dims=("S", "Y", "X", "C"),
            coords={"C": ["dapi", "gfp", "rfp"]},
            attrs={"pixel_sizes": {"Y": 0.5, "X": 0.5}},
        )
        return LoaderCase(
            source=array,
            axes="SYXC",
            expected=[data],
            channel_names=[["dapi", "gfp", "rfp"]],
            pixel_sizes=[{"Y": 0.5, "X": 0.5}],
            expected_chunks=[(1, 3, 8, 8)],
        )


def test_dataarray_axes_must_match_dims() -> None:
    array = xr.DataArray(np.zeros((2, 4, 4)), dims=("T", "Y", "X"))
    with pytest.raises(AxesError, match="do not match the DataArray's dims"):
        open_image(array, "CYX")


def test_dataarray_with_foreign_dims_uses_axes() -> None:
    array = xr.DataArray(np.zeros((2, 4, 4)), dims=("t", "row", "col"))
    assert open_image(array, "TYX").shape == (2, 1, 4, 4)


@pytest.mark.parametrize(
    ("shape", "axes", "match"),
    [
        ((8, 8), "SYX", "have 3 letters but the data"),
        ((2, 8, 8), "YX", "e.g. 'SYX'"),
        ((2, 8, 8), "QYX", "Must be a combination of STCZYX"),
        ((2, 8, 8), "YYX", "Cannot contain duplicate axes"),
        ((2, 8, 8), "YZX", "consecutively"),
    ],
)
def test_bad_axes(shape: tuple[int, ...], axes: str, match: str) -> None:
    with pytest.raises(AxesError, match=match):
        open_image(np.zeros(shape), axes)


@pytest.mark.parametrize("dtype", ["complex64", "object", "U4", "datetime64[s]"])
def test_unsupported_dtype(dtype: str) -> None:
    with pytest.raises(
        UnsupportedDtypeError, match=re.escape(f"got {np.dtype(dtype)}")
    ):
        open_image(np.zeros((4, 4), dtype=dtype), "YX")


def test_in_memory_computes_dask() -> None:
    stack = open_image(da.ones((4, 4), chunks=2), "YX", in_memory=True)
    assert isinstance(stack.data, np.ndarray)


def test_non_array_rejected_for_array_type() -> None:
    with pytest.raises(ValueError, match="expected numpy, Dask or xarray arrays"):
        open_images(["a.tif"], "YX", "array")


def test_open_image_refuses_many() -> None:
    with pytest.raises(ValueError, match="found 2"):
        open_image([np.zeros((4, 4)), np.zeros((4, 4))], "YX")
