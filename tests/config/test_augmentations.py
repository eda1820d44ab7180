from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter

from careamics_dask.config import (
    AugmentationConfig,
    XYFlipConfig,
    XYRandomRotate90Config,
    derive_augmentation_seed,
)


def test_flip_defaults() -> None:
    flip = XYFlipConfig()
    assert (flip.name, flip.flip_x, flip.flip_y, flip.p, flip.seed) == (
        "XYFlip",
        True,
        True,
        0.5,
        None,
    )


def test_rotate_defaults() -> None:
    rotate = XYRandomRotate90Config()
    assert (rotate.name, rotate.p, rotate.seed) == ("XYRandomRotate90", 0.5, None)


@pytest.mark.parametrize("cls", [XYFlipConfig, XYRandomRotate90Config])
@pytest.mark.parametrize("p", [-0.5, 1.01])
def test_probability_range(cls: type[Any], p: float) -> None:
    with pytest.raises(ValueError, match="p\n"):
        cls(p=p)


@pytest.mark.parametrize("cls", [XYFlipConfig, XYRandomRotate90Config])
def test_validate_assignment(cls: type[Any]) -> None:
    augmentation = cls()
    with pytest.raises(ValueError, match="less than or equal to 1"):
        augmentation.p = 2
    assert augmentation.p == 0.5


def test_model_dump_drops_name() -> None:
    assert XYFlipConfig(seed=3).model_dump() == {
        "p": 0.5,
        "seed": 3,
        "flip_x": True,
        "flip_y": True,
    }
    assert XYRandomRotate90Config(p=1).model_dump() == {"p": 1.0, "seed": None}


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        ({"name": "XYFlip"}, XYFlipConfig),
        ({"name": "XYRandomRotate90"}, XYRandomRotate90Config),
    ],
)
def test_union_discriminates_by_name(data: dict[str, Any], cls: type[Any]) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(AugmentationConfig)
    assert type(adapter.validate_python(data)) is cls


@pytest.mark.parametrize("seed", [1, 42, 2**31 - 1, 2**40])
def test_derive_augmentation_seed_rule(seed: int) -> None:
    children = np.random.SeedSequence(seed).spawn(3)
    for index, child in enumerate(children):
        word = int(child.generate_state(1, dtype=np.uint32)[0])
        assert derive_augmentation_seed(seed, index) == word % (2**31 - 1) + 1


def test_derive_augmentation_seed_distinct_and_in_range() -> None:
    seeds = [derive_augmentation_seed(s, i) for s in range(1, 50) for i in range(4)]
    assert len(set(seeds)) == len(seeds)
    assert all(1 <= s <= 2**31 - 1 for s in seeds)
    assert derive_augmentation_seed(42, 0) != 42


@pytest.mark.parametrize(("seed", "index"), [(-1, 0), (1, -1)])
def test_derive_augmentation_seed_negative(seed: int, index: int) -> None:
    with pytest.raises(ValueError, match=f"got seed={seed} and index={index}"):
        derive_augmentation_seed(seed, index)
