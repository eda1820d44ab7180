"""The reference's public names and forms (issue 17), with hand-worked values."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from careamics_dask.config import (
    DataConfig,
    MaskPatchFilterConfig,
    MeanStdConfig,
    MeanStdPatchFilterConfig,
    MinMaxConfig,
    XYFlipConfig,
    XYRandomRotate90Config,
    instantiate_norm_config,
)
from careamics_dask.factory import (
    PatchExtractor,
    TrainValData,
    UNetConstraints,
    create_normalization,
    create_train_dataset,
    filter_background,
    filter_background_with_mask,
)
from careamics_dask.factory.dataset import _validate_shapes_against_model
from careamics_dask.graph.filters import MaxPatchFilter, MeanStdPatchFilter
from careamics_dask.graph.transforms import (
    Compose,
    Normalizer,
    XYFlip,
    XYRandomRotate90,
)
from careamics_dask.loaders import open_images
from careamics_dask.patching import (
    FixedPatching,
    Patching,
    PatchingStrategy,
    PatchSpecs,
    SequentialPatching,
    StratifiedPatching,
    TiledPatching,
    WholePatching,
    WholeSamplePatching,
    is_uncorrelated_specs,
)


def _config(**fields: Any) -> DataConfig:
    values: dict[str, Any] = {
        "mode": "training",
        "data_type": "array",
        "axes": "SYX",
        "patching": {"name": "stratified", "patch_size": [8, 8], "seed": 1},
        "normalization": {"name": "mean_std"},
        "batch_size": 2,
        "seed": 3,
    }
    values.update(fields)
    return DataConfig(**values)


def test_dataset_attributes_by_the_reference_names() -> None:
    images = np.arange(2 * 16 * 16, dtype=np.float32).reshape(2, 16, 16)
    dataset = create_train_dataset(_config(), TrainValData([images], [images]))
    assert dataset.normalization is dataset.normalizer
    constructor = dataset.patch_constructor
    assert constructor.patching_strategy is dataset.patching
    assert constructor.input_extractor is dataset.inputs
    assert constructor.target_extractor is None
    assert constructor.input_shapes == [(2, 1, 16, 16)]
    assert constructor.n_patches == len(dataset)


def test_fixed_patching_from_a_list_of_specs() -> None:
    specs: list[PatchSpecs] = [
        {"data_idx": 0, "sample_idx": 1, "coords": (4, 2), "patch_size": (8, 8)},
        {"data_idx": 1, "sample_idx": 0, "coords": (0, 0), "patch_size": (8, 8)},
    ]
    patching = FixedPatching(specs)
    assert patching.n_patches == 2
    assert patching.get_patch_spec(0) == specs[0]
    assert patching.fixed_patch_specs == specs
    assert list(patching.get_patch_indices(1)) == [1]
    assert patching.table() == FixedPatching.from_specs(specs).table()


def test_spec_lists_of_sequential_tiled_and_whole() -> None:
    # a 12 x 10 image, 8 x 8 patches, no overlap: starts (0, 4) in Y, (0, 2) in X
    sequential = SequentialPatching([(1, 1, 12, 10)], [8, 8], [0, 0])
    assert [s["coords"] for s in sequential.patch_specs] == [
        (0, 0),
        (0, 2),
        (4, 0),
        (4, 2),
    ]
    tiled = TiledPatching([(1, 1, 12, 10)], [8, 8], [2, 2])
    first = tiled.tile_specs[0]
    assert set(first) >= {"crop_coords", "crop_size", "stitch_coords", "total_tiles"}
    assert first["total_tiles"] == len(tiled.tile_specs) == tiled.n_patches
    assert WholeSamplePatching is WholePatching
    whole = WholeSamplePatching([(2, 1, 5, 7)])
    assert [s["patch_size"] for s in whole.patch_specs] == [(5, 7), (5, 7)]
    assert Patching is PatchingStrategy
    assert isinstance(whole, Patching)


def test_filter_background_by_the_reference_signature() -> None:
    image = np.zeros((1, 1, 64, 64), np.float32)
    image[..., :40] = 1.0
    # region (gy, gx) covers [32gy, 32gy + 64) x [32gx, 32gx + 64), zero-padded:
    # gx = 0 -> 40 ones of 64 columns (mean 0.625); gx = 1 -> 8 of 64 (0.125)
    extractor = PatchExtractor(open_images([image], "SCYX"))
    patching = StratifiedPatching([image.shape], [32, 32], seed=0)
    filter_config = MeanStdPatchFilterConfig(mean_threshold=0.3)
    assert filter_background(filter_config, patching, extractor) == 2
    assert patching.region_weights.tolist() == [1.0, 0.1, 1.0, 0.1]
    mask = np.zeros((1, 1, 64, 64), bool)
    mask[..., :32, :] = True  # rows < 32 are foreground: region gy = 1 has none
    mask_patching = StratifiedPatching([image.shape], [32, 32], seed=0)
    masks = PatchExtractor(open_images([mask], "SCYX"))
    found = filter_background_with_mask(
        MaskPatchFilterConfig(coverage=0.25, filtered_patch_prob=0.0),
        mask_patching,
        masks,
    )
    # gy = 0: 32 of 64 rows covered (0.5); gy = 1: none (0.0 < 0.25)
    assert found == 2
    assert mask_patching.region_weights.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_filter_attributes_may_be_set() -> None:
    patch = np.full((1, 8, 8), 0.4, np.float32)
    rule = MaxPatchFilter(0.5, 0.25)
    assert rule.filter_out(patch)  # max 0.4 < 0.5
    rule.threshold = 0.3
    assert not rule.filter_out(patch)  # every pixel above 0.3
    mean_std = MeanStdPatchFilter(0.5, None)
    mean_std.mean_threshold = 0.1
    assert not mean_std.filter_out(patch)


def test_uncorrelated_specs() -> None:
    spec: dict[str, Any] = {
        "data_idx": 0,
        "sample_idx": 0,
        "coords": (0, 0),
        "patch_size": (8, 8),
    }
    assert not is_uncorrelated_specs(spec)  # type: ignore[arg-type]
    spec.update(all_data_idx=(0, 1), all_sample_idx=(0, 0), all_coords=((0, 0),) * 2)
    assert is_uncorrelated_specs(spec)  # type: ignore[arg-type]


def test_normalization_by_the_reference_names() -> None:
    config = instantiate_norm_config(
        {"name": "min_max", "input_mins": [10.0], "input_maxes": [30.0]}
    )
    assert isinstance(config, MinMaxConfig)
    normalize = create_normalization(config)
    assert isinstance(normalize, Normalizer)
    patch = np.array([10.0, 20.0, 30.0], np.float32).reshape(1, 1, 3)
    out, target = normalize(patch)
    # (x - min) / (max - min + eps), eps = 1e-6: 0, 0.5, 1 to float32 precision
    np.testing.assert_allclose(out.ravel(), [0.0, 0.5, 1.0], rtol=1e-6)
    assert target is None
    np.testing.assert_allclose(normalize.denormalize(out[np.newaxis])[0], patch)
    with pytest.raises(ValueError, match="name"):
        instantiate_norm_config({"name": "zscore"})


class _UNetConfig:
    """A stand-in with the reference UNetConfig's ``model_dump``."""

    def model_dump(self) -> dict[str, Any]:
        return {"architecture": "UNet", "depth": 3, "in_channels": 2, "num_classes": 4}


def test_unet_constraints_from_a_model_config_positionally() -> None:
    constraints = UNetConstraints(_UNetConfig())
    assert constraints == UNetConstraints(
        depth=3, n_input_channels=2, n_output_channels=4
    )
    constraints.validate_spatial_shape((64, 64))
    with pytest.raises(ValueError, match="not a multiple of 8"):
        constraints.validate_spatial_shape((64, 60))
    with pytest.raises(TypeError, match="not both"):
        UNetConstraints(_UNetConfig(), depth=2)
    with pytest.raises(TypeError, match="needs a UNet model config"):
        UNetConstraints(depth=2)


def test_validate_shapes_against_model_positionally() -> None:
    config = _config(patching={"name": "whole"}, mode="predicting")
    unet = UNetConstraints(depth=2, n_input_channels=1, n_output_channels=1)
    _validate_shapes_against_model(config, unet, [(1, 1, 64, 64)])
    with pytest.raises(ValueError, match="dimension X \\(size 30\\)"):
        _validate_shapes_against_model(config, unet, [(1, 1, 64, 30)])
    with pytest.raises(ValueError, match="Number of channels in target image"):
        _validate_shapes_against_model(config, unet, [(1, 1, 64, 64)], [(1, 2, 64, 64)])


def _flip_decisions(seed: int, n: int) -> list[int]:
    """The reference's XYFlip draws, by hand: u > p leaves it, else choice."""
    rng = np.random.default_rng(seed)
    decisions = []
    for _ in range(n):
        if rng.random() > 0.5:
            decisions.append(0)
        else:
            decisions.append(int(rng.choice([-2, -1])))
    return decisions


def test_augmentations_called_on_patches_as_the_reference() -> None:
    flip = XYFlip(**XYFlipConfig().model_dump())  # no seed: one is drawn, kept
    assert isinstance(flip.seed, int)
    XYRandomRotate90(**XYRandomRotate90Config().model_dump())
    patch = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    target = patch + 100
    seeded = XYFlip(seed=7)
    for axis in _flip_decisions(7, 20):
        out, out_target, extra = seeded(patch, target, mask=patch * 2)
        expected = patch if axis == 0 else np.flip(patch, axis=axis)
        np.testing.assert_array_equal(out, expected)
        np.testing.assert_array_equal(out_target, expected + 100)
        np.testing.assert_array_equal(extra["mask"], expected * 2)
    rotate = XYRandomRotate90(seed=5, p=1.0)
    rng = np.random.default_rng(5)
    for _ in range(5):
        rng.random()
        k = int(rng.integers(1, 4))
        np.testing.assert_array_equal(rotate(patch)[0], np.rot90(patch, k, (-2, -1)))


def test_compose_chains_configs_and_augmentations() -> None:
    patch = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    compose = Compose(
        [
            XYFlipConfig(seed=1, p=1.0, flip_y=False),
            XYRandomRotate90(seed=2, p=0.0),
        ]
    )
    assert [type(t) for t in compose.transforms] == [XYFlip, XYRandomRotate90]
    (only,) = compose(patch)
    np.testing.assert_array_equal(only, patch[..., ::-1])
    _, target = compose(patch, patch + 1)
    np.testing.assert_array_equal(target, patch[..., ::-1] + 1)
    with pytest.raises(TypeError, match="Compose takes augmentation configs"):
        Compose(["XYFlip"])


def test_parity_with_the_reference_augmentations_and_normalization() -> None:
    augmentation = pytest.importorskip("careamics.dataset.augmentation")
    compose_module = pytest.importorskip("careamics.dataset.augmentation.compose")
    normalization = pytest.importorskip("careamics.dataset.normalization")
    ref_augmentations = pytest.importorskip("careamics.config.augmentations")
    ref_norm_config = pytest.importorskip("careamics.config.data.normalization_config")
    RefFlip, RefRotate = augmentation.XYFlip, augmentation.XYRandomRotate90
    RefCompose, ref_create = compose_module.Compose, normalization.create_normalization
    RefFlipConfig, RefMS = ref_augmentations.XYFlipConfig, ref_norm_config.MeanStdConfig

    patch = np.random.default_rng(0).random((2, 8, 8)).astype(np.float32)
    ours_flip, ref_flip = XYFlip(seed=11), RefFlip(seed=11)
    ours_rot, ref_rot = XYRandomRotate90(seed=12), RefRotate(seed=12)
    for _ in range(10):
        np.testing.assert_array_equal(ours_flip(patch)[0], ref_flip(patch)[0])
        np.testing.assert_array_equal(ours_rot(patch)[0], ref_rot(patch)[0])
    ours = Compose([XYFlipConfig(seed=3)])
    theirs = RefCompose([RefFlipConfig(seed=3)])
    for _ in range(5):
        np.testing.assert_array_equal(ours(patch)[0], theirs(patch)[0])
    fields = {"input_means": [0.2, 0.4], "input_stds": [0.1, 0.3]}
    np.testing.assert_allclose(
        create_normalization(MeanStdConfig(**fields))(patch)[0],
        ref_create(RefMS(**fields))(patch)[0],
        rtol=1e-6,
    )


def test_unused_microsplit_fields_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    from careamics_dask.config import MicroSplitDataConfig
    from careamics_dask.factory import PairedInputTarget, create_microsplit_dataset

    one = [np.ones((1, 1, 32, 32), np.float32)]
    config = MicroSplitDataConfig(
        mode="training",
        data_type="array",
        axes="SCYX",
        patching={"name": "random", "patch_size": [16, 16], "seed": 1},
        normalization={"name": "none"},
        multiscale_count=1,
        channels=[0],
    )
    with caplog.at_level(logging.WARNING, logger="careamics_dask.factory.microsplit"):
        create_microsplit_dataset(config, PairedInputTarget(one, one))
    assert [r.getMessage() for r in caplog.records] == [
        "MicroSplit paired-input-target mode does not use config field(s): channels."
    ]
