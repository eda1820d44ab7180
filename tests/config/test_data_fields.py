from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from careamics_dask.config import DataConfig, MaxPatchFilterConfig
from careamics_dask.errors import CareamicsDaskWarning

ConfigDict = Callable[..., dict[str, Any]]

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
CZI_INVALID = ["CZYX", "TCYX", "CYX", "SZYX", "STCZYX", "SZYXC", "TCZYX", "TCYXZ"]


@pytest.mark.parametrize("axes", VALID_2D + VALID_3D)
def test_axes_valid(config_dict: ConfigDict, axes: str) -> None:
    config = DataConfig(**config_dict(axes=axes))
    assert config.axes == axes


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ("X", "Invalid axes X. Must contain at least 2 and at most 6 axes."),
        ("ZT", "Invalid axes ZT. Must contain at least X and Y axes consecutively."),
        ("YYX", r"Invalid axes YYX. Cannot contain duplicate axes \(got multiple Y\)."),
        ("YXm", "Invalid axes YXm. Must be a combination of STCZYX."),
        ("YZX", "Invalid axes YZX. Must contain at least X and Y axes consecutively."),
        ("STCZYXT", "Must contain at least 2 and at most 6 axes."),
    ],
)
def test_axes_invalid(config_dict: ConfigDict, axes: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DataConfig(**config_dict(axes=axes))


@pytest.mark.parametrize("axes", ["SCYX", "SCZYX", "SCTYX"])
def test_czi_axes_valid(config_dict: ConfigDict, axes: str) -> None:
    assert DataConfig(**config_dict(data_type="czi", axes=axes)).axes == axes


@pytest.mark.parametrize("axes", CZI_INVALID)
def test_czi_axes_invalid(config_dict: ConfigDict, axes: str) -> None:
    message = (
        f"Invalid axes '{axes}' for CZI format. Axes must be in the `SC(Z/T)YX` format, "
        "where Z or T are optional, and S and C can be singleton dimensions, but must "
        "be provided."
    )
    with pytest.raises(
        ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        DataConfig(**config_dict(data_type="czi", axes=axes))


@pytest.mark.parametrize(("data_type", "axes"), [("array", "syx"), ("czi", "sczyx")])
def test_axes_stored_upper_case(
    config_dict: ConfigDict, data_type: str, axes: str
) -> None:
    size = [8, 16, 16] if "z" in axes else [16, 16]
    config = DataConfig(**config_dict(data_type=data_type, axes=axes, patch_size=size))
    assert config.axes == axes.upper()


def test_target_axes_validated_and_upper_cased(config_dict: ConfigDict) -> None:
    assert (
        DataConfig(**config_dict(axes="SYX", target_axes="scyx")).target_axes == "SCYX"
    )
    with pytest.raises(ValueError, match="Invalid axes SYZX"):
        DataConfig(**config_dict(axes="SYX", target_axes="SYZX"))


def test_axes_need_valid_data_type(config_dict: ConfigDict) -> None:
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Validation for `data_type` may have failed. Check for typos or missing "
            "field."
        ),
    ):
        DataConfig(**config_dict(data_type="png"))


def _error_locations(error: ValidationError) -> list[tuple[int | str, ...]]:
    # pydantic adds "default factory not called" entries once any field failed
    return [
        e["loc"] for e in error.errors() if e["type"] != "default_factory_not_called"
    ]


def test_missing_mode_reported_once(config_dict: ConfigDict) -> None:
    fields = config_dict(patch_filter=FILTERS["max"])
    del fields["mode"]
    with pytest.raises(ValidationError) as info:
        DataConfig(**fields)
    assert _error_locations(info.value) == [("mode",)]


def test_invalid_axes_skip_channel_check(config_dict: ConfigDict) -> None:
    with pytest.raises(ValidationError) as info:
        DataConfig(**config_dict(axes="YZX", channels=[0]))
    assert _error_locations(info.value) == [("axes",)]


class TestInMemory:
    @pytest.mark.parametrize(
        ("data_type", "expected"),
        [
            ("array", True),
            ("tiff", True),
            ("custom", True),
            ("zarr", False),
            ("czi", False),
        ],
    )
    def test_default(
        self, config_dict: ConfigDict, data_type: str, expected: bool
    ) -> None:
        axes = "SCYX" if data_type == "czi" else "YX"
        fields = config_dict(data_type=data_type, axes=axes)
        fields.pop("in_memory", None)
        assert DataConfig(**fields).in_memory is expected

    def test_array_must_be_in_memory(self, config_dict: ConfigDict) -> None:
        with pytest.raises(
            ValueError,
            match=re.escape('`in_memory` must be True for "array" `data_type`.'),
        ):
            DataConfig(**config_dict(in_memory=False))

    @pytest.mark.parametrize(("data_type", "axes"), [("zarr", "YX"), ("czi", "SCYX")])
    def test_zarr_czi_can_be_in_memory(
        self, config_dict: ConfigDict, data_type: str, axes: str
    ) -> None:
        # difference from the reference: in_memory=True persists in cluster memory
        config = DataConfig(
            **config_dict(data_type=data_type, axes=axes, in_memory=True)
        )
        assert config.in_memory

    @pytest.mark.parametrize("data_type", ["tiff", "custom"])
    @pytest.mark.parametrize("in_memory", [True, False])
    def test_tiff_custom_both_modes(
        self, config_dict: ConfigDict, data_type: str, in_memory: bool
    ) -> None:
        config = DataConfig(**config_dict(data_type=data_type, in_memory=in_memory))
        assert config.in_memory is in_memory


class TestChannels:
    @pytest.mark.parametrize(
        ("axes", "channels", "message"),
        [
            ("YX", [1], "Channels must be `None` if 'C' is not present in `axes`."),
            ("CYX", "1, 2", "Channels must be integers."),
            ("CYX", [1, 3.14], "Channels must be integers."),
            ("CYX", 1.5, "Channels must be a sequence of integers."),
            ("CYX", {0, 1}, "Channels must be a sequence of integers."),
            ("CYX", [1, -1], "Channels must be non-negative integers."),
            ("CYX", [0, 1, 0], "Channels must not contain duplicates."),
        ],
    )
    def test_validation_errors(
        self, config_dict: ConfigDict, axes: str, channels: Any, message: str
    ) -> None:
        with pytest.raises(ValueError, match=message):
            DataConfig(**config_dict(axes=axes, channels=channels))

    @pytest.mark.parametrize(
        ("channels", "expected"), [(1, [1]), ([], None), ((), None), ((0, 2), [0, 2])]
    )
    def test_coercion(
        self, config_dict: ConfigDict, channels: Any, expected: Any
    ) -> None:
        assert (
            DataConfig(**config_dict(axes="CYX", channels=channels)).channels
            == expected
        )

    @pytest.mark.parametrize(
        ("axes", "channels"),
        [("YX", None), ("CYX", None), ("CYX", [1]), ("CYX", [0, 2])],
    )
    def test_valid(self, config_dict: ConfigDict, axes: str, channels: Any) -> None:
        assert (
            DataConfig(**config_dict(axes=axes, channels=channels)).channels == channels
        )


MODES = {
    "training": ["stratified", "random"],
    "validating": ["fixed_random"],
    "predicting": ["tiled", "whole"],
}
HINTS = {
    "training": "'stratified' or 'random'",
    "validating": "'fixed_random'",
    "predicting": "'tiled' or 'whole'",
}
ALL_PATCHING = ["stratified", "random", "fixed_random", "tiled", "whole"]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("patching", ALL_PATCHING)
def test_validate_patching_mode(
    config_dict: ConfigDict, mode: str, patching: str
) -> None:
    fields = config_dict(mode=mode, patching=patching)
    if patching in MODES[mode]:
        assert DataConfig(**fields).patching.name == patching
    else:
        message = (
            f"Patching strategy '{patching}' is not compatible with mode '{mode}'. Use "
            f"{HINTS[mode]} for {mode}."
        )
        with pytest.raises(ValueError, match=message):
            DataConfig(**fields)


FILTERS = {
    "shannon": {"name": "shannon", "threshold": 0.5, "filtered_patch_prob": 0.1},
    "max": {"name": "max", "threshold": 0.5, "filtered_patch_prob": 0.1},
    "mean_std": {"name": "mean_std", "mean_threshold": 0.5, "filtered_patch_prob": 0.1},
}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list(FILTERS))
def test_patch_filter_vs_mode(config_dict: ConfigDict, mode: str, name: str) -> None:
    fields = config_dict(mode=mode, patch_filter=FILTERS[name])
    if mode == "training":
        assert DataConfig(**fields).patch_filter is not None
    else:
        message = (
            f"Filtering '{name}' only allowed in 'training' mode, got mode '{mode}'."
        )
        with pytest.raises(ValueError, match=message):
            DataConfig(**fields)


@pytest.mark.parametrize("mode", list(MODES))
def test_mask_filter_vs_mode(config_dict: ConfigDict, mode: str) -> None:
    fields = config_dict(mode=mode, mask_filter={"name": "mask", "coverage": 0.5})
    if mode == "training":
        assert DataConfig(**fields).mask_filter.coverage == 0.5  # type: ignore[union-attr]
    else:
        with pytest.raises(
            ValueError, match="Filtering 'mask' only allowed in 'training'"
        ):
            DataConfig(**fields)


@pytest.mark.parametrize(
    ("axes", "coverage"),
    [("YX", 0.25), ("SYX", 0.25), ("ZYX", 0.125), ("SCZYX", 0.125)],
)
def test_max_patch_filter_default_coverage(
    config_dict: ConfigDict, axes: str, coverage: float
) -> None:
    config = DataConfig(**config_dict(axes=axes, patch_filter=FILTERS["max"]))
    assert config.patch_filter.coverage == coverage  # type: ignore[union-attr]


def test_max_patch_filter_explicit_coverage_kept(config_dict: ConfigDict) -> None:
    patch_filter = {**FILTERS["max"], "coverage": 0.33}
    config = DataConfig(**config_dict(axes="ZYX", patch_filter=patch_filter))
    assert config.patch_filter.coverage == 0.33  # type: ignore[union-attr]


def test_max_patch_filter_instance_not_changed(config_dict: ConfigDict) -> None:
    patch_filter = MaxPatchFilterConfig(threshold=0.5)
    config = DataConfig(**config_dict(axes="ZYX", patch_filter=patch_filter))
    assert config.patch_filter.coverage == 0.125  # type: ignore[union-attr]
    assert patch_filter.coverage == 0.25


def test_czi_t_axis_coverage(config_dict: ConfigDict) -> None:
    config = DataConfig(
        **config_dict(data_type="czi", axes="SCTYX", patch_filter=FILTERS["max"])
    )
    assert config.patch_filter.coverage == 0.125  # type: ignore[union-attr]


class TestDataloaderParams:
    @pytest.mark.parametrize("shuffle", [True, False])
    def test_valid_shuffle(self, config_dict: ConfigDict, shuffle: bool) -> None:
        fields = config_dict(train_dataloader_params={"shuffle": shuffle})
        if shuffle:
            config = DataConfig(**fields)
        else:
            with pytest.warns(CareamicsDaskWarning):
                config = DataConfig(**fields)
        assert config.train_dataloader_params["shuffle"] is shuffle

    def test_shuffle_validation_error(self, config_dict: ConfigDict) -> None:
        with pytest.raises(
            ValueError,
            match=re.escape(
                "`train_dataloader_params` must include the `shuffle` parameter."
            ),
        ):
            DataConfig(**config_dict(train_dataloader_params={"num_workers": 2}))

    def test_shuffle_warning(self, config_dict: ConfigDict) -> None:
        message = (
            "`train_dataloader_params` includes `shuffle=False`, which may lead to lower "
            "quality results. Consider setting `shuffle=True` to ensure the best training "
            "performance."
        )
        with pytest.warns(CareamicsDaskWarning, match=f"^{message}$"):
            DataConfig(**config_dict(train_dataloader_params={"shuffle": False}))

    @pytest.mark.parametrize("field", ["train", "val", "pred"])
    def test_batch_size_rejected(self, config_dict: ConfigDict, field: str) -> None:
        params: dict[str, Any] = {"batch_size": 4}
        if field == "train":
            params["shuffle"] = True
        with pytest.raises(
            ValueError,
            match=re.escape(
                "`batch_size` should not be set in the dataloader parameters. Use the "
                "`batch_size` field of `DataConfig` instead."
            ),
        ):
            DataConfig(**config_dict(**{f"{field}_dataloader_params": params}))

    @pytest.mark.parametrize("cuda", [True, False])
    def test_pin_memory_added(
        self, config_dict: ConfigDict, fake_torch: Callable[[bool], None], cuda: bool
    ) -> None:
        fake_torch(cuda)
        config = DataConfig(**config_dict(val_dataloader_params={"num_workers": 1}))
        assert config.train_dataloader_params["pin_memory"] is cuda
        assert config.val_dataloader_params["pin_memory"] is cuda
        assert "pin_memory" not in config.pred_dataloader_params
        # the validation default gets pin_memory too (difference from the reference)
        assert DataConfig(**config_dict()).val_dataloader_params["pin_memory"] is cuda

    def test_pin_memory_without_torch(
        self, config_dict: ConfigDict, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
        config = DataConfig(**config_dict())
        assert config.train_dataloader_params["pin_memory"] is False
        assert config.val_dataloader_params["pin_memory"] is False

    def test_pin_memory_not_overridden(
        self, config_dict: ConfigDict, fake_torch: Callable[[bool], None]
    ) -> None:
        fake_torch(True)
        fields = config_dict(
            train_dataloader_params={"shuffle": True, "pin_memory": False},
            val_dataloader_params={"pin_memory": False},
        )
        config = DataConfig(**fields)
        assert config.train_dataloader_params["pin_memory"] is False
        assert config.val_dataloader_params["pin_memory"] is False

    def test_caller_dict_not_mutated(self, config_dict: ConfigDict) -> None:
        params = {"shuffle": True}
        DataConfig(**config_dict(train_dataloader_params=params, num_workers=2))
        assert params == {"shuffle": True}

    def test_num_workers_set(self, config_dict: ConfigDict) -> None:
        config = DataConfig(**config_dict(num_workers=3))
        for params in (
            config.train_dataloader_params,
            config.val_dataloader_params,
            config.pred_dataloader_params,
        ):
            assert params["num_workers"] == 3
            assert params["persistent_workers"] is True

    def test_no_persistent_workers_without_workers(
        self, config_dict: ConfigDict
    ) -> None:
        config = DataConfig(**config_dict(num_workers=0))
        assert config.train_dataloader_params["num_workers"] == 0
        assert "persistent_workers" not in config.train_dataloader_params

    def test_num_workers_not_overwritten(
        self, config_dict: ConfigDict, caplog: pytest.LogCaptureFixture
    ) -> None:
        fields = config_dict(
            num_workers=3,
            val_dataloader_params={"num_workers": 5, "persistent_workers": False},
        )
        with caplog.at_level(
            logging.WARNING, logger="careamics_dask.config.data_config"
        ):
            config = DataConfig(**fields)
        assert config.val_dataloader_params["num_workers"] == 5
        assert config.val_dataloader_params["persistent_workers"] is False
        assert config.train_dataloader_params["num_workers"] == 3
        assert [r.getMessage() for r in caplog.records] == [
            "`num_workers=3` conflicts with `val_dataloader_params['num_workers']=5`. "
            "The per-dataloader value takes precedence."
        ]

    def test_no_log_without_explicit_num_workers(
        self, config_dict: ConfigDict, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING):
            DataConfig(**config_dict(pred_dataloader_params={"num_workers": 5}))
        assert caplog.records == []
