"""Validation rules of single DataConfig fields, used as ``Annotated`` validators.

Each rule checks (or fills a default of) its own field; it may read fields declared
before it through ``info.data``. When such a field failed validation the rule skips
the check that needs it, so the error is reported once. The differences from
CAREamics these rules make are listed in :mod:`careamics_dask.config.data_config`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.axes import check_axes_validity, check_czi_axes_validity, is_3d_axes
from careamics_dask.config.defaults import is_cuda_available
from careamics_dask.config.patch_filter import (
    MaxPatchFilterConfig,
    default_filter_coverage,
)
from careamics_dask.config.support import Mode
from careamics_dask.errors import CareamicsDaskWarning

if TYPE_CHECKING:
    from pydantic import ValidationInfo

__all__ = [
    "check_axes",
    "check_filter_mode",
    "check_in_memory",
    "check_no_batch_size",
    "check_patching_mode",
    "check_shuffle",
    "normalize_channels",
    "set_default_max_coverage",
    "set_default_pin_memory",
    "set_default_workers",
]

logger = logging.getLogger(__name__)

_PATCHING_PER_MODE = {
    Mode.TRAINING: (("random", "stratified"), "'stratified' or 'random'"),
    Mode.VALIDATING: (("fixed_random",), "'fixed_random'"),
    Mode.PREDICTING: (("tiled", "whole"), "'tiled' or 'whole'"),
}


def check_axes(axes: str | None, info: ValidationInfo) -> str | None:
    """Check axes with the rules of the data type and return them in upper case.

    Parameters
    ----------
    axes : str or None
        The axes (``axes`` or ``target_axes``).
    info : pydantic.ValidationInfo
        The fields validated so far (``data_type``).

    Returns
    -------
    str or None
        The axes in upper case.

    Raises
    ------
    ValueError
        When ``data_type`` failed validation, or the axes are invalid.
    """
    if axes is None:
        return None
    if "data_type" not in info.data:
        raise ValueError(
            "Validation for `data_type` may have failed. Check for typos or missing "
            "field."
        )
    if info.data["data_type"] == "czi":
        if not check_czi_axes_validity(axes.upper()):
            raise ValueError(
                f"Invalid axes '{axes}' for CZI format. Axes must be in the "
                "`SC(Z/T)YX` format, where Z or T are optional, and S and C can be "
                "singleton dimensions, but must be provided."
            )
    else:
        check_axes_validity(axes)
    return axes.upper()


def check_in_memory(in_memory: bool, info: ValidationInfo) -> bool:
    """Require ``in_memory=True`` for arrays (any value suits other data types).

    Parameters
    ----------
    in_memory : bool
        The value.
    info : pydantic.ValidationInfo
        The fields validated so far (``data_type``).

    Returns
    -------
    bool
        The value, unchanged.

    Raises
    ------
    ValueError
        When ``in_memory`` is False for ``"array"`` data.
    """
    if not in_memory and info.data.get("data_type") == "array":
        raise ValueError('`in_memory` must be True for "array" `data_type`.')
    return in_memory


def normalize_channels(channels: Any, info: ValidationInfo) -> Any:
    """Check a channel selection; an int becomes a list and an empty one None.

    Parameters
    ----------
    channels : Any
        The channels as given.
    info : pydantic.ValidationInfo
        The fields validated so far (``axes``).

    Returns
    -------
    list of int or None
        The channels.

    Raises
    ------
    ValueError
        When ``C`` is not in the axes, or the channels are not distinct non-negative
        integers.
    """
    if channels is None or "axes" not in info.data:
        return channels
    if "C" not in info.data["axes"]:
        raise ValueError("Channels must be `None` if 'C' is not present in `axes`.")
    if isinstance(channels, int | np.integer):
        channels = [channels]
    if not isinstance(channels, Sequence):
        # ValueError, not TypeError: pydantic reports only ValueErrors as invalid input
        raise ValueError("Channels must be a sequence of integers.")  # noqa: TRY004
    if len(channels) == 0:
        return None
    if not all(isinstance(ch, int | np.integer) for ch in channels):
        raise ValueError("Channels must be integers.")
    if any(ch < 0 for ch in channels):
        raise ValueError("Channels must be non-negative integers.")
    if len(set(channels)) != len(channels):
        raise ValueError("Channels must not contain duplicates.")
    return [int(ch) for ch in channels]


def check_patching_mode(patching: Any, info: ValidationInfo) -> Any:
    """Check that the patching strategy suits the mode.

    Training takes random or stratified patches, validation fixed random ones, and
    prediction tiles or whole images.

    Parameters
    ----------
    patching : PatchingConfig
        The patching config.
    info : pydantic.ValidationInfo
        The fields validated so far (``mode``).

    Returns
    -------
    PatchingConfig
        The config, unchanged.

    Raises
    ------
    ValueError
        When the strategy is not one allowed in the mode.
    """
    mode = info.data.get("mode")
    if mode is None:
        return patching
    allowed, hint = _PATCHING_PER_MODE[mode]
    if patching.name not in allowed:
        raise ValueError(
            f"Patching strategy '{patching.name}' is not compatible with mode "
            f"'{mode}'. Use {hint} for {mode}."
        )
    return patching


def check_filter_mode(filter_: Any, info: ValidationInfo) -> Any:
    """Allow filters in training mode only.

    Parameters
    ----------
    filter_ : PatchFilterConfig or MaskPatchFilterConfig or None
        The filter.
    info : pydantic.ValidationInfo
        The fields validated so far (``mode``).

    Returns
    -------
    PatchFilterConfig or MaskPatchFilterConfig or None
        The filter, unchanged.

    Raises
    ------
    ValueError
        When a filter is set outside training mode.
    """
    mode = info.data.get("mode")
    if filter_ is not None and mode is not None and mode != Mode.TRAINING:
        raise ValueError(
            f"Filtering '{filter_.name}' only allowed in 'training' mode, got mode "
            f"'{mode}'."
        )
    return filter_


def set_default_max_coverage(filter_: Any, info: ValidationInfo) -> Any:
    """Give a max filter without an explicit coverage the default ``1 / 2**ndims``.

    Parameters
    ----------
    filter_ : PatchFilterConfig or None
        The filter (a copy owned by the config).
    info : pydantic.ValidationInfo
        The fields validated so far (``data_type``, ``axes``).

    Returns
    -------
    PatchFilterConfig or None
        The filter, with the default coverage of the data's dimensionality.
    """
    if (
        isinstance(filter_, MaxPatchFilterConfig)
        and "coverage" not in filter_.model_fields_set
        and "axes" in info.data
    ):
        is_3d = is_3d_axes(info.data["axes"], info.data["data_type"])
        filter_.coverage = default_filter_coverage(is_3d)
    return filter_


def set_default_pin_memory(params: Any) -> Any:
    """Set ``pin_memory`` to whether CUDA is available, unless it is given.

    Parameters
    ----------
    params : Any
        The dataloader parameters as given.

    Returns
    -------
    Any
        A copy of a dict with ``pin_memory``; other input unchanged.
    """
    if isinstance(params, dict) and "pin_memory" not in params:
        return {**params, "pin_memory": is_cuda_available()}
    return params


def check_no_batch_size(params: dict[str, Any]) -> dict[str, Any]:
    """Reject ``batch_size`` in dataloader parameters.

    Parameters
    ----------
    params : dict of str to Any
        The dataloader parameters.

    Returns
    -------
    dict of str to Any
        The parameters, unchanged.

    Raises
    ------
    ValueError
        When ``batch_size`` is among them.
    """
    if "batch_size" in params:
        raise ValueError(
            "`batch_size` should not be set in the dataloader parameters. Use the "
            "`batch_size` field of `DataConfig` instead."
        )
    return params


def check_shuffle(params: dict[str, Any]) -> dict[str, Any]:
    """Require ``shuffle`` in training parameters, and warn when it is False.

    Parameters
    ----------
    params : dict of str to Any
        The training dataloader parameters.

    Returns
    -------
    dict of str to Any
        The parameters, unchanged.

    Raises
    ------
    ValueError
        When ``shuffle`` is missing.
    """
    if "shuffle" not in params:
        raise ValueError(
            "`train_dataloader_params` must include the `shuffle` parameter."
        )
    if not params["shuffle"]:
        warnings.warn(
            "`train_dataloader_params` includes `shuffle=False`, which may lead to "
            "lower quality results. Consider setting `shuffle=True` to ensure the best "
            "training performance.",
            CareamicsDaskWarning,
            stacklevel=2,
        )
    return params


def set_default_workers(params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    """Fill ``num_workers`` and ``persistent_workers`` unless they are given.

    Parameters
    ----------
    params : dict of str to Any
        The dataloader parameters.
    info : pydantic.ValidationInfo
        The fields validated so far (``num_workers``).

    Returns
    -------
    dict of str to Any
        A copy with the config's ``num_workers`` and, when that is positive,
        ``persistent_workers=True``.
    """
    if "num_workers" not in info.data:
        return params
    params = dict(params)
    params.setdefault("num_workers", info.data["num_workers"])
    if params["num_workers"] > 0:
        params.setdefault("persistent_workers", True)
    return params
