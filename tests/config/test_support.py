from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import TypeAdapter

from careamics_dask.config import (
    AugmentationConfig,
    DataConfig,
    Mode,
    NormalizationConfig,
    PatchFilterConfig,
    PatchingConfig,
    SupportedAugmentation,
    SupportedCoordinateFilters,
    SupportedData,
    SupportedNormalization,
    SupportedPatchFilters,
    SupportedPatching,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("tiff", SupportedData.TIFF),
        (".TIFF", SupportedData.TIFF),
        ("Zarr", SupportedData.ZARR),
        (".czi", SupportedData.CZI),
        ("ARRAY", SupportedData.ARRAY),
        ("custom", SupportedData.CUSTOM),
    ],
)
def test_supported_data_lookup(value: str, expected: SupportedData) -> None:
    assert SupportedData(value) is expected


@pytest.mark.parametrize("value", ["tif", "png", "", 3])
def test_supported_data_unknown(value: Any) -> None:
    with pytest.raises(ValueError, match="is not a valid SupportedData"):
        SupportedData(value)


@pytest.mark.parametrize(
    ("data_type", "pattern"),
    [
        ("tiff", "*.tif*"),
        (".TIFF", "*.tif*"),
        ("zarr", "*.zarr"),
        ("czi", "*.czi"),
        ("custom", "*.*"),
    ],
)
def test_get_extension_pattern(data_type: str, pattern: str) -> None:
    assert SupportedData.get_extension_pattern(data_type) == pattern


def test_get_extension_pattern_errors() -> None:
    with pytest.raises(
        NotImplementedError, match=r"^Data 'array' is not loaded from a file\.$"
    ):
        SupportedData.get_extension_pattern("array")
    with pytest.raises(ValueError, match=r"^Data type png is not supported\.$"):
        SupportedData.get_extension_pattern("png")


@pytest.mark.parametrize(
    ("data_type", "extension"), [("tiff", ".tiff"), ("czi", ".czi"), ("ZARR", ".zarr")]
)
def test_get_extension(data_type: str, extension: str) -> None:
    assert SupportedData.get_extension(data_type) == extension


def test_get_extension_errors() -> None:
    with pytest.raises(NotImplementedError, match="is not loaded from a file"):
        SupportedData.get_extension(SupportedData.ARRAY)
    with pytest.raises(
        NotImplementedError, match=r"^Custom extensions have to be passed elsewhere\.$"
    ):
        SupportedData.get_extension("custom")
    with pytest.raises(ValueError, match=r"^Data type jpg is not supported\.$"):
        SupportedData.get_extension("jpg")


def test_data_types_match_data_config() -> None:
    literal = DataConfig.model_fields["data_type"].annotation
    assert set(typing.get_args(literal)) == {member.value for member in SupportedData}


def test_mode_values() -> None:
    assert [m.value for m in Mode] == ["training", "validating", "predicting"]
    assert Mode("training") is Mode.TRAINING


def _union_names(annotation: object) -> set[str]:
    union = typing.get_args(annotation)[0]
    return {
        model.model_fields["name"].default
        for model in typing.get_args(union)
        if model is not type(None)
    }


@pytest.mark.parametrize(
    ("enum", "union"),
    [
        (SupportedPatching, PatchingConfig),
        (SupportedNormalization, NormalizationConfig),
        (SupportedPatchFilters, PatchFilterConfig),
        (SupportedAugmentation, AugmentationConfig),
    ],
)
def test_enums_match_unions(enum: type[typing.Any], union: object) -> None:
    assert {member.value for member in enum} == _union_names(union)


def test_coordinate_filters() -> None:
    assert [m.value for m in SupportedCoordinateFilters] == ["mask"]
    assert SupportedPatching("tiled") is SupportedPatching.TILED
    with pytest.raises(ValueError, match="sequential"):
        SupportedPatching("sequential")
    adapter: TypeAdapter[typing.Any] = TypeAdapter(PatchingConfig)
    assert adapter.validate_python({"name": "whole"}).name == "whole"
