"""Pydantic configs of the background filters that down-weight empty patches.

Differences from CAREamics
--------------------------
- ``MeanSTDPatchFilterConfig`` is spelled :class:`MeanStdPatchFilterConfig` (no
  abbreviation in capitals), as in ``reference_semantics.md``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from careamics_dask.config._model import ConfigModel

__all__ = [
    "MaskPatchFilterConfig",
    "MaxPatchFilterConfig",
    "MeanStdPatchFilterConfig",
    "PatchFilterConfig",
    "ShannonPatchFilterConfig",
    "default_filter_coverage",
]

logger = logging.getLogger(__name__)


def default_filter_coverage(is_3d: bool) -> float:
    """Return the default fraction of a patch that must lie in foreground regions.

    It is ``1 / 2**ndims``: one quadrant in 2-D, one octant in 3-D.

    Parameters
    ----------
    is_3d : bool
        Whether the data are volumes.

    Returns
    -------
    float
        0.25 for 2-D data, 0.125 for 3-D data.

    Examples
    --------
    >>> default_filter_coverage(False), default_filter_coverage(True)
    (0.25, 0.125)
    """
    ndims = 3 if is_3d else 2
    return 0.5**ndims


class _PatchFilterBase(ConfigModel):
    """Fields every filter shares."""

    model_config = ConfigDict(
        extra="ignore", validate_assignment=True, revalidate_instances="always"
    )

    name: str
    """The name of the filter."""

    ref_channel: int = 0
    """Channel of the raw data (before channel selection) the filter looks at."""

    filtered_patch_prob: float = Field(default=0.1, ge=0, le=1)
    """Selection weight per epoch kept by a region classified as background."""


class MaxPatchFilterConfig(_PatchFilterBase):
    """Background where the maximum of a region stays below ``threshold``.

    Examples
    --------
    >>> MaxPatchFilterConfig(threshold=0.5).coverage
    0.25
    """

    name: Literal["max"] = "max"

    threshold: float
    """Regions whose maximum is below this value are background."""

    coverage: float = Field(default=0.25, ge=0, le=1)
    """Fraction of a patch that must be foreground; when not given, a
    :class:`DataConfig` sets it to ``1 / 2**ndims``."""


class MeanStdPatchFilterConfig(_PatchFilterBase):
    """Background where the mean (and optionally the std) stay below thresholds.

    Examples
    --------
    >>> MeanStdPatchFilterConfig(mean_threshold=0.5).std_threshold is None
    True
    """

    name: Literal["mean_std"] = "mean_std"

    mean_threshold: float
    """Regions whose mean is below this value are background."""

    std_threshold: float | None = None
    """If given, regions must also have a std below this value to be background."""


class ShannonPatchFilterConfig(_PatchFilterBase):
    """Background where the Shannon entropy of a region stays below ``threshold``.

    Examples
    --------
    >>> ShannonPatchFilterConfig(threshold=2.0).name
    'shannon'
    """

    name: Literal["shannon"] = "shannon"

    threshold: float
    """Regions whose entropy is below this value are background."""


class MaskPatchFilterConfig(_PatchFilterBase):
    """Background where a user-given mask covers less than ``coverage`` of a patch.

    Examples
    --------
    >>> MaskPatchFilterConfig(coverage=0.125).coverage
    0.125
    """

    name: Literal["mask"] = "mask"

    coverage: float = Field(default=0.25, ge=0, le=1)
    """Fraction of a patch the mask must cover."""


PatchFilterConfig = Annotated[
    MaxPatchFilterConfig | MeanStdPatchFilterConfig | ShannonPatchFilterConfig,
    Field(discriminator="name"),
]
"""The value-based patch filters a :class:`DataConfig` accepts, told apart by
``name``."""
