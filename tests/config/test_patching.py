from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from careamics_dask.config import (
    DataConfig,
    FixedRandomPatchingConfig,
    PatchingConfig,
    RandomPatchingConfig,
    SequentialPatchingConfig,
    StratifiedPatchingConfig,
    TiledPatchingConfig,
    WholePatchingConfig,
)

PATCHED = [RandomPatchingConfig, FixedRandomPatchingConfig, StratifiedPatchingConfig]
ADAPTER: TypeAdapter[Any] = TypeAdapter(PatchingConfig)


@pytest.mark.parametrize("cls", PATCHED)
@pytest.mark.parametrize("patch_size", [[32, 32], [16, 32, 32], [13, 13], [8, 8]])
def test_is_squared_in_yx_valid(
    cls: type[RandomPatchingConfig], patch_size: list[int]
) -> None:
    # no power-of-two or minimum-size rule in the data config
    assert cls(patch_size=patch_size).patch_size == patch_size


@pytest.mark.parametrize("cls", [*PATCHED, SequentialPatchingConfig])
@pytest.mark.parametrize(
    ("patch_size", "sizes"),
    [([32, 16], "16 and 32"), ([16, 32], "32 and 16"), ([16, 16, 32], "32 and 16")],
)
def test_is_squared_in_yx_invalid(
    cls: type[RandomPatchingConfig], patch_size: list[int], sizes: str
) -> None:
    with pytest.raises(
        ValueError, match=f"Patch size must be squared in YX, but got sizes {sizes}."
    ):
        cls(patch_size=patch_size)


@pytest.mark.parametrize("patch_size", [[32], [8, 8, 8, 8], []])
def test_patch_size_length(patch_size: list[int]) -> None:
    with pytest.raises(ValueError, match=r"at (least 2|most 3) items"):
        RandomPatchingConfig(patch_size=patch_size)


def test_sequences_stored_as_lists() -> None:
    config = TiledPatchingConfig(patch_size=(16, 16), overlaps=(4, 4))
    assert config.patch_size == [16, 16]
    assert config.overlaps == [4, 4]


@pytest.mark.parametrize("cls", PATCHED)
def test_seed(cls: type[RandomPatchingConfig]) -> None:
    assert cls(patch_size=[8, 8]).seed is None
    assert cls(patch_size=[8, 8], seed=5).seed == 5
    with pytest.raises(ValueError, match="greater than 0"):
        cls(patch_size=[8, 8], seed=0)


@pytest.mark.parametrize(
    ("overlaps", "message"),
    [
        (
            [2, 2, 2],
            "Overlaps must have the same number of dimensions as the patch size. Got 3 "
            "dimensions for overlaps and 2 dimensions for patch size.",
        ),
        (
            [16, 2],
            r"Overlap must be smaller than the patch size, got \[16, 2\] versus "
            r"\[16, 16\].",
        ),
        ([20, 2], "Overlap must be smaller than the patch size"),
        ([3, 2], r"Overlaps must be even, got \[3, 2\]."),
        ([2], "at least 2 items"),
    ],
)
@pytest.mark.parametrize("cls", [TiledPatchingConfig, SequentialPatchingConfig])
def test_overlaps_invalid(
    cls: type[TiledPatchingConfig], overlaps: list[int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        cls(patch_size=[16, 16], overlaps=overlaps)


def test_overlaps_need_a_valid_patch_size() -> None:
    with pytest.raises(ValidationError) as info:
        TiledPatchingConfig(patch_size=[16, 8], overlaps=[2, 2])
    messages = [error["msg"] for error in info.value.errors()]
    assert any("Patch size must be squared" in m for m in messages)
    assert any(
        "Cannot validate overlaps because of undefined patch size. There may  be "
        "validation errors in `patch_size`." in m
        for m in messages
    )


def test_overlaps_valid() -> None:
    assert TiledPatchingConfig(patch_size=[8, 16, 16], overlaps=[2, 4, 6]).overlaps == [
        2,
        4,
        6,
    ]
    assert SequentialPatchingConfig(patch_size=[16, 16]).overlaps is None
    with pytest.raises(ValueError, match="Field required"):
        TiledPatchingConfig(patch_size=[16, 16])  # type: ignore[call-arg]


def test_validate_assignment() -> None:
    config = RandomPatchingConfig(patch_size=[16, 16])
    with pytest.raises(ValueError, match="Patch size must be squared"):
        config.patch_size = [16, 8]
    assert config.patch_size == [16, 16]


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        ({"name": "random", "patch_size": [8, 8]}, RandomPatchingConfig),
        ({"name": "fixed_random", "patch_size": [8, 8]}, FixedRandomPatchingConfig),
        ({"name": "stratified", "patch_size": [8, 8]}, StratifiedPatchingConfig),
        (
            {"name": "tiled", "patch_size": [8, 8], "overlaps": [2, 2]},
            TiledPatchingConfig,
        ),
        ({"name": "whole"}, WholePatchingConfig),
    ],
)
def test_union_discriminates_by_name(data: dict[str, Any], cls: type[Any]) -> None:
    assert type(ADAPTER.validate_python(data)) is cls


def test_union_rejects_sequential() -> None:
    with pytest.raises(ValueError, match="does not match any of the expected tags"):
        ADAPTER.validate_python({"name": "sequential", "patch_size": [8, 8]})


def test_extra_fields_ignored() -> None:
    config = RandomPatchingConfig(patch_size=[8, 8], coord_filter="x")
    assert "coord_filter" not in config.model_dump()


def test_instance_not_changed_by_data_config(config_dict: Any) -> None:
    patching = StratifiedPatchingConfig(patch_size=[32, 32])
    config = DataConfig(**config_dict(patching=None, seed=7) | {"patching": patching})
    assert isinstance(config.patching, StratifiedPatchingConfig)
    assert config.patching.seed == 7
    assert patching.seed is None
