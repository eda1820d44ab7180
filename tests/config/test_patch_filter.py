from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from careamics_dask.config import (
    MaskPatchFilterConfig,
    MaxPatchFilterConfig,
    MeanStdPatchFilterConfig,
    PatchFilterConfig,
    ShannonPatchFilterConfig,
    default_filter_coverage,
)

ADAPTER: TypeAdapter[Any] = TypeAdapter(PatchFilterConfig)


def test_defaults() -> None:
    max_filter = MaxPatchFilterConfig(threshold=0.5)
    assert (max_filter.name, max_filter.ref_channel) == ("max", 0)
    assert (max_filter.filtered_patch_prob, max_filter.coverage) == (0.1, 0.25)
    mean_std = MeanStdPatchFilterConfig(mean_threshold=0.5)
    assert (mean_std.name, mean_std.std_threshold) == ("mean_std", None)
    assert ShannonPatchFilterConfig(threshold=0.5).name == "shannon"
    mask = MaskPatchFilterConfig()
    assert (mask.name, mask.coverage, mask.filtered_patch_prob) == ("mask", 0.25, 0.1)


@pytest.mark.parametrize(
    ("cls", "missing"),
    [
        (MaxPatchFilterConfig, "threshold"),
        (MeanStdPatchFilterConfig, "mean_threshold"),
        (ShannonPatchFilterConfig, "threshold"),
    ],
)
def test_required_thresholds(cls: type[Any], missing: str) -> None:
    with pytest.raises(ValueError, match=f"{missing}\n  Field required"):
        cls()


@pytest.mark.parametrize("prob", [-0.1, 1.1])
def test_filtered_patch_prob_range(prob: float) -> None:
    with pytest.raises(ValueError, match="filtered_patch_prob"):
        ShannonPatchFilterConfig(threshold=1.0, filtered_patch_prob=prob)


@pytest.mark.parametrize("cls", [MaxPatchFilterConfig, MaskPatchFilterConfig])
@pytest.mark.parametrize("coverage", [-0.01, 1.5])
def test_coverage_range(cls: type[Any], coverage: float) -> None:
    with pytest.raises(ValueError, match="coverage"):
        cls(threshold=1.0, coverage=coverage)


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        ({"name": "max", "threshold": 0.5}, MaxPatchFilterConfig),
        ({"name": "mean_std", "mean_threshold": 0.5}, MeanStdPatchFilterConfig),
        ({"name": "shannon", "threshold": 0.5}, ShannonPatchFilterConfig),
    ],
)
def test_union_discriminates_by_name(data: dict[str, Any], cls: type[Any]) -> None:
    assert type(ADAPTER.validate_python(data)) is cls


def test_union_rejects_mask_filter() -> None:
    with pytest.raises(ValueError, match="does not match any of the expected tags"):
        ADAPTER.validate_python({"name": "mask"})


def test_extra_fields_ignored() -> None:
    config = MaxPatchFilterConfig(threshold=0.5, threshold_ratio=0.3)
    assert "threshold_ratio" not in config.model_dump()


@pytest.mark.parametrize(("is_3d", "expected"), [(False, 0.25), (True, 0.125)])
def test_default_filter_coverage(is_3d: bool, expected: float) -> None:
    assert default_filter_coverage(is_3d) == expected
