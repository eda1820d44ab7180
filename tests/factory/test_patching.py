from __future__ import annotations

import pytest
from pydantic import BaseModel

from careamics_dask.config.patching import (
    FixedRandomPatchingConfig,
    RandomPatchingConfig,
    SequentialPatchingConfig,
    StratifiedPatchingConfig,
    TiledPatchingConfig,
    WholePatchingConfig,
)
from careamics_dask.factory.patching import create_patching
from careamics_dask.patching import (
    FixedRandomPatching,
    RandomPatching,
    SequentialPatching,
    StratifiedPatching,
    TiledPatching,
    WholePatching,
)

SHAPES = [(2, 1, 32, 32), (1, 1, 19, 37)]


@pytest.mark.parametrize(
    ("config", "cls"),
    [
        (RandomPatchingConfig(patch_size=[8, 8], seed=3), RandomPatching),
        (FixedRandomPatchingConfig(patch_size=[8, 8], seed=3), FixedRandomPatching),
        (StratifiedPatchingConfig(patch_size=[8, 8], seed=3), StratifiedPatching),
        (TiledPatchingConfig(patch_size=[8, 8], overlaps=[2, 2]), TiledPatching),
        (
            SequentialPatchingConfig(patch_size=[8, 8], overlaps=[2, 2]),
            SequentialPatching,
        ),
        (WholePatchingConfig(), WholePatching),
    ],
)
def test_config_to_strategy(config: BaseModel, cls: type) -> None:
    patching = create_patching(SHAPES, config)
    assert type(patching) is cls
    if hasattr(config, "seed"):
        assert patching.seed == 3  # type: ignore[attr-defined]
        assert patching.table(1) == create_patching(SHAPES, config).table(1)


def test_unsupported_config() -> None:
    class OtherPatchingConfig(BaseModel):
        name: str = "other"

    with pytest.raises(ValueError, match="Unsupported patching: other"):
        create_patching(SHAPES, OtherPatchingConfig())
