from __future__ import annotations

import pytest

from careamics_dask.config import are_spatial_dims_maintained, validate_sample_axes


@pytest.mark.parametrize(
    ("old_type", "old_axes", "new_type", "new_axes", "expected"),
    [
        ("array", "YX", "array", "SCYX", True),
        ("array", "YX", "tiff", "ZYX", False),
        ("array", "SZYX", "zarr", "ZYX", True),
        ("array", "TYX", "array", "ZYX", False),
        ("czi", "SCYX", "czi", "SCYX", True),
        ("czi", "SCZYX", "czi", "SCZYX", True),
        ("czi", "SCTYX", "czi", "SCTYX", True),
        ("czi", "SCZYX", "czi", "SCTYX", False),
        ("czi", "SCTYX", "czi", "SCZYX", False),
        ("czi", "SCYX", "czi", "SCZYX", False),
        ("czi", "SCTYX", "czi", "SCYX", False),
        ("array", "YX", "czi", "SCYX", True),
        ("czi", "SCYX", "array", "SYX", True),
        ("array", "ZYX", "czi", "SCZYX", True),
        ("array", "ZYX", "czi", "SCTYX", True),
        ("czi", "SCTYX", "tiff", "ZYX", True),
        ("array", "TYX", "czi", "SCTYX", False),
        ("czi", "SCTYX", "array", "TYX", False),
        ("array", "YX", "czi", "SCTYX", False),
    ],
)
def test_are_spatial_dims_maintained(
    old_type: str, old_axes: str, new_type: str, new_axes: str, expected: bool
) -> None:
    assert (
        are_spatial_dims_maintained(old_type, old_axes, new_type, new_axes) is expected
    )


@pytest.mark.parametrize(
    ("axes", "target_axes"),
    [
        ("YX", "CYX"),
        ("SYX", "SCYX"),
        ("TYX", "TCYX"),
        ("STYX", "TSCYX"),
        ("SCZYX", "SZYX"),
    ],
)
def test_validate_sample_axes_valid(axes: str, target_axes: str) -> None:
    validate_sample_axes(axes, target_axes)


@pytest.mark.parametrize(
    ("axes", "target_axes", "found"),
    [
        ("SYX", "YX", r"\['S'\] in axes and \[\] in target axes"),
        ("YX", "TYX", r"\[\] in axes and \['T'\] in target axes"),
        ("STYX", "SYX", r"\['S', 'T'\] in axes and \['S'\] in target axes"),
    ],
)
def test_validate_sample_axes_invalid(axes: str, target_axes: str, found: str) -> None:
    with pytest.raises(
        ValueError,
        match=f"Axes '{axes}' are not compatible with target axes '{target_axes}'. The "
        r"same sample axes \(S and/or T\) must be present in both. Found sample axes "
        f"{found}.",
    ):
        validate_sample_axes(axes, target_axes)
