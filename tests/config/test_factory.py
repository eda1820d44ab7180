from __future__ import annotations

from typing import Any

import pytest

from careamics_dask.config import (
    DataConfig,
    MaxPatchFilterConfig,
    MinMaxConfig,
    XYFlipConfig,
    XYRandomRotate90Config,
    create_data_configuration,
    derive_augmentation_seed,
    list_spatial_augmentations,
)


class TestListSpatialAugmentations:
    def test_defaults_without_seed(self) -> None:
        flip, rotate = list_spatial_augmentations()
        assert isinstance(flip, XYFlipConfig)
        assert isinstance(rotate, XYRandomRotate90Config)
        assert (flip.seed, rotate.seed) == (None, None)

    def test_defaults_with_seed(self) -> None:
        flip, rotate = list_spatial_augmentations(seed=42)
        assert flip.seed == derive_augmentation_seed(42, 0)
        assert rotate.seed == derive_augmentation_seed(42, 1)
        assert flip.seed != rotate.seed

    @pytest.mark.parametrize(
        "augmentations",
        [[], [XYFlipConfig()], [XYRandomRotate90Config(), XYFlipConfig(seed=1)]],
    )
    def test_given(self, augmentations: list[Any]) -> None:
        assert list_spatial_augmentations(augmentations, seed=3) == augmentations

    @pytest.mark.parametrize(
        "augmentations",
        [[{"name": "XYFlip"}], [XYFlipConfig(), MaxPatchFilterConfig(threshold=1)]],
    )
    def test_wrong_class(self, augmentations: list[Any]) -> None:
        with pytest.raises(
            ValueError,
            match=r"^Accepted augmentations are either XYFlipConfig or "
            r"XYRandomRotate90Config\.$",
        ):
            list_spatial_augmentations(augmentations)

    def test_duplicates(self) -> None:
        with pytest.raises(
            ValueError, match=r"^Duplicate augmentations are not allowed\.$"
        ):
            list_spatial_augmentations(
                [XYRandomRotate90Config(), XYRandomRotate90Config(p=1)]
            )


class TestCreateDataConfiguration:
    def test_defaults(self) -> None:
        config = create_data_configuration("tiff", "SYX", [64, 64], 8, seed=42)
        assert config.mode == "training"
        assert config.patching.name == "stratified"
        assert config.patching.patch_size == [64, 64]
        assert config.patching.seed == 42
        assert config.batch_size == 8
        assert config.normalization.name == "mean_std"
        assert config.normalization.needs_computation()
        assert config.in_memory is True
        assert config.num_workers == 0
        assert config.n_val_patches == 8
        assert config.train_dataloader_params["shuffle"] is True
        assert [a.seed for a in config.augmentations] == [
            derive_augmentation_seed(42, 0),
            derive_augmentation_seed(42, 1),
        ]

    def test_same_seeds_as_data_config(self) -> None:
        from_factory = create_data_configuration("array", "YX", [32, 32], 1, seed=9)
        direct = DataConfig(
            mode="training",
            data_type="array",
            axes="YX",
            patching={"name": "stratified", "patch_size": [32, 32]},
            normalization={"name": "mean_std"},
            seed=9,
        )
        assert from_factory.augmentations == direct.augmentations

    def test_random_seed(self) -> None:
        config = create_data_configuration("array", "YX", [32, 32], 1)
        assert config.seed > 0
        assert config.patching.seed == config.seed  # type: ignore[union-attr]
        assert config.augmentations[0].seed == derive_augmentation_seed(config.seed, 0)

    def test_all_parameters(self) -> None:
        params = {"shuffle": False, "pin_memory": False}
        with pytest.warns(UserWarning, match="shuffle=False"):
            config = create_data_configuration(
                data_type="zarr",
                axes="SCZYX",
                patch_size=(8, 32, 32),
                batch_size=2,
                target_axes="SZYX",
                augmentations=[],
                normalization={"name": "min_max", "input_mins": 0, "input_maxes": 255},
                patch_filter_config={"name": "max", "threshold": 0.1},
                channels=[1],
                in_memory=True,
                n_val_patches=3,
                num_workers=2,
                train_dataloader_params=params,
                val_dataloader_params={"pin_memory": True},
                pred_dataloader_params={"drop_last": False},
                seed=1,
            )
        assert (config.data_type, config.axes, config.target_axes) == (
            "zarr",
            "SCZYX",
            "SZYX",
        )
        assert config.augmentations == []
        assert isinstance(config.normalization, MinMaxConfig)
        assert config.patch_filter.coverage == 0.125  # type: ignore[union-attr]
        assert config.channels == [1]
        assert (config.in_memory, config.n_val_patches, config.num_workers) == (
            True,
            3,
            2,
        )
        assert config.train_dataloader_params["shuffle"] is False
        assert config.val_dataloader_params["pin_memory"] is True
        assert config.pred_dataloader_params == {
            "drop_last": False,
            "num_workers": 2,
            "persistent_workers": True,
        }
        assert params == {"shuffle": False, "pin_memory": False}

    def test_shuffle_added_without_mutating(self) -> None:
        params = {"num_workers": 1}
        config = create_data_configuration(
            "array", "YX", [32, 32], 1, train_dataloader_params=params
        )
        assert config.train_dataloader_params["shuffle"] is True
        assert params == {"num_workers": 1}

    def test_in_memory_default(self) -> None:
        assert create_data_configuration("zarr", "YX", [32, 32], 1).in_memory is False

    def test_invalid(self) -> None:
        with pytest.raises(ValueError, match="Patch size must be squared"):
            create_data_configuration("array", "YX", [32, 16], 1)
        with pytest.raises(ValueError, match="Accepted augmentations"):
            create_data_configuration(
                "array",
                "YX",
                [32, 32],
                1,
                augmentations=["flip"],  # type: ignore[list-item]
            )
