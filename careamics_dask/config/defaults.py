"""Default values of DataConfig fields that depend on the platform or other fields."""

from __future__ import annotations

import logging
import os
import platform
import random
import sys
from typing import Any

from careamics_dask.axes import is_3d_axes
from careamics_dask.config.augmentations import XYFlipConfig, XYRandomRotate90Config
from careamics_dask.config.patch_filter import (
    MaskPatchFilterConfig,
    default_filter_coverage,
)
from careamics_dask.config.support import Mode

__all__ = [
    "create_default_augmentations",
    "create_mask_filter",
    "default_in_memory",
    "generate_random_seed",
    "get_default_num_workers",
    "is_cuda_available",
]

logger = logging.getLogger(__name__)


def generate_random_seed() -> int:
    """Draw a fresh seed for a config that was given none.

    Returns
    -------
    int
        A seed in ``[1, 2**31 - 1]``.

    Examples
    --------
    >>> 1 <= generate_random_seed() <= 2**31 - 1
    True
    """
    return random.randint(1, 2**31 - 1)


def get_default_num_workers() -> int:
    """Return the default number of data-loading workers for this platform.

    0 under pytest, on Windows and on macOS (spawn-based workers start slowly);
    otherwise one less than the CPU count, at most 4.

    Returns
    -------
    int
        The default number of workers.

    Examples
    --------
    >>> get_default_num_workers()  # doctests run under pytest
    0
    """
    if "pytest" in sys.modules:
        return 0
    if platform.system() in ("Windows", "Darwin"):
        return 0
    available = max(0, (os.cpu_count() or 0) - 1)
    return min(available, 4)


def default_in_memory(validated: dict[str, Any]) -> bool:
    """Return the default of ``in_memory``: False for zarr and czi, else True.

    Parameters
    ----------
    validated : dict of str to Any
        The fields validated so far.

    Returns
    -------
    bool
        False when ``data_type`` is ``"zarr"`` or ``"czi"``.

    Examples
    --------
    >>> default_in_memory({"data_type": "zarr"}), default_in_memory({})
    (False, True)
    """
    return validated.get("data_type") not in ("zarr", "czi")


def create_mask_filter(validated: dict[str, Any]) -> MaskPatchFilterConfig | None:
    """Return the default mask filter: one in training mode, else None.

    Its coverage is ``1 / 2**ndims`` for the dimensionality given by the axes.

    Parameters
    ----------
    validated : dict of str to Any
        The fields validated so far (``mode``, ``data_type``, ``axes``).

    Returns
    -------
    MaskPatchFilterConfig or None
        The default mask filter for training, None in other modes.

    Examples
    --------
    >>> create_mask_filter({"mode": "training", "data_type": "tiff", "axes": "ZYX"})
    MaskPatchFilterConfig(name='mask', ref_channel=0, filtered_patch_prob=0.1, coverage=0.125)
    """  # noqa: E501
    if validated.get("mode") != Mode.TRAINING:
        return None
    is_3d = is_3d_axes(validated.get("axes", ""), validated.get("data_type"))
    return MaskPatchFilterConfig(coverage=default_filter_coverage(is_3d))


def create_default_augmentations() -> list[XYFlipConfig | XYRandomRotate90Config]:
    """Return the default augmentations: a flip, then a 90-degree rotation.

    Returns
    -------
    list of XYFlipConfig or XYRandomRotate90Config
        New configs without seeds.

    Examples
    --------
    >>> [aug.name for aug in create_default_augmentations()]
    ['XYFlip', 'XYRandomRotate90']
    """
    return [XYFlipConfig(), XYRandomRotate90Config()]


def is_cuda_available() -> bool:
    """Tell whether torch is installed and sees a CUDA device.

    torch is imported here, lazily; without it the answer is False.

    Returns
    -------
    bool
        ``torch.cuda.is_available()``, or False when torch is missing.

    Examples
    --------
    >>> isinstance(is_cuda_available(), bool)
    True
    """
    try:
        import torch  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
