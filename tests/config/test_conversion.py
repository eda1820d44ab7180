from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import pytest

from careamics_dask.config import DataConfig, validate_channel_conversion
from careamics_dask.config.conversion import converted_patching
from careamics_dask.errors import CareamicsDaskWarning

ConfigDict = Callable[..., dict[str, Any]]

ALL_CHANNELS = "Switching from all channels"
ADDING_C = "When switching to axes with 'C'"


def _warns(match: str | None) -> contextlib.AbstractContextManager[Any]:
    if match is None:
        return contextlib.nullcontext()
    return pytest.warns(CareamicsDaskWarning, match=match)


@pytest.mark.parametrize(
    ("old_axes", "old_channels", "new_axes", "new_channels", "warning"),
    [
        ("CYX", None, "CYX", None, None),
        ("CYX", None, "CYX", [1], ALL_CHANNELS),
        ("CYX", None, "CYX", [0, 2], ALL_CHANNELS),
        ("CYX", [1], "CYX", None, None),
        ("CYX", [1], "CYX", [1], None),
        ("CYX", [0, 2], "CYX", None, None),
        ("CYX", [0, 2], "CYX", [0, 2], None),
        ("CYX", None, "YX", None, None),
        ("CYX", [1], "YX", None, None),
        ("YX", None, "CYX", None, ADDING_C),
        ("YX", None, "CYX", [1], ALL_CHANNELS),
    ],
)
def test_validate_channel_conversion_valid(
    old_axes: str,
    old_channels: list[int] | None,
    new_axes: str,
    new_channels: list[int] | None,
    warning: str | None,
) -> None:
    with _warns(warning):
        validate_channel_conversion(old_axes, old_channels, new_axes, new_channels)


@pytest.mark.parametrize(
    ("old_axes", "old_channels", "new_axes", "new_channels", "message"),
    [
        (
            "CYX",
            [1],
            "CYX",
            [0, 2],
            r"Cannot switch between axes with different number of channels. New "
            r"channels length \(2\) does not match current channels length \(1\).",
        ),
        (
            "CYX",
            [0, 2],
            "CYX",
            [1],
            r"Cannot switch between axes with different number of channels. New "
            r"channels length \(1\) does not match current channels length \(2\).",
        ),
        (
            "CYX",
            [0, 2],
            "YX",
            None,
            r"Cannot switch to axes without 'C' \(got YX\) from axes CYX when multiple "
            r"channels were originally specified \(\[0, 2\]\).",
        ),
        (
            "YX",
            None,
            "CYX",
            [0, 2],
            r"Cannot switch to axes with 'C' \(got CYX\) from axes YX, select a single "
            r"channel using the `new_channels` parameter \(got channels \[0, 2\]\).",
        ),
    ],
)
def test_validate_channel_conversion_invalid(
    old_axes: str,
    old_channels: list[int] | None,
    new_axes: str,
    new_channels: list[int] | None,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        validate_channel_conversion(old_axes, old_channels, new_axes, new_channels)


def test_adding_c_warning_text() -> None:
    message = (
        r"When switching to axes with 'C' \(got CYX\) from axes YX, errors may be raised "
        r"in the model if the channel dimension in the data is not a singleton "
        r"dimension. To select a specific channel, use the `new_channels` parameter "
        r"\(e.g. `new_channels=\[1\]`\)."
    )
    with pytest.warns(CareamicsDaskWarning, match=f"^{message}$"):
        validate_channel_conversion("YX", None, "CYX", None)


def test_converted_patching() -> None:
    assert converted_patching("validating", [16, 16]).patch_size == [16, 16]  # type: ignore[union-attr]
    assert converted_patching("validating", [16, 16], (8, 8)).patch_size == [8, 8]  # type: ignore[union-attr]
    tiled = converted_patching("predicting", [16, 16], [8, 8], [2, 2])
    assert (tiled.name, tiled.overlaps) == ("tiled", [2, 2])  # type: ignore[union-attr]
    assert converted_patching("predicting", [16, 16]).name == "whole"


@pytest.fixture
def training(config_dict: ConfigDict) -> DataConfig:
    return DataConfig(
        **config_dict(
            data_type="tiff",
            axes="SCYX",
            channels=[0, 2],
            batch_size=4,
            in_memory=False,
            patch_filter={"name": "max", "threshold": 0.5},
            val_dataloader_params={"num_workers": 1},
            pred_dataloader_params={"num_workers": 2},
            seed=5,
        )
    )


class TestConvertMode:
    @pytest.mark.parametrize(
        ("mode", "patching"), [("validating", "fixed_random"), ("predicting", "whole")]
    )
    def test_convert_mode(self, training: DataConfig, mode: Any, patching: str) -> None:
        converted = training.convert_mode(mode)
        assert converted.mode == mode
        assert converted.patching.name == patching
        for field in (
            "batch_size",
            "data_type",
            "axes",
            "channels",
            "in_memory",
            "seed",
            "val_dataloader_params",
            "pred_dataloader_params",
            "train_dataloader_params",
            "augmentations",
            "normalization",
        ):
            assert getattr(converted, field) == getattr(training, field), field

    @pytest.mark.parametrize("mode", ["validating", "predicting"])
    def test_convert_mode_parameter_update(
        self, training: DataConfig, mode: Any
    ) -> None:
        params = {"shuffle": False, "num_workers": 3}
        converted = training.convert_mode(
            mode,
            new_batch_size=3,
            new_axes="CYX",
            new_data_type="array",
            new_channels=[1, 5],
            new_in_memory=True,
            new_dataloader_params=params,
        )
        assert converted.batch_size == 3
        assert (converted.axes, converted.data_type) == ("CYX", "array")
        assert converted.channels == [1, 5]
        assert converted.in_memory is True
        updated, other = ("val", "pred") if mode == "validating" else ("pred", "val")
        updated_params = getattr(converted, f"{updated}_dataloader_params")
        assert params.items() <= updated_params.items()
        assert getattr(converted, f"{other}_dataloader_params") == getattr(
            training, f"{other}_dataloader_params"
        )

    def test_new_target_axes(self, config_dict: ConfigDict) -> None:
        training = DataConfig(**config_dict(axes="SYX", target_axes="SCYX"))
        assert training.convert_mode("predicting").target_axes == "SCYX"
        converted = training.convert_mode("predicting", new_target_axes="SYX")
        assert converted.target_axes == "SYX"

    def test_normalization_conservation(self, training: DataConfig) -> None:
        training.normalization.set_input_stats([1.0, 2.0], [3.0, 4.0])  # type: ignore[union-attr]
        for mode in ("validating", "predicting"):
            converted = training.convert_mode(mode)
            assert converted.normalization == training.normalization
            assert not converted.normalization.needs_computation()

    def test_cannot_convert_to_training(self, training: DataConfig) -> None:
        with pytest.raises(
            ValueError,
            match=re.escape(
                "Conversion to 'training' mode is not supported. Create a new "
                "DataConfig instead, for instance using `create_data_configuration`."
            ),
        ):
            training.convert_mode("training")  # type: ignore[arg-type]

    @pytest.mark.parametrize("mode", ["validating", "predicting"])
    def test_cannot_convert_from_val_and_pred(
        self, config_dict: ConfigDict, mode: str
    ) -> None:
        config = DataConfig(**config_dict(mode=mode))
        with pytest.raises(
            ValueError,
            match=f"Conversion from mode '{mode}' to 'predicting' is not supported. Only "
            "conversion from 'training' mode is supported.",
        ):
            config.convert_mode("predicting")

    @pytest.mark.parametrize(
        ("old", "new", "expected", "warning"),
        [
            (None, None, None, None),
            (None, [1], [1], ALL_CHANNELS),
            (None, "all", None, None),
            ([0], None, [0], None),
            ([0], [1], [1], None),
            ([0], "all", None, None),
        ],
    )
    def test_channels_conversion(
        self,
        config_dict: ConfigDict,
        old: Any,
        new: Any,
        expected: Any,
        warning: str | None,
    ) -> None:
        training = DataConfig(**config_dict(axes="CYX", channels=old))
        with _warns(warning):
            converted = training.convert_mode("validating", new_channels=new)
        assert converted.channels == expected

    def test_channels_invalid_string(self, training: DataConfig) -> None:
        with pytest.raises(
            ValueError,
            match="`new_channels` must be a sequence of channel indices or 'all'",
        ):
            training.convert_mode("validating", new_channels="some")  # type: ignore[arg-type]

    def test_patching_tiling_error(self, training: DataConfig) -> None:
        with pytest.raises(
            ValueError,
            match=re.escape(
                "`overlap_size` parameter must be specified when switching to "
                "'predicting' mode with a `new_patch_size`."
            ),
        ):
            training.convert_mode("predicting", new_patch_size=[16, 16])

    def test_new_patch(self, training: DataConfig) -> None:
        validating = training.convert_mode("validating")
        assert validating.patching.name == "fixed_random"
        assert validating.patching.patch_size == [32, 32]
        assert validating.patching.seed == training.seed
        resized = training.convert_mode("validating", new_patch_size=(16, 16))
        assert resized.patching.patch_size == [16, 16]  # type: ignore[union-attr]
        tiled = training.convert_mode(
            "predicting", new_patch_size=[16, 16], overlap_size=[4, 4]
        )
        assert tiled.patching.name == "tiled"
        assert tiled.patching.overlaps == [4, 4]
        assert training.convert_mode("predicting").patching.name == "whole"

    @pytest.mark.parametrize("mode", ["validating", "predicting"])
    def test_patch_filters_removal(self, training: DataConfig, mode: Any) -> None:
        assert training.patch_filter is not None
        assert training.mask_filter is not None
        converted = training.convert_mode(mode)
        assert converted.patch_filter is None
        assert converted.mask_filter is None

    @pytest.mark.parametrize(
        ("data_type", "old_axes", "new_type", "new_axes", "note"),
        [
            ("array", "SYX", None, "SZYX", ""),
            (
                "czi",
                "SCZYX",
                None,
                "SCTYX",
                " Note that for CZI data, Z and T are both depth axes.",
            ),
            (
                "array",
                "YX",
                "czi",
                "SCTYX",
                " Note that for CZI data, Z and T are both depth axes.",
            ),
        ],
    )
    def test_spatial_dims_error(
        self,
        config_dict: ConfigDict,
        data_type: str,
        old_axes: str,
        new_type: Any,
        new_axes: str,
        note: str,
    ) -> None:
        training = DataConfig(**config_dict(data_type=data_type, axes=old_axes))
        message = (
            "Conversion between different spatial dimensions is not allowed. Got new axes "
            f"{new_axes} with new data type {new_type}, and current axes {old_axes} with "
            f"current data type {data_type}.{note}"
        )
        with pytest.raises(ValueError, match=f"^{message}$"):
            training.convert_mode(
                "predicting", new_axes=new_axes, new_data_type=new_type
            )
