from __future__ import annotations

import pytest

from careamics_dask.loaders.units import (
    MICROMETER,
    convert_pixel_sizes,
    micrometers_per,
    normalize_unit,
)


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("µm", "micrometer"),  # micro sign
        ("μm", "micrometer"),  # greek mu
        ("um", "micrometer"),
        ("micron", "micrometer"),
        ("\\u00B5m", "micrometer"),  # ImageJ's escaped micro sign
        ("Micrometre", "micrometer"),
        ("nm", "nanometer"),
        ("nanometer", "nanometer"),
        ("Å", "angstrom"),
        ("mm", "millimeter"),
        ("m", "meter"),
        ("inch", "inch"),
        ("pixel", "pixel"),
        ("second", "second"),
    ],
)
def test_normalize_unit(spelling: str, name: str) -> None:
    assert normalize_unit(spelling) == name


@pytest.mark.parametrize(
    ("unit", "factor"),
    [("nm", 1e-3), ("µm", 1.0), ("mm", 1e3), ("Å", 1e-4), ("cm", 1e4), ("in", 25400)],
)
def test_micrometers_per(unit: str, factor: float) -> None:
    assert micrometers_per(unit) == pytest.approx(factor)


def test_each_axis_is_converted_with_its_own_unit() -> None:
    sizes, unit = convert_pixel_sizes(
        {"Z": 0.3, "Y": 108.0, "X": 108.0}, {"Z": "µm", "Y": "nm", "X": "nm"}
    )
    assert unit == MICROMETER
    assert sizes == pytest.approx({"Z": 0.3, "Y": 0.108, "X": 0.108})


def test_axes_without_a_length_unit_are_left_out_of_converted_sizes() -> None:
    sizes, unit = convert_pixel_sizes({"Z": 2.0, "Y": 0.5}, {"Z": None, "Y": "mm"})
    assert (sizes, unit) == ({"Y": 500.0}, MICROMETER)


def test_sizes_without_length_units() -> None:
    assert convert_pixel_sizes({"Y": 1.5}, {"Y": "pixel"}) == ({"Y": 1.5}, "pixel")
    assert convert_pixel_sizes({"Y": 1.5, "X": 2.0}, {}) == (
        {"Y": 1.5, "X": 2.0},
        None,
    )
    assert convert_pixel_sizes({"Y": 1.5, "X": 2.0}, {"Y": "pixel"}) == ({}, None)
    assert convert_pixel_sizes({}, {"Y": "nm"}) == ({}, None)
