"""Resolve a data configuration once into the plain components of its batches."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from careamics_dask.config.support import Mode
from careamics_dask.factory.augmentations import create_augmentations
from careamics_dask.factory.normalization import (
    create_normalizer,
    resolve_normalization,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import xarray as xr

    from careamics_dask.config import DataConfig
    from careamics_dask.graph.statistics import RegionWeights
    from careamics_dask.graph.transforms import Normalizer, SpatialAugmentation

logger = logging.getLogger(__name__)

__all__ = ["DatasetComponents", "resolve_components"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetComponents:
    """The plain values a dataset's batch tasks need from its configuration.

    Attributes
    ----------
    normalizer : Normalizer
        The normalization, with its statistics.
    augmentations : tuple of XYFlip and XYRandomRotate90
        The augmentations, in order (empty outside training).
    """

    normalizer: Normalizer
    augmentations: tuple[SpatialAugmentation, ...] = ()


def _check_target_channels(
    normalizer: Normalizer, n_input_channels: int, n_target_channels: int | None
) -> None:
    """Log, not raise, when target statistics do not fit the targets' channels.

    Target statistics follow the target, or the model's output
    (``reference_semantics.md`` §4.2): 2-entry target statistics with 1-channel
    targets serve ``denormalize`` of a 2-channel prediction, and the reference
    accepts them. Normalizing such a target patch still raises, with the same
    message.
    """
    if n_target_channels is None:
        return
    try:
        normalizer.check_channels(n_input_channels, n_target_channels)
    except ValueError as error:
        logger.warning(
            "%s The target statistics are kept for denormalize; normalizing a "
            "target patch with them will raise.",
            error,
        )


def resolve_components(
    config: DataConfig,
    *,
    n_input_channels: int,
    n_target_channels: int | None = None,
    input_stacks: Sequence[xr.DataArray] | None = None,
    target_stacks: Sequence[xr.DataArray] | None = None,
    channels: Sequence[int] | None = None,
    weights: Sequence[RegionWeights | None] | None = None,
) -> DatasetComponents:
    """Compute missing statistics, then build the normalizer and augmentations.

    With ``input_stacks``, the missing normalization statistics are computed
    (:func:`~careamics_dask.factory.normalization.resolve_normalization`) and
    written into ``config.normalization``, as the reference does. The normalizer
    is then checked against the channel counts, and the augmentations are built
    in training mode only.

    Parameters
    ----------
    config : DataConfig or MicroSplitDataConfig
        The data configuration.
    n_input_channels : int
        Channels of the input batches.
    n_target_channels : int or None, optional
        Channels of the target batches; ``None`` without targets.
    input_stacks : sequence of xarray.DataArray, optional
        The stacks to compute input statistics on; ``None`` computes nothing.
    target_stacks : sequence of xarray.DataArray, optional
        The stacks to compute target statistics on.
    channels : sequence of int, optional
        Input channels the statistics use, in order; all by default.
    weights : sequence of RegionWeights or None, optional
        Sampling weights per stack for the statistics.

    Returns
    -------
    DatasetComponents
        The normalizer and the augmentations.

    Raises
    ------
    ValueError
        For statistics that cannot be computed or do not broadcast to the
        channels, and for invalid augmentations.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> from careamics_dask.config import DataConfig
    >>> config = DataConfig(mode="training", data_type="array", axes="YX",
    ...     patching={"name": "stratified", "patch_size": [16, 16]},
    ...     normalization={"name": "mean_std"})
    >>> stack = xr.DataArray(np.arange(64.0).reshape(1, 1, 8, 8), dims=list("SCYX"))
    >>> components = resolve_components(
    ...     config, n_input_channels=1, input_stacks=[stack])
    >>> config.normalization.input_means, components.normalizer.name
    ([31.5], 'mean_std')
    """
    if input_stacks is not None:
        resolve_normalization(
            config.normalization,
            input_stacks,
            target_stacks,
            channels=channels,
            weights=weights,
        )
    normalizer = create_normalizer(config.normalization)
    normalizer.check_channels(n_input_channels)
    _check_target_channels(normalizer, n_input_channels, n_target_channels)
    augmentations: tuple[SpatialAugmentation, ...] = ()
    if config.mode == Mode.TRAINING:
        augmentations = create_augmentations(
            config.augmentations,
            patch_size=getattr(config.patching, "patch_size", None),
        )
    return DatasetComponents(normalizer=normalizer, augmentations=augmentations)
