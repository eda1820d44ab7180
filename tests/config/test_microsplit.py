from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from careamics_dask.config import DataConfig, MicroSplitDataConfig

if TYPE_CHECKING:
    from tests.config.conftest import ConfigDict


def test_defaults_and_fields(config_dict: ConfigDict) -> None:
    config = MicroSplitDataConfig(**config_dict())
    assert isinstance(config, DataConfig)
    assert config.multiscale_count == 1
    assert config.padding_mode == "reflect"
    assert config.alpha_ranges is None
    assert config.uncorrelated_channel_prob == 0.0
    config = MicroSplitDataConfig(
        **config_dict(alpha_ranges=((0.1, 0.5), [0.2, 1]), multiscale_count=4)
    )
    assert config.alpha_ranges == [(0.1, 0.5), (0.2, 1.0)]


@pytest.mark.parametrize(
    "fields",
    [
        {"multiscale_count": 0},
        {"padding_mode": "edge"},
        {"uncorrelated_channel_prob": 1.5},
        {"uncorrelated_channel_prob": -0.1},
        {"alpha_ranges": [(0.1, 0.2, 0.3)]},
    ],
)
def test_invalid_fields(config_dict: ConfigDict, fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        MicroSplitDataConfig(**config_dict(**fields))


def test_predict_rejects_train_options(config_dict: ConfigDict) -> None:
    with pytest.raises(
        ValueError,
        match="Spatially uncorrelated channels are not supported for prediction",
    ):
        MicroSplitDataConfig(**config_dict("predicting", uncorrelated_channel_prob=1.0))
    with pytest.raises(ValueError, match="Alpha ranges cannot be set for prediction"):
        MicroSplitDataConfig(**config_dict("predicting", alpha_ranges=[(0.1, 0.2)]))
    # training and validating accept both
    for mode in ("training", "validating"):
        MicroSplitDataConfig(
            **config_dict(mode, uncorrelated_channel_prob=1.0, alpha_ranges=[(0, 1)])
        )


def test_patch_filter_is_not_supported(config_dict: ConfigDict) -> None:
    max_filter = {"name": "max", "threshold": 0.5}
    with pytest.raises(
        NotImplementedError,
        match="Patch filtering is currently not implemented for MicroSplit",
    ):
        MicroSplitDataConfig(**config_dict(patch_filter=max_filter))
    config = MicroSplitDataConfig(**config_dict())
    with pytest.raises(NotImplementedError):
        config.patch_filter = max_filter  # type: ignore[assignment]
    assert config.patch_filter is None  # rolled back


def test_rejected_assignment_is_rolled_back(config_dict: ConfigDict) -> None:
    config = MicroSplitDataConfig(**config_dict("predicting"))
    with pytest.raises(ValidationError):
        config.uncorrelated_channel_prob = 0.5
    assert config.uncorrelated_channel_prob == 0.0


@pytest.mark.parametrize(
    ("mode", "patch", "overlap", "name"),
    [
        ("validating", None, None, "fixed_random"),
        ("predicting", [16, 16], [8, 8], "tiled"),
        ("predicting", None, None, "whole"),
    ],
)
def test_convert_mode_preserves_ms_options(
    config_dict: ConfigDict,
    mode: Any,
    patch: list[int] | None,
    overlap: list[int] | None,
    name: str,
) -> None:
    config = MicroSplitDataConfig(
        **config_dict(
            axes="SCYX",
            multiscale_count=3,
            padding_mode="wrap",
            alpha_ranges=[(0.1, 0.9), (0.5, 0.5)],
            uncorrelated_channel_prob=0.3,
            normalization={"name": "mean_std", "input_means": [1], "input_stds": [2]},
        )
    )
    converted = config.convert_mode(mode, patch, overlap)
    assert isinstance(converted, MicroSplitDataConfig)
    assert converted.mode == mode
    assert converted.patching.name == name
    assert converted.multiscale_count == 3
    assert converted.padding_mode == "wrap"
    assert converted.alpha_ranges is None
    assert converted.uncorrelated_channel_prob == 0.0
    assert converted.normalization == config.normalization
    assert converted.seed == config.seed


def test_convert_mode_keeps_data_config_rules(config_dict: ConfigDict) -> None:
    config = MicroSplitDataConfig(**config_dict())
    with pytest.raises(ValueError, match="Conversion to 'training' mode"):
        config.convert_mode("training")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`overlap_size` parameter must be specified"):
        config.convert_mode("predicting", [16, 16])


@pytest.mark.parametrize(
    ("patch_size", "ok"),
    [([32, 32], True), ([16, 32, 32], True), ([32, 16], False), ([16, 16, 32], False)],
)
def test_is_squared_in_yx(
    config_dict: ConfigDict, patch_size: list[int], ok: bool
) -> None:
    axes = "ZYX" if len(patch_size) == 3 else "YX"
    fields = config_dict(axes=axes, patch_size=patch_size)
    if ok:
        MicroSplitDataConfig(**fields)
    else:
        with pytest.raises(ValidationError, match="Patch size must be squared"):
            MicroSplitDataConfig(**fields)
