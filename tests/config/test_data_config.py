from __future__ import annotations

from collections.abc import Callable
from pprint import pformat
from typing import Any

import pytest
from pydantic import ValidationError

from careamics_dask.config import (
    DataConfig,
    MeanStdConfig,
    Mode,
    RandomPatchingConfig,
    XYFlipConfig,
    XYRandomRotate90Config,
    derive_augmentation_seed,
)

ConfigDict = Callable[..., dict[str, Any]]


def test_default_data_config(config_dict: ConfigDict) -> None:
    config = DataConfig(**config_dict(seed=42))
    assert config.mode is Mode.TRAINING
    assert (config.batch_size, config.n_val_patches, config.num_workers) == (1, 8, 0)
    assert config.target_axes is None
    assert config.channels is None
    assert config.patch_filter is None
    assert isinstance(config.normalization, MeanStdConfig)
    assert [type(a) for a in config.augmentations] == [
        XYFlipConfig,
        XYRandomRotate90Config,
    ]


def test_default_dump(
    config_dict: ConfigDict, fake_torch: Callable[[bool], None]
) -> None:
    fake_torch(True)
    dump = DataConfig(**config_dict(seed=42)).model_dump()
    assert dump["mask_filter"] == {
        "name": "mask",
        "ref_channel": 0,
        "filtered_patch_prob": 0.1,
        "coverage": 0.25,
    }
    assert dump["patching"] == {
        "name": "stratified",
        "patch_size": [32, 32],
        "seed": 42,
    }
    assert dump["train_dataloader_params"] == {
        "shuffle": True,
        "pin_memory": True,
        "num_workers": 0,
    }
    assert dump["pred_dataloader_params"] == {"num_workers": 0}
    assert [a["name"] for a in dump["augmentations"]] == ["XYFlip", "XYRandomRotate90"]


def test_extra_fields_ignored(config_dict: ConfigDict) -> None:
    config = DataConfig(**config_dict(coord_filter={"name": "x"}, threshold_ratio=0.1))
    assert "coord_filter" not in config.model_dump()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("batch_size", 0, "greater than or equal to 1"),
        ("n_val_patches", -1, "greater than or equal to 0"),
        ("num_workers", -1, "greater than or equal to 0"),
        ("seed", 0, "greater than 0"),
    ],
)
def test_numeric_bounds(
    config_dict: ConfigDict, field: str, value: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        DataConfig(**config_dict(**{field: value}))


class TestTargetAxes:
    @pytest.mark.parametrize(
        ("axes", "target_axes"),
        [
            ("YX", "CYX"),
            ("SYX", "SCYX"),
            ("SCYX", "SYX"),
            ("TZYX", "TCZYX"),
            ("STYX", "TSYX"),
        ],
    )
    def test_compatible(
        self, config_dict: ConfigDict, axes: str, target_axes: str
    ) -> None:
        config = DataConfig(**config_dict(axes=axes, target_axes=target_axes))
        assert config.target_axes == target_axes

    @pytest.mark.parametrize(("axes", "target_axes"), [("YX", "ZYX"), ("SZYX", "SYX")])
    def test_spatial_dims(
        self, config_dict: ConfigDict, axes: str, target_axes: str
    ) -> None:
        with pytest.raises(
            ValueError,
            match="`target_axes` must have the same spatial dimensionality as `axes`. Got "
            f"target_axes {target_axes} and axes {axes}.",
        ):
            DataConfig(**config_dict(axes=axes, target_axes=target_axes))

    def test_sample_axes(self, config_dict: ConfigDict) -> None:
        with pytest.raises(
            ValueError,
            match=r"Axes 'SYX' are not compatible with target axes 'STYX'. The same sample "
            r"axes \(S and/or T\) must be present in both. Found sample axes \['S'\] in "
            r"axes and \['S', 'T'\] in target axes.",
        ):
            DataConfig(**config_dict(axes="SYX", target_axes="STYX"))


@pytest.mark.parametrize(
    ("data_type", "axes", "patch_size"),
    [
        ("array", "YX", [16, 16]),
        ("array", "SCYX", [16, 16]),
        ("array", "ZYX", [16, 16, 16]),
        ("array", "TCZYX", [8, 16, 16]),
        ("czi", "SCYX", [16, 16]),
        ("czi", "SCZYX", [16, 16, 16]),
        ("czi", "SCTYX", [16, 16, 16]),
    ],
)
def test_validate_dimensions(
    config_dict: ConfigDict, data_type: str, axes: str, patch_size: list[int]
) -> None:
    config = DataConfig(
        **config_dict(data_type=data_type, axes=axes, patch_size=patch_size)
    )
    assert config.patching.patch_size == patch_size  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data_type", "axes", "patch_size", "message"),
    [
        (
            "array",
            "YX",
            [16, 16, 16],
            r"must have 2 dimensions, got \[16, 16, 16\] with axes YX\. \[",
        ),
        (
            "array",
            "ZYX",
            [16, 16],
            r"must have 3 dimensions, got \[16, 16\] with axes ZYX\. \[",
        ),
        ("array", "TYX", [8, 16, 16], "must have 2 dimensions"),
        (
            "czi",
            "SCYX",
            [8, 16, 16],
            r"must have 2 dimensions, got \[8, 16, 16\] with axes SCYX \(`Z` and `T` are "
            r"depth axes for CZI data\)\.",
        ),
        ("czi", "SCTYX", [16, 16], "must have 3 dimensions"),
        ("czi", "SCZYX", [16, 16], "must have 3 dimensions"),
    ],
)
def test_validate_dimensions_mismatch(
    config_dict: ConfigDict,
    data_type: str,
    axes: str,
    patch_size: list[int],
    message: str,
) -> None:
    fields = config_dict(data_type=data_type, axes=axes, patch_size=patch_size)
    with pytest.raises(ValueError, match=f"`patch_size` in `patching` {message}"):
        DataConfig(**fields)


def test_whole_patching_has_no_dimension_check(config_dict: ConfigDict) -> None:
    config = DataConfig(**config_dict(mode="predicting", axes="ZYX"))
    assert config.patching.name == "whole"


class TestSeed:
    def test_seed(self, config_dict: ConfigDict) -> None:
        seeds = {DataConfig(**config_dict()).seed for _ in range(5)}
        assert len(seeds) == 5
        assert all(seed > 0 for seed in seeds)

    def test_seed_propagation(self, config_dict: ConfigDict) -> None:
        fields = config_dict(patching="random", seed=42)
        fields["patching"].pop("seed")
        config = DataConfig(**fields)
        assert config.patching.seed == 42  # type: ignore[union-attr]
        # difference from the reference: distinct, derived augmentation seeds
        assert [a.seed for a in config.augmentations] == [
            derive_augmentation_seed(42, 0),
            derive_augmentation_seed(42, 1),
        ]
        assert len({a.seed for a in config.augmentations} | {42}) == 3

    def test_seed_propagation_deterministic(self, config_dict: ConfigDict) -> None:
        first = DataConfig(**config_dict(seed=7))
        second = DataConfig(**config_dict(seed=7))
        other = DataConfig(**config_dict(seed=8))
        assert [a.seed for a in first.augmentations] == [
            a.seed for a in second.augmentations
        ]
        assert [a.seed for a in first.augmentations] != [
            a.seed for a in other.augmentations
        ]

    def test_seeds_follow_list_position(self, config_dict: ConfigDict) -> None:
        augmentations = [XYRandomRotate90Config(), XYFlipConfig()]
        config = DataConfig(**config_dict(seed=42, augmentations=augmentations))
        assert config.augmentations[0].seed == derive_augmentation_seed(42, 0)
        assert config.augmentations[0].name == "XYRandomRotate90"

    def test_explicit_seeds_kept(self, config_dict: ConfigDict) -> None:
        fields = config_dict(
            seed=42,
            augmentations=[XYFlipConfig(seed=5), {"name": "XYRandomRotate90"}],
        )
        fields["patching"]["seed"] = 9
        config = DataConfig(**fields)
        assert config.patching.seed == 9  # type: ignore[union-attr]
        assert config.augmentations[0].seed == 5
        assert config.augmentations[1].seed == derive_augmentation_seed(42, 1)

    def test_caller_objects_not_changed(self, config_dict: ConfigDict) -> None:
        flip = XYFlipConfig()
        patching = RandomPatchingConfig(patch_size=[32, 32])
        fields = config_dict(seed=3, augmentations=[flip]) | {"patching": patching}
        first = DataConfig(**fields)
        second = DataConfig(**(fields | {"seed": 4}))
        assert flip.seed is None
        assert patching.seed is None
        assert first.augmentations[0].seed != second.augmentations[0].seed
        assert (first.patching.seed, second.patching.seed) == (3, 4)  # type: ignore[union-attr]

    def test_no_augmentations(self, config_dict: ConfigDict) -> None:
        assert DataConfig(**config_dict(augmentations=[])).augmentations == []

    def test_tiled_patching_has_no_seed(self, config_dict: ConfigDict) -> None:
        config = DataConfig(**config_dict(mode="predicting", patching="tiled"))
        assert "seed" not in config.patching.model_dump()


@pytest.mark.parametrize(
    ("data_type", "axes", "expected"),
    [
        ("array", "YX", False),
        ("array", "STCYX", False),
        ("tiff", "TYX", False),
        ("array", "ZYX", True),
        ("zarr", "SCZYX", True),
        ("czi", "SCYX", False),
        ("czi", "SCZYX", True),
        ("czi", "SCTYX", True),
    ],
)
def test_is_3d(
    config_dict: ConfigDict, data_type: str, axes: str, expected: bool
) -> None:
    assert DataConfig(**config_dict(data_type=data_type, axes=axes)).is_3D() is expected


class TestSet3D:
    def test_switch(self, config_dict: ConfigDict) -> None:
        config = DataConfig(**config_dict(axes="SYX"))
        config.set_3D("SZYX", (8, 32, 32))
        assert config.axes == "SZYX"
        assert config.patching.patch_size == [8, 32, 32]  # type: ignore[union-attr]
        assert config.patching.seed == 42  # type: ignore[union-attr]
        assert config.is_3D()
        config.set_3D("YX", [16, 16])
        assert not config.is_3D()

    def test_whole_patching(self, config_dict: ConfigDict) -> None:
        config = DataConfig(**config_dict(mode="predicting", axes="YX"))
        config.set_3D("ZYX", [8, 16, 16])
        assert config.axes == "ZYX"
        assert config.patching.name == "whole"

    @pytest.mark.parametrize(
        ("axes", "patch_size", "message"),
        [
            ("ZYX", [16, 16], "must have 3 dimensions"),
            ("SYZX", [16, 16], "Invalid axes SYZX"),
            ("ZYX", [8, 16, 32], "Patch size must be squared"),
        ],
    )
    def test_invalid_leaves_config_unchanged(
        self, config_dict: ConfigDict, axes: str, patch_size: list[int], message: str
    ) -> None:
        config = DataConfig(**config_dict(axes="SYX"))
        before = config.model_dump()
        with pytest.raises(ValidationError, match=message):
            config.set_3D(axes, patch_size)
        assert config.model_dump() == before


def test_failed_assignment_rolled_back(config_dict: ConfigDict) -> None:
    config = DataConfig(**config_dict(axes="SYX"))
    with pytest.raises(ValidationError, match="must have 3 dimensions"):
        config.axes = "SZYX"
    assert config.axes == "SYX"
    assert "batch_size" not in config.model_fields_set
    config.batch_size = 4
    assert config.batch_size == 4
    assert "batch_size" in config.model_fields_set


def test_str(config_dict: ConfigDict) -> None:
    config = DataConfig(**config_dict(seed=11))
    assert str(config) == pformat(config.model_dump())
    assert "'seed': 11" in str(config)
