"""Shared machinery of the normalization configs that carry statistics.

Statistics come in pairs (means and stds, mins and maxes, lower and upper quantile
values) for inputs and for targets; :class:`StatisticsConfig` validates the pairs,
reports which still need computing, and sets them through full validation.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    model_validator,
)

from careamics_dask.config._model import ConfigModel
from careamics_dask.errors import CareamicsDaskWarning

__all__ = [
    "FloatStats",
    "FloatValues",
    "OptionalFloatStats",
    "StatisticsConfig",
    "check_ordered",
]

logger = logging.getLogger(__name__)

FloatValues = Sequence[float] | npt.NDArray[np.float32] | npt.NDArray[np.float64]
"""Per-channel statistics as a sequence or a 1-D NumPy array."""


def _wrap_scalar(value: Any) -> Any:
    """Turn a scalar into a one-element list of floats; leave other input alone."""
    if isinstance(value, int | float | np.integer | np.floating):
        return [float(value)]
    return value


def _check_global_single_element(
    value: list[float] | None, info: ValidationInfo
) -> list[float] | None:
    """With ``per_channel=False``, require every statistics list to have one value."""
    if "per_channel" not in info.data:
        raise ValueError("per_channel parameter must be provided for validation.")
    if not info.data["per_channel"] and value is not None and len(value) != 1:
        raise ValueError(
            'Global statistics (`per_channel="False"`) must be provided as '
            f"single-element lists (got {value})."
        )
    return value


FloatStats = Annotated[
    list[float],
    BeforeValidator(_wrap_scalar),
    AfterValidator(_check_global_single_element),
]
"""A list of floats; a scalar becomes a one-element list."""

OptionalFloatStats = Annotated[
    list[float] | None,
    BeforeValidator(_wrap_scalar),
    AfterValidator(_check_global_single_element),
]
"""Like :data:`FloatStats`, or ``None`` for statistics still to be computed."""


def _check_pair(
    first_name: str,
    first: list[float] | None,
    second_name: str,
    second: list[float] | None,
) -> None:
    """Check that two statistics lists are both set or both None, of equal length."""
    if (first is None) != (second is None):
        raise ValueError(
            f"{first_name} and {second_name} must be both provided or both None."
        )
    if first is None or second is None:
        return
    if len(first) != len(second):
        raise ValueError(f"{first_name} and {second_name} must have same length.")


def check_ordered(
    first_name: str,
    first: list[float] | None,
    second_name: str,
    second: list[float] | None,
) -> None:
    """Check that every value of ``first`` is smaller than the one of ``second``."""
    if first is None or second is None:
        return
    for i, (low, high) in enumerate(zip(first, second, strict=True)):
        if low >= high:
            raise ValueError(
                f"{first_name}[{i}] ({low}) must be less than {second_name}[{i}] "
                f"({high})"
            )


class StatisticsConfig(ConfigModel):
    """Shared behaviour of the schemes that carry statistics."""

    model_config = ConfigDict(
        extra="ignore", validate_assignment=True, revalidate_instances="always"
    )

    _input_fields: ClassVar[tuple[str, str]]
    _target_fields: ClassVar[tuple[str, str]]
    _ordered: ClassVar[bool]
    _ignored_targets: ClassVar[str]

    name: str
    """The name of the normalization scheme."""

    per_channel: bool = True
    """Statistics per channel (True) or one value for all channels (False)."""

    skip_target: bool = False
    """Do not normalize targets, and do not compute their statistics."""

    def _check_levels(self) -> None:
        """Check fields other than the statistics (nothing to check by default)."""

    @model_validator(mode="after")
    def validate_statistics(self) -> Self:
        """Check the statistics pairs and warn about target statistics not used.

        Returns
        -------
        Self
            The config, unchanged.

        Raises
        ------
        ValueError
            When a pair is half set, has lists of different lengths, or (ranges
            only) a lower value is not below its upper value.
        """
        self._check_levels()
        for first, second in (self._input_fields, self._target_fields):
            values = (first, getattr(self, first), second, getattr(self, second))
            _check_pair(*values)
            if self._ordered:
                check_ordered(*values)
        if self.skip_target and any(
            getattr(self, name) is not None for name in self._target_fields
        ):
            warnings.warn(
                f"Target {self._ignored_targets} are provided but `skip_target` is "
                f"`True`. Target {self._ignored_targets} will be ignored.",
                CareamicsDaskWarning,
                stacklevel=2,
            )
        return self

    def needs_computation(self) -> bool:
        """Tell whether input statistics are missing.

        Returns
        -------
        bool
            True when an input statistic is ``None``.
        """
        return any(getattr(self, name) is None for name in self._input_fields)

    def target_needs_computation(self) -> bool:
        """Tell whether target statistics are missing and targets are normalized.

        Returns
        -------
        bool
            True when targets are not skipped and a target statistic is ``None``.
        """
        return not self.skip_target and any(
            getattr(self, name) is None for name in self._target_fields
        )

    def _set_statistics(self, **values: FloatValues) -> None:
        """Validate new statistics with the rest of the config, then store them."""
        updated = type(self).model_validate({**self.__dict__, **values})
        for name in values:
            self.__dict__[name] = getattr(updated, name)
        self.__pydantic_fields_set__.update(values)

    def _check_size(self, name: str, expected: int, kind: str) -> None:
        values: list[float] | None = getattr(self, name)
        if values is not None and len(values) != expected:
            raise ValueError(
                f"{name} length {len(values)} does not match number of {kind} "
                f"channels {expected}."
            )

    def validate_size(self, n_input_channels: int, n_output_channels: int) -> None:
        """Check per-channel statistics against the numbers of channels.

        Parameters
        ----------
        n_input_channels : int
            Number of input channels.
        n_output_channels : int
            Number of target (output) channels; not checked with ``skip_target``.

        Raises
        ------
        ValueError
            When a per-channel statistics list has another length.
        """
        if not self.per_channel:
            return
        self._check_size(self._input_fields[0], n_input_channels, "input")
        if not self.skip_target:
            self._check_size(self._target_fields[0], n_output_channels, "target")
