"""Pydantic configs of the patching strategies: patch sizes, overlaps and seeds.

Differences from CAREamics
--------------------------
- ``patch_size`` and ``overlaps`` are stored as lists whatever sequence was given,
  so a config saved to YAML and loaded back compares equal.
- The configs validate assignments and copy instances passed to a
  :class:`~careamics_dask.config.DataConfig`, so seed propagation never changes
  the caller's object.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from careamics_dask.config._model import ConfigModel

__all__ = [
    "FixedRandomPatchingConfig",
    "PatchingConfig",
    "RandomPatchingConfig",
    "SequentialPatchingConfig",
    "StratifiedPatchingConfig",
    "TiledPatchingConfig",
    "WholePatchingConfig",
]

logger = logging.getLogger(__name__)

_MODEL_CONFIG = ConfigDict(
    extra="ignore", validate_assignment=True, revalidate_instances="always"
)


def _check_squared_in_yx(patch_size: list[int]) -> list[int]:
    """Require the last two (Y and X) patch sizes to be equal."""
    if patch_size[-1] != patch_size[-2]:
        raise ValueError(
            f"Patch size must be squared in YX, but got sizes {patch_size[-1]} and "
            f"{patch_size[-2]}."
        )
    return patch_size


PatchSize = Annotated[
    list[int], Field(min_length=2, max_length=3), AfterValidator(_check_squared_in_yx)
]
"""Two or three patch sizes (``(Z,) Y, X``), equal in Y and X."""


class _PatchedConfig(ConfigModel):
    """Base of the strategies that cut patches of a fixed size."""

    model_config = _MODEL_CONFIG

    name: str
    """The name of the patching strategy."""

    patch_size: PatchSize
    """Patch size along ``(Z,) Y, X``; Y and X must be equal, Z may differ."""


class _SeededPatchedConfig(_PatchedConfig):
    """Base of the strategies that draw patch positions at random."""

    seed: int | None = Field(default=None, gt=0)
    """Seed of the patch positions; ``None`` takes the data config's seed."""


class RandomPatchingConfig(_SeededPatchedConfig):
    """Patches at uniformly random positions, drawn anew every epoch.

    Examples
    --------
    >>> RandomPatchingConfig(patch_size=[64, 64]).seed is None
    True
    """

    name: Literal["random"] = "random"


class FixedRandomPatchingConfig(_SeededPatchedConfig):
    """Patches at random positions drawn once and kept for every epoch (validation).

    Examples
    --------
    >>> FixedRandomPatchingConfig(patch_size=(16, 64, 64), seed=3).patch_size
    [16, 64, 64]
    """

    name: Literal["fixed_random"] = "fixed_random"


class StratifiedPatchingConfig(_SeededPatchedConfig):
    """Patches drawn at random inside each cell of a grid, covering the whole image.

    Examples
    --------
    >>> StratifiedPatchingConfig(patch_size=[32, 32]).name
    'stratified'
    """

    name: Literal["stratified"] = "stratified"


class _OverlappingPatchedConfig(_PatchedConfig):
    """Base of the strategies that tile the image with overlapping patches."""

    overlaps: list[int] | None = Field(default=None, min_length=2, max_length=3)
    """Overlap between neighbouring patches along ``(Z,) Y, X``; even, smaller than
    the patch size."""

    @field_validator("overlaps")
    @classmethod
    def validate_overlaps(
        cls, overlaps: list[int] | None, info: ValidationInfo
    ) -> list[int] | None:
        """Check overlaps against the patch size: same length, smaller, even.

        Parameters
        ----------
        overlaps : list of int or None
            The overlaps.
        info : pydantic.ValidationInfo
            The fields validated so far.

        Returns
        -------
        list of int or None
            The overlaps, unchanged.

        Raises
        ------
        ValueError
            When ``patch_size`` failed validation, or the overlaps have another
            length than the patch size, are not smaller, or are odd.
        """
        if overlaps is None:
            return None
        if "patch_size" not in info.data:
            raise ValueError(
                "Cannot validate overlaps because of undefined patch size. There may "
                " be validation errors in `patch_size`."
            )
        patch_size: list[int] = info.data["patch_size"]
        if len(overlaps) != len(patch_size):
            raise ValueError(
                "Overlaps must have the same number of dimensions as the patch size. "
                f"Got {len(overlaps)} dimensions for overlaps and {len(patch_size)} "
                "dimensions for patch size."
            )
        if any(o >= p for o, p in zip(overlaps, patch_size, strict=True)):
            raise ValueError(
                f"Overlap must be smaller than the patch size, got {overlaps} versus "
                f"{patch_size}."
            )
        if any(o % 2 != 0 for o in overlaps):
            raise ValueError(f"Overlaps must be even, got {overlaps}.")
        return overlaps


class TiledPatchingConfig(_OverlappingPatchedConfig):
    """Overlapping tiles covering whole images, for prediction with stitching.

    Examples
    --------
    >>> TiledPatchingConfig(patch_size=[64, 64], overlaps=[16, 16]).overlaps
    [16, 16]
    """

    name: Literal["tiled"] = "tiled"

    overlaps: list[int] = Field(min_length=2, max_length=3)
    """Overlap between neighbouring tiles along ``(Z,) Y, X`` (required)."""


class SequentialPatchingConfig(_OverlappingPatchedConfig):
    """Patches on a regular grid, optionally overlapping (not accepted by DataConfig).

    Examples
    --------
    >>> SequentialPatchingConfig(patch_size=[32, 32]).overlaps is None
    True
    """

    name: Literal["sequential"] = "sequential"


class WholePatchingConfig(ConfigModel):
    """Whole images as single patches, for prediction.

    Examples
    --------
    >>> WholePatchingConfig().name
    'whole'
    """

    model_config = _MODEL_CONFIG

    name: Literal["whole"] = "whole"


PatchingConfig = Annotated[
    FixedRandomPatchingConfig
    | RandomPatchingConfig
    | StratifiedPatchingConfig
    | TiledPatchingConfig
    | WholePatchingConfig,
    Field(discriminator="name"),
]
"""The patching configs a :class:`DataConfig` accepts, told apart by ``name``."""
