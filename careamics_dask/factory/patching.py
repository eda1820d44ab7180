"""Build a patching strategy from its pydantic configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from careamics_dask.config.patching import (
    FixedRandomPatchingConfig,
    RandomPatchingConfig,
    SequentialPatchingConfig,
    StratifiedPatchingConfig,
    TiledPatchingConfig,
    WholePatchingConfig,
)
from careamics_dask.patching import (
    FixedRandomPatching,
    RandomPatching,
    SequentialPatching,
    StratifiedPatching,
    TiledPatching,
    WholePatching,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pydantic import BaseModel

    from careamics_dask.patching import PatchingStrategy

__all__ = ["create_patching"]


def create_patching(
    data_shapes: Sequence[Sequence[int]], config: BaseModel
) -> PatchingStrategy:
    """Return the strategy a patching config describes, for these image stacks.

    Parameters
    ----------
    data_shapes : sequence of sequence of int
        Image-stack shapes, axes ``S C (Z) Y X``.
    config : pydantic.BaseModel
        A config of :mod:`careamics_dask.config.patching`: random, fixed_random,
        stratified, tiled, sequential or whole.

    Returns
    -------
    PatchingStrategy
        ``RandomPatching``, ``FixedRandomPatching``, ``StratifiedPatching``,
        ``TiledPatching``, ``SequentialPatching`` or ``WholePatching``.

    Raises
    ------
    ValueError
        For any other config (``"Unsupported patching: {name}"``).

    Examples
    --------
    >>> from careamics_dask.config.patching import StratifiedPatchingConfig
    >>> config = StratifiedPatchingConfig(patch_size=[32, 32], seed=42)
    >>> patching = create_patching([(2, 1, 64, 64)], config)
    >>> type(patching).__name__, patching.n_patches
    ('StratifiedPatching', 8)
    """
    match config:
        case RandomPatchingConfig():
            return RandomPatching(data_shapes, config.patch_size, config.seed)
        case FixedRandomPatchingConfig():
            return FixedRandomPatching(data_shapes, config.patch_size, config.seed)
        case StratifiedPatchingConfig():
            return StratifiedPatching(data_shapes, config.patch_size, config.seed)
        case TiledPatchingConfig():
            return TiledPatching(data_shapes, config.patch_size, config.overlaps)
        case SequentialPatchingConfig():
            return SequentialPatching(data_shapes, config.patch_size, config.overlaps)
        case WholePatchingConfig():
            return WholePatching(data_shapes)
        case _:
            name = getattr(config, "name", type(config).__name__)
            raise ValueError(f"Unsupported patching: {name}")
