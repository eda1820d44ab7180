from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.errors import AxesError
from careamics_dask.loaders import open_image
from careamics_dask.predict.layout import (
    create_layout,
    default_spatial_chunks,
    output_axes,
)
from careamics_dask.predict.stitch import Region


@pytest.mark.parametrize(
    ("original", "target", "channels", "expected"),
    [
        ("SYX", None, 1, "SYX"),
        ("SYX", None, 3, "SCYX"),
        ("ZYXT", None, 2, "CZYXT"),
        ("SCYX", None, 1, "SCYX"),
        ("YX", "CYX", 1, "CYX"),
        ("syx", None, 1, "SYX"),
    ],
)
def test_output_axes(
    original: str, target: str | None, channels: int, expected: str
) -> None:
    assert output_axes(original, target, channels) == expected


def test_layout_of_a_source_with_s_and_t_axes() -> None:
    stack = open_image(np.zeros((4, 2, 3, 10, 12), np.uint16), axes="TSCYX")
    layout = create_layout(stack, 0, n_channels=1, spatial_chunks=(4, 5))
    assert layout.axes == "TSCYX"
    assert layout.shape == (4, 2, 1, 10, 12)
    assert layout.chunks == (1, 1, 1, 4, 5)
    assert layout.ome is None
    assert layout.path == "0"
    data = np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5)[:1]
    # the merged sample index is s * T + t (T = 4 here): 5 is s = 1, t = 1
    region = Region(
        data_idx=0, sample=5, band=(1,), last=(2, 3), start=(4, 10), data=data
    )
    index, restored = layout.place(region)
    assert index == (
        slice(1, 2),
        slice(1, 2),
        slice(None),
        slice(4, 8),
        slice(10, 15),
    )
    assert restored.shape == (1, 1, 1, 4, 5)
    np.testing.assert_array_equal(restored[0, 0], data)


def test_target_axes_must_keep_sample_and_spatial_axes() -> None:
    stack = open_image(np.zeros((2, 10, 12), np.uint16), axes="SYX")
    layout = create_layout(
        stack, 1, n_channels=1, spatial_chunks=(4, 4), target_axes="SCYX"
    )
    assert layout.axes == "SCYX"
    assert layout.path == "1"
    with pytest.raises(AxesError, match="sample and spatial axes"):
        create_layout(stack, 0, n_channels=1, spatial_chunks=(4, 4), target_axes="YX")


def test_default_chunks_follow_the_source() -> None:
    stack = open_image(np.zeros((3, 40, 50), np.uint16), axes="ZYX")
    assert default_spatial_chunks(stack) == (16, 256, 256)
    stack.attrs["zarr_chunks"] = (40, 8, 1)
    stack.attrs["original_axes"] = "YXZ"
    assert default_spatial_chunks(stack) == (1, 40, 8)
