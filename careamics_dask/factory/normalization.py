"""Normalization configs to plain values: the normalizer, and computed statistics."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from careamics_dask.config.normalization import (
    MeanStdConfig,
    MinMaxConfig,
    NoNormConfig,
    QuantileConfig,
)
from careamics_dask.graph.statistics import compute_normalization_statistics
from careamics_dask.graph.transforms import Normalizer, build_normalizer

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import xarray as xr

    from careamics_dask.factory.patch_constructor import PatchConstructor
    from careamics_dask.graph.statistics import RegionWeights, Statistics

__all__ = [
    "create_normalization",
    "create_normalizer",
    "resolve_normalization",
    "resolve_normalization_config",
]

logger = logging.getLogger(__name__)

NormalizationConfig = MeanStdConfig | MinMaxConfig | QuantileConfig | NoNormConfig

_STATISTICS_FIELDS: dict[str, tuple[str, str, str, str]] = {
    "mean_std": ("input_means", "input_stds", "target_means", "target_stds"),
    "min_max": ("input_mins", "input_maxes", "target_mins", "target_maxes"),
    "quantile": (
        "input_lower_quantile_values",
        "input_upper_quantile_values",
        "target_lower_quantile_values",
        "target_upper_quantile_values",
    ),
}
"""The config fields of each scheme's input and target statistics, in order."""


def create_normalizer(
    config: NormalizationConfig,
    *,
    n_input_channels: int | None = None,
    n_target_channels: int | None = None,
) -> Normalizer:
    """Build the :class:`~careamics_dask.graph.transforms.Normalizer` of a config.

    Parameters
    ----------
    config : MeanStdConfig, MinMaxConfig, QuantileConfig or NoNormConfig
        The config, with its input statistics set (computed or given).
    n_input_channels : int or None, optional
        When given, check now that the input statistics broadcast to it.
    n_target_channels : int or None, optional
        When given, check the target statistics (if any) likewise.

    Returns
    -------
    Normalizer
        The normalizer. Target statistics are dropped with ``skip_target``.

    Raises
    ------
    ValueError
        ``"Quantile values must be computed before creating the normalization
        transform."`` (and the same rule for ``mean_std`` and ``min_max``) when the
        input statistics are missing; ``"Unknown normalization strategy: {name}"``;
        and the broadcast message when channel counts are given and do not match.

    Examples
    --------
    >>> create_normalizer(QuantileConfig())
    Traceback (most recent call last):
    ...
    ValueError: Quantile values must be computed before creating the normalization ...
    >>> create_normalizer(MeanStdConfig(input_means=[2.0], input_stds=[4.0])).name
    'mean_std'
    """
    name = str(getattr(config, "name", type(config).__name__))
    if name == "none":
        return build_normalizer("none")
    fields = _STATISTICS_FIELDS.get(name)
    if fields is None:
        raise ValueError(f"Unknown normalization strategy: {name}")
    stats = [getattr(config, field) for field in fields]
    return build_normalizer(
        name,
        *stats,
        skip_target=bool(getattr(config, "skip_target", False)),
        n_input_channels=n_input_channels,
        n_target_channels=n_target_channels,
    )


def create_normalization(norm_model: NormalizationConfig) -> Normalizer:
    """Build the normalizer of a config: the reference's name and signature.

    As :func:`create_normalizer` without the channel checks; the normalizer is
    called on a patch (``normalizer(patch, target)``) like the reference's
    normalization transforms, and has ``denormalize``.

    Parameters
    ----------
    norm_model : MeanStdConfig, MinMaxConfig, QuantileConfig or NoNormConfig
        The config, with its input statistics set.

    Returns
    -------
    Normalizer
        The normalizer.

    Raises
    ------
    ValueError
        As :func:`create_normalizer`.

    Examples
    --------
    >>> import numpy as np
    >>> normalize = create_normalization(
    ...     MeanStdConfig(input_means=[2.0], input_stds=[4.0]))
    >>> np.round(normalize(np.full((1, 2, 2), 6.0))[0].ravel(), 4).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    return create_normalizer(norm_model)


def _write(
    config: MeanStdConfig | MinMaxConfig | QuantileConfig,
    statistics: Statistics,
    target: bool,
) -> None:
    """Write statistics through the config's setter of inputs or targets."""
    first, second = statistics.pair
    setter: Callable[[list[float], list[float]], None]
    if isinstance(config, MeanStdConfig):
        setter = config.set_target_stats if target else config.set_input_stats
    elif isinstance(config, MinMaxConfig):
        setter = config.set_target_range if target else config.set_input_range
    else:
        setter = (
            config.set_target_quantile_values
            if target
            else config.set_input_quantile_values
        )
    setter(first, second)


def resolve_normalization(
    normalization_config: NormalizationConfig,
    input_stacks: Sequence[xr.DataArray],
    target_stacks: Sequence[xr.DataArray] | None = None,
    *,
    channels: Sequence[int] | None = None,
    weights: Sequence[RegionWeights | None] | None = None,
    progress: bool = False,
) -> None:
    """Compute the missing statistics of a normalization config and set them in place.

    As the reference's ``resolve_normalization_config``: ``none`` needs nothing;
    otherwise only missing input statistics (``needs_computation()``) and, when
    targets exist, missing target statistics (``target_needs_computation()``) are
    computed, in a single ``dask.compute``
    (:func:`~careamics_dask.graph.statistics.compute_normalization_statistics`,
    which returns them), and written through the config's setters. Inputs use the
    ``channels`` selection; targets use all their channels. Targets are weighted
    like their inputs (same regions).

    Parameters
    ----------
    normalization_config : MeanStdConfig, MinMaxConfig, QuantileConfig or NoNormConfig
        The config to complete; it is updated in place.
    input_stacks : sequence of xarray.DataArray
        Canonical input stacks.
    target_stacks : sequence of xarray.DataArray, optional
        Canonical target stacks; ``None`` when there are no targets.
    channels : sequence of int, optional
        Input channels to use, in order; all by default.
    weights : sequence of RegionWeights or None, optional
        Sampling weights per stack (inputs and targets alike); uniform by default.
    progress : bool, default False
        Show a :class:`dask.diagnostics.ProgressBar` (local schedulers only).

    Raises
    ------
    ValueError
        For bad stacks, channels, weights or levels, for data with no pixel of
        positive weight, or when the statistics break the config's rules.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> stack = xr.DataArray(np.arange(8.0).reshape(1, 2, 2, 2), dims=list("SCYX"))
    >>> norm = MinMaxConfig()
    >>> resolve_normalization(norm, [stack], [stack])
    >>> norm.input_maxes, norm.target_mins
    ([3.0, 7.0], [0.0, 4.0])
    """
    config = normalization_config
    if isinstance(config, NoNormConfig):
        return
    compute_input = config.needs_computation()
    compute_target = target_stacks is not None and config.target_needs_computation()
    if not (compute_input or compute_target):
        logger.debug("%s statistics already set; nothing to compute", config.name)
        return
    lower = upper = None
    if isinstance(config, QuantileConfig):
        lower, upper = config.lower_quantiles, config.upper_quantiles
    result = compute_normalization_statistics(
        config.name,
        input_stacks if compute_input else None,
        target_stacks if compute_target else None,
        channels=channels,
        per_channel=config.per_channel,
        weights=weights,
        lower_quantiles=lower,
        upper_quantiles=upper,
        progress=progress,
    )
    if result.inputs is not None:
        _write(config, result.inputs, target=False)
    if result.targets is not None:
        _write(config, result.targets, target=True)


def resolve_normalization_config(
    norm_config: NormalizationConfig, patch_constructor: PatchConstructor
) -> NormalizationConfig:
    """Compute a config's missing statistics over a dataset's stacks (reference form).

    The reference's ``resolve_normalization_config(norm_config,
    patch_constructor)``, as :func:`resolve_normalization` over the stacks of
    ``patch_constructor`` (``dataset.patch_constructor``): every pixel once, not
    one epoch of patches (README, "Differences from CAREamics").

    Parameters
    ----------
    norm_config : MeanStdConfig, MinMaxConfig, QuantileConfig or NoNormConfig
        The config, updated in place.
    patch_constructor : PatchConstructor
        The stacks and channel selection.

    Returns
    -------
    MeanStdConfig, MinMaxConfig, QuantileConfig or NoNormConfig
        ``norm_config``, as the reference returns it.
    """
    targets = patch_constructor.target_extractor
    resolve_normalization(
        norm_config,
        patch_constructor.input_extractor.image_stacks,
        getattr(targets, "image_stacks", None),
        channels=patch_constructor.channels,
    )
    return norm_config
