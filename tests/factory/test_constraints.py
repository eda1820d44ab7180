"""Tests of careamics_dask.factory.constraints: the reference's messages and rules."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

from careamics_dask.factory.constraints import (
    ModelConstraints,
    UNetConstraints,
    validate_shapes_against_model,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

INPUT_CHANNELS = (
    "Number of channels in input image ({n}) does not match the number of input "
    "channels expected by the model configuration ({m}). Use the `channels` parameter "
    "to specify a subset of channels, or adjust the number of input channels in the "
    "configuration to match your data."
)
TARGET_CHANNELS = (
    "Number of channels in target image ({n}) does not match the number of output "
    "channels expected by the model configuration ({m}). Adjust the number of output "
    "channels in the configuration to match your data."
)
SPATIAL_LENGTH = (
    "Spatial input shape to model constraints should have length 2 (YX) or 3 (ZYX), "
    "but got shape {shape}."
)
SPATIAL_SIZE = (
    "Input data dimension {axis} (size {dim}) is not a multiple of {multiple} (2 to "
    "the power of the model depth). If you are training, adjust `patch_size`. If you "
    "are predicting, your input data shape is not compatible, use tiling by passing "
    "`tile_size`. If you are already using tiling, adjust `tile_size`."
)


def _exact(message: str) -> str:
    return f"^{re.escape(message)}$"


@pytest.fixture
def unet() -> UNetConstraints:
    return UNetConstraints(depth=2, n_input_channels=1, n_output_channels=2)


class RecordingConstraints:
    """Accepts everything and records which checks ran, with what."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def validate_input_channels(self, n_channels: int) -> None:
        self.calls.append(("input", n_channels))

    def validate_target_channels(self, n_channels: int) -> None:
        self.calls.append(("target", n_channels))

    def validate_spatial_shape(self, shape: Sequence[int]) -> None:
        self.calls.append(("spatial", tuple(shape)))


# --- UNetConstraints ----------------------------------------------------------


def test_unet_satisfies_the_protocol(unet: UNetConstraints) -> None:
    assert isinstance(unet, ModelConstraints)
    assert isinstance(RecordingConstraints(), ModelConstraints)


def test_input_channels_message(unet: UNetConstraints) -> None:
    unet.validate_input_channels(1)
    with pytest.raises(ValueError, match=_exact(INPUT_CHANNELS.format(n=3, m=1))):
        unet.validate_input_channels(3)


def test_target_channels_message(unet: UNetConstraints) -> None:
    unet.validate_target_channels(2)
    with pytest.raises(ValueError, match=_exact(TARGET_CHANNELS.format(n=1, m=2))):
        unet.validate_target_channels(1)


@pytest.mark.parametrize("shape", [(64,), (2, 8, 16, 16), ()])
def test_spatial_length_message(unet: UNetConstraints, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=_exact(SPATIAL_LENGTH.format(shape=shape))):
        unet.validate_spatial_shape(shape)


@pytest.mark.parametrize(
    ("shape", "axis", "dim"),
    [
        ((64, 30), "X", 30),
        ((30, 64), "Y", 30),
        ((6, 64, 64), "Z", 6),
        ((8, 64, 2), "X", 2),
        ((0, 64), "Y", 0),
    ],
)
def test_spatial_size_message(
    unet: UNetConstraints, shape: tuple[int, ...], axis: str, dim: int
) -> None:
    message = SPATIAL_SIZE.format(axis=axis, dim=dim, multiple=4)
    with pytest.raises(ValueError, match=_exact(message)):
        unet.validate_spatial_shape(shape)


def test_spatial_sizes_multiple_of_two_to_the_depth() -> None:
    deep = UNetConstraints(depth=4, n_input_channels=1, n_output_channels=1)
    deep.validate_spatial_shape((16, 32, 48))
    deep.validate_spatial_shape([128, 128])
    with pytest.raises(ValueError, match="is not a multiple of 16"):
        deep.validate_spatial_shape((8, 32, 32))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"depth": 0, "n_input_channels": 1, "n_output_channels": 1},
        {"depth": 2, "n_input_channels": 0, "n_output_channels": 1},
        {"depth": 2, "n_input_channels": 1, "n_output_channels": True},
    ],
)
def test_constructor_requires_positive_integers(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be a positive integer"):
        UNetConstraints(**kwargs)


def test_from_model_config_reads_keys_and_defaults() -> None:
    config = {"architecture": "UNet", "depth": 3, "in_channels": 2, "num_classes": 4}
    assert UNetConstraints.from_model_config(config) == UNetConstraints(
        depth=3, n_input_channels=2, n_output_channels=4
    )
    assert UNetConstraints.from_model_config({}) == UNetConstraints(
        depth=2, n_input_channels=1, n_output_channels=1
    )


def test_from_model_config_dumps_pydantic_like_objects() -> None:
    class FakeModel:
        def model_dump(self) -> dict[str, Any]:
            return {"architecture": "UNet", "depth": 5, "num_classes": 3}

    constraints = UNetConstraints.from_model_config(FakeModel())
    assert constraints.depth == 5
    assert constraints.n_output_channels == 3


def test_from_model_config_refuses_other_architectures() -> None:
    with pytest.raises(ValueError, match=r"^Model type LVAE is not supported\.$"):
        UNetConstraints.from_model_config({"architecture": "LVAE"})


def test_unet_constraints_are_frozen_values(unet: UNetConstraints) -> None:
    with pytest.raises(AttributeError):
        unet.depth = 3  # type: ignore[misc]
    assert hash(unet) == hash(
        UNetConstraints(depth=2, n_input_channels=1, n_output_channels=2)
    )


# --- validate_shapes_against_model ------------------------------------------------


def test_whole_patching_checks_every_image_not_a_patch_size() -> None:
    recorder = RecordingConstraints()
    validate_shapes_against_model(
        recorder,
        patching_name="whole",
        patch_size=None,
        input_shapes=[(2, 1, 64, 64), (1, 1, 8, 32, 32)],
        target_shapes=[(2, 3, 64, 64), (1, 3, 8, 32, 32)],
    )
    assert recorder.calls == [
        ("spatial", (64, 64)),
        ("spatial", (8, 32, 32)),
        ("input", 1),
        ("input", 1),
        ("target", 3),
        ("target", 3),
    ]


@pytest.mark.parametrize("name", ["stratified", "random", "fixed_random", "tiled"])
def test_other_patchings_check_the_patch_size_only(name: str) -> None:
    recorder = RecordingConstraints()
    validate_shapes_against_model(
        recorder,
        patching_name=name,
        patch_size=[32, 32],
        input_shapes=[(2, 1, 100, 90), (1, 1, 50, 70)],
    )
    assert recorder.calls == [("spatial", (32, 32)), ("input", 1), ("input", 1)]


def test_channels_are_not_checked_with_a_channel_subset() -> None:
    recorder = RecordingConstraints()
    validate_shapes_against_model(
        recorder,
        patching_name="stratified",
        patch_size=[32, 32],
        input_shapes=[(2, 5, 100, 90)],
        target_shapes=[(2, 5, 100, 90)],
        channels=[0, 2],
    )
    assert recorder.calls == [("spatial", (32, 32))]


def test_patch_size_is_required_for_patched_datasets(unet: UNetConstraints) -> None:
    with pytest.raises(ValueError, match="needs a patch size"):
        validate_shapes_against_model(
            unet, patching_name="tiled", patch_size=None, input_shapes=[(1, 1, 64, 64)]
        )


def test_unet_errors_through_the_dataset_rules(unet: UNetConstraints) -> None:
    ok: dict[str, Any] = {
        "patching_name": "stratified",
        "patch_size": [64, 64],
        "input_shapes": [(3, 1, 100, 90)],
        "target_shapes": [(3, 2, 100, 90)],
    }
    validate_shapes_against_model(unet, **ok)
    with pytest.raises(
        ValueError, match=_exact(SPATIAL_SIZE.format(axis="Y", dim=30, multiple=4))
    ):
        validate_shapes_against_model(unet, **{**ok, "patch_size": [30, 30]})
    with pytest.raises(ValueError, match=_exact(INPUT_CHANNELS.format(n=2, m=1))):
        validate_shapes_against_model(
            unet, **{**ok, "input_shapes": [(3, 1, 64, 64), (1, 2, 64, 64)]}
        )
    with pytest.raises(ValueError, match=_exact(TARGET_CHANNELS.format(n=1, m=2))):
        validate_shapes_against_model(unet, **{**ok, "target_shapes": [(3, 1, 64, 64)]})
    with pytest.raises(
        ValueError, match=_exact(SPATIAL_SIZE.format(axis="X", dim=90, multiple=4))
    ):
        validate_shapes_against_model(unet, **{**ok, "patching_name": "whole"})
    validate_shapes_against_model(
        unet, **{**ok, "patching_name": "whole", "input_shapes": [(1, 1, 96, 64)]}
    )
