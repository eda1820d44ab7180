"""Pydantic configs of the normalization schemes and the statistics they carry.

Each scheme holds input and target statistics in pairs (means and stds, mins and
maxes, lower and upper quantile values). ``None`` means "compute from the data"; the
statistics layer does that and writes the results back through the setters.

Differences from CAREamics
--------------------------
- The setters (``set_input_stats``, ``set_input_range``, ...) run the full
  validation (scalar wrapping, ``per_channel`` length, pairs, ordering) on the new
  values and leave the config unchanged when it fails; the reference only re-ran the
  model validators after writing the values. They also accept NumPy arrays and
  NumPy scalars.
- ``min < max`` (and ``lower < upper``) is still required of every range, set by the
  user or by a setter. Constant channels do not reach the setters with
  ``min == max``: the statistics layer widens them to a usable range first.
- Instances passed to a :class:`~careamics_dask.config.DataConfig` are copied.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter

from careamics_dask.config._model import ConfigModel
from careamics_dask.config._statistics import (
    FloatStats,
    FloatValues,
    OptionalFloatStats,
    StatisticsConfig,
    check_ordered,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "FloatValues",
    "MeanStdConfig",
    "MinMaxConfig",
    "NoNormConfig",
    "NormalizationConfig",
    "QuantileConfig",
    "instantiate_norm_config",
]

logger = logging.getLogger(__name__)


class MeanStdConfig(StatisticsConfig):
    """Normalize to zero mean and unit standard deviation.

    Examples
    --------
    >>> norm = MeanStdConfig()
    >>> norm.needs_computation()
    True
    >>> norm.set_input_stats([10.0, 20.0], [2.0, 4.0])
    >>> norm.needs_computation(), norm.input_means
    (False, [10.0, 20.0])
    """

    _input_fields = ("input_means", "input_stds")
    _target_fields = ("target_means", "target_stds")
    _ordered = False
    _ignored_targets = "statistics"

    name: Literal["mean_std"] = "mean_std"
    input_means: OptionalFloatStats = None
    """Input means per channel (or one global value); ``None`` to compute."""
    input_stds: OptionalFloatStats = None
    """Input standard deviations, like ``input_means``."""
    target_means: OptionalFloatStats = None
    """Target means per channel (or one global value); ``None`` to compute."""
    target_stds: OptionalFloatStats = None
    """Target standard deviations, like ``target_means``."""

    def set_input_stats(self, means: FloatValues, stds: FloatValues) -> None:
        """Set input means and stds together.

        Parameters
        ----------
        means : sequence of float or numpy.ndarray
            Means per channel.
        stds : sequence of float or numpy.ndarray
            Standard deviations per channel.

        Raises
        ------
        pydantic.ValidationError
            When the values break a rule of the config; it is then unchanged.
        """
        self._set_statistics(input_means=means, input_stds=stds)

    def set_target_stats(self, means: FloatValues, stds: FloatValues) -> None:
        """Set target means and stds together.

        Parameters
        ----------
        means : sequence of float or numpy.ndarray
            Means per channel.
        stds : sequence of float or numpy.ndarray
            Standard deviations per channel.

        Raises
        ------
        pydantic.ValidationError
            When the values break a rule of the config; it is then unchanged.
        """
        self._set_statistics(target_means=means, target_stds=stds)


class MinMaxConfig(StatisticsConfig):
    """Scale the range ``[min, max]`` to ``[0, 1]``.

    Examples
    --------
    >>> norm = MinMaxConfig(input_mins=0, input_maxes=255)
    >>> norm.input_maxes
    [255.0]
    """

    _input_fields = ("input_mins", "input_maxes")
    _target_fields = ("target_mins", "target_maxes")
    _ordered = True
    _ignored_targets = "mins/maxes"

    name: Literal["min_max"] = "min_max"
    input_mins: OptionalFloatStats = None
    """Input minima per channel (or one global value); ``None`` to compute."""
    input_maxes: OptionalFloatStats = None
    """Input maxima, each larger than its minimum."""
    target_mins: OptionalFloatStats = None
    """Target minima per channel (or one global value); ``None`` to compute."""
    target_maxes: OptionalFloatStats = None
    """Target maxima, each larger than its minimum."""

    def set_input_range(self, mins: FloatValues, maxes: FloatValues) -> None:
        """Set input minima and maxima together.

        Parameters
        ----------
        mins : sequence of float or numpy.ndarray
            Minima per channel.
        maxes : sequence of float or numpy.ndarray
            Maxima per channel, each larger than its minimum.

        Raises
        ------
        pydantic.ValidationError
            When the values break a rule of the config; it is then unchanged.
        """
        self._set_statistics(input_mins=mins, input_maxes=maxes)

    def set_target_range(self, mins: FloatValues, maxes: FloatValues) -> None:
        """Set target minima and maxima together.

        Parameters
        ----------
        mins : sequence of float or numpy.ndarray
            Minima per channel.
        maxes : sequence of float or numpy.ndarray
            Maxima per channel, each larger than its minimum.

        Raises
        ------
        pydantic.ValidationError
            When the values break a rule of the config; it is then unchanged.
        """
        self._set_statistics(target_mins=mins, target_maxes=maxes)


class QuantileConfig(StatisticsConfig):
    """Scale the range between a lower and an upper quantile to ``[0, 1]``.

    Examples
    --------
    >>> norm = QuantileConfig(lower_quantiles=0.05, upper_quantiles=0.95)
    >>> norm.lower_quantiles, norm.needs_computation()
    ([0.05], True)
    """

    _input_fields = ("input_lower_quantile_values", "input_upper_quantile_values")
    _target_fields = ("target_lower_quantile_values", "target_upper_quantile_values")
    _ordered = True
    _ignored_targets = "quantiles"

    name: Literal["quantile"] = "quantile"
    lower_quantiles: FloatStats = Field(default_factory=lambda: [0.01])
    """Lower quantile levels, in ``[0, 1)``."""
    upper_quantiles: FloatStats = Field(default_factory=lambda: [0.99])
    """Upper quantile levels, in ``(0, 1]``, each above its lower level."""
    input_lower_quantile_values: OptionalFloatStats = None
    """Input values at the lower quantile levels; ``None`` to compute."""
    input_upper_quantile_values: OptionalFloatStats = None
    """Input values at the upper quantile levels."""
    target_lower_quantile_values: OptionalFloatStats = None
    """Target values at the lower quantile levels; ``None`` to compute."""
    target_upper_quantile_values: OptionalFloatStats = None
    """Target values at the upper quantile levels."""

    def _check_levels(self) -> None:
        for lower in self.lower_quantiles:
            if not 0.0 <= lower < 1.0:
                raise ValueError(
                    f"lower_quantile values must be in [0, 1), got {lower}"
                )
        for upper in self.upper_quantiles:
            if not 0.0 < upper <= 1.0:
                raise ValueError(
                    f"upper_quantile values must be in (0, 1], got {upper}"
                )
        if len(self.lower_quantiles) != len(self.upper_quantiles):
            raise ValueError(
                "lower_quantile and upper_quantile lists must have same length, got "
                f"{len(self.lower_quantiles)} and {len(self.upper_quantiles)}"
            )
        check_ordered(
            "lower_quantile",
            self.lower_quantiles,
            "upper_quantile",
            self.upper_quantiles,
        )

    def set_input_quantile_values(self, lower: FloatValues, upper: FloatValues) -> None:
        """Set the input values at the lower and upper quantile levels together.

        Parameters
        ----------
        lower : sequence of float or numpy.ndarray
            Values at the lower levels, per channel.
        upper : sequence of float or numpy.ndarray
            Values at the upper levels, each larger than its lower value.

        Raises
        ------
        pydantic.ValidationError
            When the values break a rule of the config; it is then unchanged.
        """
        self._set_statistics(
            input_lower_quantile_values=lower, input_upper_quantile_values=upper
        )

    def set_target_quantile_values(
        self, lower: FloatValues, upper: FloatValues
    ) -> None:
        """Set the target values at the lower and upper quantile levels together.

        Parameters
        ----------
        lower : sequence of float or numpy.ndarray
            Values at the lower levels, per channel.
        upper : sequence of float or numpy.ndarray
            Values at the upper levels, each larger than its lower value.

        Raises
        ------
        pydantic.ValidationError
            When the values break a rule of the config; it is then unchanged.
        """
        self._set_statistics(
            target_lower_quantile_values=lower, target_upper_quantile_values=upper
        )

    def validate_size(self, n_input_channels: int, n_output_channels: int) -> None:
        """Check per-channel quantile values against the numbers of channels.

        Per-channel quantile normalization of targets needs as many target as input
        channels.

        Parameters
        ----------
        n_input_channels : int
            Number of input channels.
        n_output_channels : int
            Number of target (output) channels.

        Raises
        ------
        ValueError
            When the channel counts differ (per channel, targets normalized) or a
            per-channel list has another length.
        """
        if (
            self.per_channel
            and not self.skip_target
            and n_input_channels != n_output_channels
        ):
            raise ValueError(
                "Quantile normalization per channel is only compatible with matching "
                f"number of input and output channels. Got {n_input_channels} input "
                f"channels and {n_output_channels} output channels. Set `per_channel` "
                "to `False` to a single statistics for all channels, or set "
                "`skip_target` to `True` to skip target normalization."
            )
        super().validate_size(n_input_channels, n_output_channels)


class NoNormConfig(ConfigModel):
    """No normalization: pixels pass through unchanged.

    Examples
    --------
    >>> NoNormConfig().needs_computation()
    False
    """

    model_config = ConfigDict(extra="ignore", revalidate_instances="always")

    name: Literal["none"] = "none"

    def needs_computation(self) -> bool:
        """Tell whether input statistics are missing (never).

        Returns
        -------
        bool
            Always False.
        """
        return False

    def target_needs_computation(self) -> bool:
        """Tell whether target statistics are missing (never).

        Returns
        -------
        bool
            Always False.
        """
        return False

    def validate_size(self, n_input_channels: int, n_output_channels: int) -> None:
        """Accept any numbers of channels.

        Parameters
        ----------
        n_input_channels : int
            Number of input channels (unused).
        n_output_channels : int
            Number of target channels (unused).
        """


NormalizationConfig = Annotated[
    MeanStdConfig | NoNormConfig | QuantileConfig | MinMaxConfig,
    Field(discriminator="name"),
]
"""The normalization configs a :class:`DataConfig` accepts, told apart by ``name``."""


def instantiate_norm_config(
    config: Mapping[str, Any],
) -> MeanStdConfig | NoNormConfig | QuantileConfig | MinMaxConfig:
    """Validate a normalization dict into its config, told apart by ``name``.

    The reference's ``careamics.config.factories.instantiate_norm_config``.

    Parameters
    ----------
    config : mapping of str to Any
        The fields, with ``name`` one of ``mean_std``, ``min_max``, ``quantile``
        or ``none``.

    Returns
    -------
    MeanStdConfig, NoNormConfig, QuantileConfig or MinMaxConfig
        The validated config.

    Raises
    ------
    pydantic.ValidationError
        When the name is unknown or a field is invalid (a ``ValueError``).

    Examples
    --------
    >>> instantiate_norm_config({"name": "min_max", "input_mins": [0.0],
    ...                          "input_maxes": [2.0]}).input_maxes
    [2.0]
    """
    adapter: TypeAdapter[MeanStdConfig | NoNormConfig | QuantileConfig | MinMaxConfig]
    adapter = TypeAdapter(NormalizationConfig)
    return adapter.validate_python(dict(config))
