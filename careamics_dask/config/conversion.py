"""Turn a training DataConfig into the fields of a validation or prediction config.

``DataConfig.convert_mode`` builds the new config from :func:`converted_fields`.

Differences from CAREamics
--------------------------
- A ``new_channels`` string other than ``"all"`` raises a clear error.
- The message refusing conversion to training names ``create_data_configuration``
  (the reference named ``create_ng_data_configuration``).
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any, Literal

from careamics_dask.config.compatibility import are_spatial_dims_maintained
from careamics_dask.config.patching import (
    FixedRandomPatchingConfig,
    TiledPatchingConfig,
    WholePatchingConfig,
)
from careamics_dask.config.support import Mode
from careamics_dask.errors import CareamicsDaskWarning

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


__all__ = ["converted_fields", "converted_patching", "validate_channel_conversion"]

logger = logging.getLogger(__name__)


def validate_channel_conversion(
    old_axes: str,
    old_channels: Sequence[int] | None,
    new_axes: str,
    new_channels: Sequence[int] | None,
) -> None:
    """Check that a change of axes and channel selection keeps channels consistent.

    Adding ``C`` needs a single (or no) selected channel; removing ``C`` needs that
    at most one channel was selected; two selections must have the same length.

    Parameters
    ----------
    old_axes : str
        The current axes.
    old_channels : sequence of int or None
        The current channel selection (None: all channels).
    new_axes : str
        The new axes.
    new_channels : sequence of int or None
        The new channel selection (None: all channels).

    Raises
    ------
    ValueError
        When the conversion would change the number of channels.

    Warns
    -----
    CareamicsDaskWarning
        When ``C`` is added without selecting a channel, or when all channels are
        replaced by a selection.

    Examples
    --------
    >>> validate_channel_conversion("CYX", [0], "YX", None)
    >>> validate_channel_conversion("CYX", [0, 2], "CYX", [1])
    Traceback (most recent call last):
    ...
    ValueError: Cannot switch between axes with different number of channels. New channels length (1) does not match current channels length (2).
    """  # noqa: E501
    adding_c = "C" in new_axes and "C" not in old_axes
    removing_c = "C" not in new_axes and "C" in old_axes
    if adding_c:
        if new_channels is None:
            warnings.warn(
                f"When switching to axes with 'C' (got {new_axes}) from axes "
                f"{old_axes}, errors may be raised in the model if the channel "
                "dimension in the data is not a singleton dimension. To select a "
                "specific channel, use the `new_channels` parameter (e.g. "
                "`new_channels=[1]`).",
                CareamicsDaskWarning,
                stacklevel=2,
            )
        elif len(new_channels) != 1:
            raise ValueError(
                f"Cannot switch to axes with 'C' (got {new_axes}) from axes "
                f"{old_axes}, select a single channel using the `new_channels` "
                f"parameter (got channels {new_channels})."
            )
    elif removing_c and old_channels is not None and len(old_channels) != 1:
        raise ValueError(
            f"Cannot switch to axes without 'C' (got {new_axes}) from axes "
            f"{old_axes} when multiple channels were originally specified "
            f"({old_channels})."
        )

    if old_channels is not None and new_channels is not None:
        if len(new_channels) != len(old_channels):
            raise ValueError(
                "Cannot switch between axes with different number of channels. New "
                f"channels length ({len(new_channels)}) does not match current "
                f"channels length ({len(old_channels)})."
            )
    elif old_channels is None and new_channels is not None:
        warnings.warn(
            "Switching from all channels (`channels=None`) to specifying channels "
            f"{new_channels} may lead to errors if {new_channels} are not covering "
            "all channels.",
            CareamicsDaskWarning,
            stacklevel=2,
        )


def converted_patching(
    new_mode: str,
    patch_size: Sequence[int],
    new_patch_size: Sequence[int] | None = None,
    overlap_size: Sequence[int] | None = None,
) -> FixedRandomPatchingConfig | TiledPatchingConfig | WholePatchingConfig:
    """Build the patching of a config converted to ``new_mode``.

    Parameters
    ----------
    new_mode : {"validating", "predicting"}
        The new mode.
    patch_size : sequence of int
        The training patch size.
    new_patch_size : sequence of int, optional
        The new patch (tile) size.
    overlap_size : sequence of int, optional
        The tile overlaps; required with ``new_patch_size`` when predicting.

    Returns
    -------
    FixedRandomPatchingConfig or TiledPatchingConfig or WholePatchingConfig
        Fixed random patches when validating; tiles, or whole images when no
        ``new_patch_size`` is given, when predicting.

    Raises
    ------
    ValueError
        When predicting with ``new_patch_size`` but without ``overlap_size``.

    Examples
    --------
    >>> converted_patching("predicting", [64, 64]).name
    'whole'
    >>> converted_patching("validating", [64, 64]).patch_size
    [64, 64]
    """
    if new_mode == Mode.PREDICTING:
        if new_patch_size is None:
            return WholePatchingConfig()
        if overlap_size is None:
            raise ValueError(
                "`overlap_size` parameter must be specified when switching to "
                "'predicting' mode with a `new_patch_size`."
            )
        return TiledPatchingConfig(
            patch_size=list(new_patch_size), overlaps=list(overlap_size)
        )
    size = patch_size if new_patch_size is None else new_patch_size
    return FixedRandomPatchingConfig(patch_size=list(size))


def converted_fields(
    config: Mapping[str, Any],
    new_mode: str,
    *,
    new_patch_size: Sequence[int] | None = None,
    overlap_size: Sequence[int] | None = None,
    new_batch_size: int | None = None,
    new_data_type: str | None = None,
    new_axes: str | None = None,
    new_target_axes: str | None = None,
    new_channels: Sequence[int] | Literal["all"] | None = None,
    new_in_memory: bool | None = None,
    new_dataloader_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the fields of ``config`` converted to ``new_mode``.

    The parameters are those of :meth:`DataConfig.convert_mode`, which documents
    them; the filters are left out, so they take their defaults again.

    Parameters
    ----------
    config : Mapping of str to Any
        A training config's fields (``DataConfig.model_dump()``, filters left
        out); this module sits below the config it converts.
    new_mode : {"validating", "predicting"}
        The new mode.
    new_patch_size, overlap_size : sequence of int, optional
        New patch size and tile overlaps.
    new_batch_size : int, optional
        New batch size.
    new_data_type, new_axes, new_target_axes : str, optional
        New data type and axes.
    new_channels : sequence of int or "all", optional
        New channels; ``None`` keeps the current selection.
    new_in_memory : bool, optional
        New ``in_memory``.
    new_dataloader_params : dict of str to Any, optional
        Parameters of the new mode's dataloader.

    Returns
    -------
    dict of str to Any
        Keyword arguments of the new ``DataConfig``.

    Raises
    ------
    ValueError
        When ``config`` is not a training config, ``new_mode`` is training, or the
        spatial dimensionality or the number of channels would change.
    """
    old_mode, old_data_type, old_axes = (
        config["mode"],
        config["data_type"],
        config["axes"],
    )
    old_channels = config["channels"]
    if old_mode != Mode.TRAINING:
        raise ValueError(
            f"Conversion from mode '{old_mode}' to '{new_mode}' is not supported. "
            "Only conversion from 'training' mode is supported."
        )
    if new_mode == Mode.TRAINING:
        raise ValueError(
            "Conversion to 'training' mode is not supported. Create a new DataConfig "
            "instead, for instance using `create_data_configuration`."
        )
    data_type = new_data_type or old_data_type
    axes = new_axes or old_axes
    if not are_spatial_dims_maintained(old_data_type, old_axes, data_type, axes):
        czi_note = (
            " Note that for CZI data, Z and T are both depth axes."
            if "czi" in (old_data_type, new_data_type)
            else ""
        )
        raise ValueError(
            "Conversion between different spatial dimensions is not allowed. Got new "
            f"axes {new_axes} with new data type {new_data_type}, and current axes "
            f"{old_axes} with current data type {old_data_type}.{czi_note}"
        )
    channels: list[int] | None
    if new_channels is None:
        channels = old_channels
    elif isinstance(new_channels, str):
        if new_channels != "all":
            raise ValueError(
                "`new_channels` must be a sequence of channel indices or 'all', got "
                f"{new_channels!r}."
            )
        channels = None
    else:
        channels = list(new_channels)
    validate_channel_conversion(old_axes, old_channels, axes, channels)

    patch_size = config["patching"].get("patch_size", [])
    fields = dict(config)
    fields.update(
        mode=new_mode,
        patching=converted_patching(new_mode, patch_size, new_patch_size, overlap_size),
        batch_size=new_batch_size or config["batch_size"],
        data_type=data_type,
        axes=axes,
        target_axes=new_target_axes or config["target_axes"],
        channels=channels,
        in_memory=config["in_memory"] if new_in_memory is None else new_in_memory,
    )
    if new_dataloader_params is not None:
        key = "val" if new_mode == Mode.VALIDATING else "pred"
        fields[f"{key}_dataloader_params"] = new_dataloader_params
    return fields
