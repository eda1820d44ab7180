"""Regions handed out by ``dataset[i]``: pixels with their stack's metadata."""

from __future__ import annotations

import numpy as np
import xarray as xr

from careamics_dask.factory.region_data import region_of_stack


def stack() -> xr.DataArray:
    return xr.DataArray(
        np.zeros((2, 3, 8, 8), np.uint16),
        dims=("S", "C", "Y", "X"),
        attrs={
            "source": "a.zarr",
            "original_shape": (2, 8, 8, 3),
            "original_axes": "SYXC",
            "original_dtype": "uint16",
            "zarr_chunks": (1, 4, 4, 3),
        },
    )


def test_selected_channels_adjust_the_input_shapes() -> None:
    data = np.ones((2, 4, 4), np.float32)
    spec = {"data_idx": 0, "sample_idx": 1}
    region = region_of_stack(
        data,
        spec,
        stack(),
        axes="SYXC",
        target_axes="SYX",
        channels=[0, 2],
        target=False,
    )
    assert region.data is data
    assert region.source == "a.zarr"
    assert region.data_shape == (2, 2, 8, 8)  # tuples, as the reference
    assert region.original_data_shape == (2, 8, 8, 2)
    assert region.dtype == "uint16"
    assert region.axes == "SYXC"
    assert region.target_axes == "SYX"
    assert region.region_spec is spec
    assert region.additional_metadata == {"chunks": (1, 4, 4, 3)}
    out = region.from_model_output(data + 1)
    assert out.source == region.source
    np.testing.assert_array_equal(out.data, data + 1)


def test_targets_keep_their_channels_and_axes() -> None:
    region = region_of_stack(
        np.ones((3, 4, 4), np.float32),
        {},
        stack(),
        axes="SYXC",
        target_axes="SYX",
        channels=[0],
        target=True,
    )
    assert region.data_shape == (2, 3, 8, 8)
    assert region.original_data_shape == (2, 8, 8, 3)
    assert region.axes == "SYX"
