"""Pydantic configs of the spatial augmentations, and the rule deriving their seeds.

Differences from CAREamics
--------------------------
- The reference gives every augmentation whose seed is ``None`` the data config's
  seed itself, so a flip and a rotation draw correlated decisions. Here the
  augmentation at position ``i`` of the list gets :func:`derive_augmentation_seed`
  ``(seed, i)``: a seed drawn from ``numpy.random.SeedSequence(seed,
  spawn_key=(i,))``, i.e. from the ``i``-th child of ``SeedSequence(seed).spawn``.
  It is deterministic, distinct per position, and differs from the seed itself.
  Seeds set by the user are kept.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import ConfigDict, Field

from careamics_dask.config._model import ConfigModel

__all__ = [
    "AugmentationConfig",
    "XYFlipConfig",
    "XYRandomRotate90Config",
    "derive_augmentation_seed",
]

logger = logging.getLogger(__name__)

_MAX_SEED = 2**31 - 1


def derive_augmentation_seed(seed: int, index: int) -> int:
    """Derive the seed of the augmentation at ``index`` from the config seed.

    Parameters
    ----------
    seed : int
        The data config's seed (non-negative).
    index : int
        Position of the augmentation in the config's list (non-negative).

    Returns
    -------
    int
        A seed in ``[1, 2**31 - 1]``, the same for the same inputs.

    Raises
    ------
    ValueError
        When ``seed`` or ``index`` is negative.

    Examples
    --------
    >>> derive_augmentation_seed(42, 0) == derive_augmentation_seed(42, 0)
    True
    >>> derive_augmentation_seed(42, 0) != derive_augmentation_seed(42, 1)
    True
    """
    if seed < 0 or index < 0:
        raise ValueError(
            "Augmentation seeds are derived from non-negative seeds and indices: "
            f"expected seed >= 0 and index >= 0, got seed={seed} and index={index}."
        )
    sequence = np.random.SeedSequence(seed, spawn_key=(index,))
    word = int(sequence.generate_state(1, dtype=np.uint32)[0])
    return word % _MAX_SEED + 1


class _AugmentationBase(ConfigModel):
    """Fields every augmentation shares."""

    model_config = ConfigDict(
        extra="ignore", validate_assignment=True, revalidate_instances="always"
    )

    name: str
    """The name of the augmentation."""

    p: float = Field(default=0.5, ge=0, le=1)
    """Probability of applying the augmentation to a patch."""

    seed: int | None = None
    """Seed of the augmentation's decisions; ``None`` derives one from the data
    config's seed."""

    def model_dump(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Dump the parameters without ``name``, to pass them to a transform.

        Parameters
        ----------
        *args : Any
            Passed to :meth:`pydantic.BaseModel.model_dump`.
        **kwargs : Any
            Passed to :meth:`pydantic.BaseModel.model_dump`.

        Returns
        -------
        dict of str to Any
            The fields except ``name``.
        """
        dump = super().model_dump(*args, **kwargs)
        dump.pop("name", None)
        return dump


class XYFlipConfig(_AugmentationBase):
    """Flip patches along X and/or Y.

    Examples
    --------
    >>> XYFlipConfig(flip_y=False, seed=1).model_dump()
    {'p': 0.5, 'seed': 1, 'flip_x': True, 'flip_y': False}
    """

    name: Literal["XYFlip"] = "XYFlip"

    flip_x: bool = True
    """Whether flips along X may happen."""

    flip_y: bool = True
    """Whether flips along Y may happen."""


class XYRandomRotate90Config(_AugmentationBase):
    """Rotate patches by a random multiple of 90 degrees in the XY plane.

    Examples
    --------
    >>> XYRandomRotate90Config().name
    'XYRandomRotate90'
    """

    name: Literal["XYRandomRotate90"] = "XYRandomRotate90"


AugmentationConfig = Annotated[
    XYFlipConfig | XYRandomRotate90Config, Field(discriminator="name")
]
"""The augmentation configs a :class:`DataConfig` accepts, told apart by ``name``."""
