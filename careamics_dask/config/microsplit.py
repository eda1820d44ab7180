"""The MicroSplitDataConfig model: a DataConfig with lateral context and mixing.

Field names, defaults and error messages are those of CAREamics'
``MicroSplitDataConfig`` (``reference_semantics.md`` §1.6).

Differences from CAREamics
--------------------------
- ``alpha_ranges`` is stored as a list of ``(low, high)`` tuples (sequences are
  stored as lists everywhere in this package, so a YAML round trip compares equal).
- An assignment rejected by the MicroSplit rules (including the
  ``NotImplementedError`` for a patch filter) leaves the config unchanged, as every
  config of this package does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import Field, model_validator

from careamics_dask.config.conversion import converted_fields
from careamics_dask.config.data_config import DataConfig, DataType
from careamics_dask.config.support import Mode

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["MicroSplitDataConfig", "PaddingMode"]

logger = logging.getLogger(__name__)

PaddingMode = Literal["reflect", "wrap"]
"""How a lateral-context window is filled where it leaves the image."""

_TRAINING_ONLY = ("alpha_ranges", "uncorrelated_channel_prob")


class MicroSplitDataConfig(DataConfig):
    """Configuration of a MicroSplit dataset: lateral context and channel mixing.

    Examples
    --------
    >>> config = MicroSplitDataConfig(
    ...     mode="training", data_type="array", axes="SCYX",
    ...     patching={"name": "stratified", "patch_size": [32, 32]},
    ...     normalization={"name": "mean_std"}, seed=3,
    ...     multiscale_count=3, alpha_ranges=[(0.2, 0.8), (0.5, 1.0)],
    ... )
    >>> config.multiscale_count, config.padding_mode, config.alpha_ranges
    (3, 'reflect', [(0.2, 0.8), (0.5, 1.0)])
    >>> config.convert_mode("predicting", [32, 32], [8, 8]).alpha_ranges is None
    True
    """

    multiscale_count: int = Field(default=1, ge=1)
    """Number of lateral-context scales; inputs have this many planes ``L``."""

    padding_mode: PaddingMode = "reflect"
    """Padding where a lateral-context window leaves the image."""

    alpha_ranges: list[tuple[float, float]] | None = None
    """Per target channel ``(low, high)`` of its mixing weight, drawn per patch;
    ``None`` gives every channel the fixed weight ``1 / n_channels``."""

    uncorrelated_channel_prob: float = Field(default=0.0, ge=0.0, le=1.0)
    """Probability that a synthetic input takes each channel from another patch."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in type(self).model_fields:
            super().__setattr__(name, value)
            return
        state = dict(self.__dict__)
        fields_set = set(self.__pydantic_fields_set__)
        try:
            super().__setattr__(name, value)
        except NotImplementedError:
            object.__setattr__(self, "__dict__", state)
            object.__setattr__(self, "__pydantic_fields_set__", fields_set)
            raise

    @model_validator(mode="after")
    def validate_microsplit_params_against_mode(self) -> Self:
        """Refuse the synthetic-input options in prediction.

        Returns
        -------
        Self
            The config, unchanged.

        Raises
        ------
        ValueError
            When predicting with ``uncorrelated_channel_prob > 0`` or with
            ``alpha_ranges`` (the reference's messages).
        """
        if self.mode == Mode.PREDICTING:
            if self.uncorrelated_channel_prob > 0:
                raise ValueError(
                    "Spatially uncorrelated channels are not supported for prediction."
                )
            if self.alpha_ranges is not None:
                raise ValueError("Alpha ranges cannot be set for prediction.")
        return self

    @model_validator(mode="after")
    def raise_unsupported_features(self) -> Self:
        """Refuse a patch filter, which MicroSplit does not implement.

        Returns
        -------
        Self
            The config, unchanged.

        Raises
        ------
        NotImplementedError
            When ``patch_filter`` is set (the reference's message).
        """
        if self.patch_filter is not None:
            raise NotImplementedError(
                "Patch filtering is currently not implemented for MicroSplit."
            )
        return self

    def convert_mode(
        self,
        new_mode: Literal["validating", "predicting"],
        new_patch_size: Sequence[int] | None = None,
        overlap_size: Sequence[int] | None = None,
        new_batch_size: int | None = None,
        new_data_type: DataType | None = None,
        new_axes: str | None = None,
        new_target_axes: str | None = None,
        new_channels: Sequence[int] | Literal["all"] | None = None,
        new_in_memory: bool | None = None,
        new_dataloader_params: dict[str, Any] | None = None,
    ) -> MicroSplitDataConfig:
        """Derive a validation or prediction config, keeping the lateral context.

        As :meth:`DataConfig.convert_mode`; ``multiscale_count`` and
        ``padding_mode`` are kept, while ``alpha_ranges`` and
        ``uncorrelated_channel_prob`` return to their defaults (the reference's
        rule, in both modes).

        Parameters
        ----------
        new_mode : {"validating", "predicting"}
            The mode of the new config.
        new_patch_size : sequence of int, optional
            Patch (tile) size.
        overlap_size : sequence of int, optional
            Tile overlaps, required with ``new_patch_size`` when predicting.
        new_batch_size : int, optional
            Batch size; default the current one.
        new_data_type : str, optional
            Data type; default the current one.
        new_axes : str, optional
            Axes; default the current ones.
        new_target_axes : str, optional
            Target axes; default the current ones.
        new_channels : sequence of int or "all", optional
            Channels; ``None`` keeps the current selection.
        new_in_memory : bool, optional
            ``in_memory``; default the current value.
        new_dataloader_params : dict of str to Any, optional
            Parameters of the new mode's dataloader.

        Returns
        -------
        MicroSplitDataConfig
            The new config.

        Raises
        ------
        ValueError
            For the conversions :meth:`DataConfig.convert_mode` refuses.

        Examples
        --------
        >>> train = MicroSplitDataConfig(
        ...     mode="training", data_type="array", axes="YX",
        ...     patching={"name": "stratified", "patch_size": [16, 16]},
        ...     normalization={"name": "none"}, multiscale_count=3,
        ...     padding_mode="wrap", uncorrelated_channel_prob=0.5,
        ... )
        >>> val = train.convert_mode("validating")
        >>> val.patching.name, val.multiscale_count, val.padding_mode
        ('fixed_random', 3, 'wrap')
        >>> val.uncorrelated_channel_prob
        0.0
        """
        fields = converted_fields(
            self.model_dump(exclude={"patch_filter", "mask_filter"}),
            new_mode,
            new_patch_size=new_patch_size,
            overlap_size=overlap_size,
            new_batch_size=new_batch_size,
            new_data_type=new_data_type,
            new_axes=new_axes,
            new_target_axes=new_target_axes,
            new_channels=new_channels,
            new_in_memory=new_in_memory,
            new_dataloader_params=new_dataloader_params,
        )
        for name in _TRAINING_ONLY:
            fields.pop(name, None)
        return MicroSplitDataConfig(**fields)
