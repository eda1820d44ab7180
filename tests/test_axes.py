from __future__ import annotations

import itertools

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careamics_dask.axes import (
    AxesLayout,
    canonical_dims,
    check_axes_validity,
    check_czi_axes_validity,
    from_canonical,
    is_3d_axes,
    to_canonical,
    validate_axes,
)
from careamics_dask.errors import AxesError
from careamics_dask.testing import raise_if_dask_computes

VALID_2D = [
    "YX",
    "TYX",
    "SYX",
    "STYX",
    "XY",
    "TSYX",
    "CYX",
    "SCYX",
    "TCYX",
    "YXC",
    "SCTYX",
]
VALID_3D = [
    "ZYX",
    "TZYX",
    "SZYX",
    "YXZ",
    "CZYX",
    "TCZYX",
    "SCZYX",
    "STZYX",
    "YXCZ",
    "TCYXZS",
    "SCTZYX",
]


@pytest.mark.parametrize("axes", VALID_2D + VALID_3D)
def test_reference_valid_axes(axes: str) -> None:
    check_axes_validity(axes)
    assert is_3d_axes(axes) == ("Z" in axes)


@pytest.mark.parametrize(
    ("axes", "match"),
    [
        ("X", "at least 2 and at most 6"),
        ("STCZYXS", "at least 2 and at most 6"),
        ("ZT", "consecutively"),
        ("YYX", r"duplicate axes \(got multiple Y\)"),
        ("YXm", "combination of STCZYX"),
        ("YZX", "consecutively"),
    ],
)
def test_reference_invalid_axes(axes: str, match: str) -> None:
    with pytest.raises(AxesError, match=match):
        check_axes_validity(axes)


@pytest.mark.parametrize(
    ("axes", "valid"),
    [("SCYX", True), ("SCZYX", True), ("SCTYX", True)]
    + [
        (a, False)
        for a in [
            "CZYX",
            "TCYX",
            "CYX",
            "SZYX",
            "STCZYX",
            "SZYXC",
            "TCZYX",
            "TCYXZ",
            "SCZYXT",
            "SCZ",
        ]
    ],
)
def test_czi_axes(axes: str, valid: bool) -> None:
    assert check_czi_axes_validity(axes) is valid


def test_czi_time_is_depth() -> None:
    assert is_3d_axes("SCTYX", "czi")
    assert not is_3d_axes("SCTYX", "tiff")


def test_validate_axes_names_source_and_suggests() -> None:
    with pytest.raises(
        AxesError, match=r"data for source 'f.tif' has 4 dimensions.*'SCYX'"
    ):
        validate_axes("YX", (1, 2, 3, 4), source="f.tif")
    with pytest.raises(AxesError, match="must be a string"):
        validate_axes(None, (2, 2))  # type: ignore[arg-type]


def test_merge_s_and_t_as_s_times_t_plus_t() -> None:
    data = np.arange(3 * 4 * 2 * 5 * 6).reshape(3, 4, 2, 5, 6)  # S T C Y X
    out = to_canonical(data, "STCYX")
    assert out.shape == (12, 2, 5, 6)
    for s, t in itertools.product(range(3), range(4)):
        np.testing.assert_array_equal(out[s * 4 + t], data[s, t])


def test_singletons_added_and_lone_t_is_sample() -> None:
    assert to_canonical(np.zeros((7, 8)), "YX").shape == (1, 1, 7, 8)
    assert to_canonical(np.zeros((3, 7, 8)), "TYX").shape == (3, 1, 7, 8)
    assert to_canonical(np.zeros((7, 8, 2, 5)), "YXCZ").shape == (1, 2, 5, 7, 8)


def test_layout_sample_index() -> None:
    layout = AxesLayout.from_source("TSYX", (4, 3, 8, 8))
    assert layout.canonical_shape == (12, 1, 8, 8)
    assert layout.sample_index(7) == {"S": 1, "T": 3}
    assert AxesLayout.from_source("TYX", (4, 8, 8)).sample_index(3) == {"T": 3}
    assert AxesLayout.from_source("YX", (8, 8)).sample_index(0) == {}


def test_dask_reorder_is_lazy_and_keeps_chunks() -> None:
    data = da.zeros((3, 4, 64, 64), chunks=(1, 1, 32, 32))
    with raise_if_dask_computes():
        out = to_canonical(data, "STYX")
    assert out.shape == (12, 1, 64, 64)
    assert out.chunksize == (1, 1, 32, 32)
    np.testing.assert_array_equal(out.compute(), to_canonical(data.compute(), "STYX"))


@st.composite
def arrays_with_axes(draw: st.DrawFn) -> tuple[np.ndarray, str]:
    optional = draw(st.lists(st.sampled_from("STCZ"), unique=True, max_size=4))
    letters = [*optional, "Y", "X"]
    order = draw(st.permutations(letters))
    # keep Y and X adjacent, as the axes rules require
    order = [a for a in order if a not in "YX"]
    position = draw(st.integers(0, len(order)))
    order[position:position] = draw(st.sampled_from([["Y", "X"], ["X", "Y"]]))
    shape = tuple(draw(st.integers(1, 3)) for _ in order)
    return np.arange(int(np.prod(shape))).reshape(shape), "".join(order)


@settings(max_examples=60, deadline=None)
@given(arrays_with_axes())
def test_roundtrip_any_order(case: tuple[np.ndarray, str]) -> None:
    data, axes = case
    canonical = to_canonical(data, axes)
    assert canonical.ndim == len(canonical_dims(axes))
    np.testing.assert_array_equal(from_canonical(canonical, axes, data.shape), data)
    lazy = to_canonical(da.from_array(data, chunks=1), axes)
    np.testing.assert_array_equal(
        from_canonical(lazy, axes, data.shape).compute(), data
    )


def test_from_canonical_to_target_axes_with_other_channels() -> None:
    data = np.zeros((2, 5, 6))  # S Y X
    prediction = np.ones((2, 3, 5, 6))  # three predicted channels
    out = from_canonical(prediction, "SYX", data.shape, target_axes="SYXC")
    assert out.shape == (2, 5, 6, 3)
    single = from_canonical(np.ones((2, 1, 5, 6)), "SYX", data.shape)
    assert single.shape == (2, 5, 6)


def test_from_canonical_errors() -> None:
    with pytest.raises(AxesError, match="Add 'C' to the target axes"):
        from_canonical(np.ones((2, 3, 5, 6)), "SYX", (2, 5, 6))
    with pytest.raises(AxesError, match="expected data of shape"):
        from_canonical(np.ones((2, 1, 5, 7)), "SYX", (2, 5, 6))
    with pytest.raises(AxesError, match="sample and spatial axes must be the same"):
        from_canonical(np.ones((2, 1, 5, 6)), "SYX", (2, 5, 6), target_axes="TYX")


def test_an_unknown_axis_letter_is_named() -> None:
    from careamics_dask.axes import check_axes_validity
    from careamics_dask.errors import AxesError

    with pytest.raises(AxesError, match=r"SCYQ.*unknown Q"):
        check_axes_validity("SCYQ")
