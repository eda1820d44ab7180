"""The DataConfig model: what data to read, how to patch, normalize and batch it.

Field names, defaults and error messages are those of CAREamics' ``DataConfig``.
The rules of single fields live in :mod:`careamics_dask.config.data_fields`; this
module holds the fields, the checks across fields and the seed propagation.

Differences from CAREamics
--------------------------
- ``in_memory=True`` is accepted for zarr and czi: it means "persist the arrays in
  cluster memory" (the default stays False for them). ``in_memory=False`` is still
  rejected for arrays.
- Axes are stored in upper case (the reference validated ``"syx"`` and stored it as
  given, so later ``"Z" in axes`` checks misbehaved).
- Augmentations without a seed get distinct seeds derived from the config seed
  (:func:`~careamics_dask.config.augmentations.derive_augmentation_seed`) instead of
  the config seed itself.
- ``num_workers`` is declared before the dataloader dicts, so each dict fills its own
  ``num_workers``/``persistent_workers`` defaults in its own validator. The dumped
  key order differs; the values are the same.
- ``val_dataloader_params`` gets a default ``pin_memory`` like the training dict,
  also when left at its default (the reference only did so when it was given).
  ``pin_memory`` is False when torch is not installed.
- A missing or invalid ``mode`` or ``axes`` is reported once instead of raising a
  ``KeyError`` from the validators that depend on them.
- Sub-configs given as instances are copied, so seed propagation and default
  coverages never change the caller's objects; sequences are stored as lists.
- ``set_3D`` validates the new patch size and axes together and leaves the config
  unchanged when they fail; any rejected assignment is rolled back (pydantic keeps
  a value that a model validator rejected).

Longer than 400 lines: the reference's fields, their defaults and the checks
across them are one pydantic model; the single-field rules already live in
:mod:`~careamics_dask.config.data_fields`.
"""

from __future__ import annotations

import logging
from pprint import pformat
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from careamics_dask.axes import is_3d_axes
from careamics_dask.config._model import ConfigModel
from careamics_dask.config.augmentations import (
    AugmentationConfig,
    derive_augmentation_seed,
)
from careamics_dask.config.compatibility import (
    are_spatial_dims_maintained,
    validate_sample_axes,
)
from careamics_dask.config.conversion import converted_fields
from careamics_dask.config.data_fields import (
    check_axes,
    check_filter_mode,
    check_in_memory,
    check_no_batch_size,
    check_patching_mode,
    check_shuffle,
    normalize_channels,
    set_default_max_coverage,
    set_default_pin_memory,
    set_default_workers,
)
from careamics_dask.config.defaults import (
    create_default_augmentations,
    create_mask_filter,
    default_in_memory,
    generate_random_seed,
    get_default_num_workers,
)

# Types of fields stay runtime imports: pydantic resolves them when building models.
from careamics_dask.config.normalization import NormalizationConfig
from careamics_dask.config.patch_filter import (
    MaskPatchFilterConfig,
    PatchFilterConfig,
)
from careamics_dask.config.patching import (
    PatchingConfig,
    TiledPatchingConfig,
    WholePatchingConfig,
)
from careamics_dask.config.support import Mode

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["DataConfig", "DataType", "Mode"]

logger = logging.getLogger(__name__)

DataType = Literal["array", "tiff", "zarr", "czi", "custom"]
"""The data types a :class:`DataConfig` accepts (values of ``SupportedData``)."""

_DATALOADER_FIELDS = (
    "train_dataloader_params",
    "val_dataloader_params",
    "pred_dataloader_params",
)

_Axes = Annotated[str, AfterValidator(check_axes)]
_DataloaderParams = Annotated[
    dict[str, Any],
    AfterValidator(check_no_batch_size),
    AfterValidator(set_default_workers),
]
_PinnedDataloaderParams = Annotated[
    _DataloaderParams, BeforeValidator(set_default_pin_memory)
]


class DataConfig(ConfigModel):
    """Configuration of a dataset for training, validation or prediction.

    Examples
    --------
    >>> config = DataConfig(
    ...     mode="training",
    ...     data_type="array",
    ...     axes="SYX",
    ...     patching={"name": "stratified", "patch_size": [64, 64]},
    ...     normalization={"name": "mean_std"},
    ...     seed=42,
    ... )
    >>> config.patching.seed, config.mask_filter.coverage, config.is_3D()
    (42, 0.25, False)
    """

    model_config = ConfigDict(validate_assignment=True, extra="ignore")

    mode: Mode
    """Training, validating or predicting."""

    data_type: DataType
    """Kind of data source."""

    axes: _Axes
    """Axes of the input data, letters of ``STCZYX`` (stored in upper case)."""

    target_axes: _Axes | None = None
    """Axes of the targets; ``None`` means the same as ``axes``."""

    patching: Annotated[PatchingConfig, AfterValidator(check_patching_mode)]
    """Patching strategy; it must suit the mode."""

    normalization: NormalizationConfig
    """Normalization scheme, with statistics or ``None`` to compute them."""

    batch_size: int = Field(default=1, ge=1)
    """Number of patches per batch."""

    in_memory: Annotated[bool, AfterValidator(check_in_memory)] = Field(
        default_factory=default_in_memory, validate_default=True
    )
    """Keep the data in (cluster) memory; default False for zarr and czi."""

    n_val_patches: int = Field(default=8, ge=0)
    """Patches set aside for validation when no validation data is given."""

    val_split_cells: list[list[int]] | None = None
    """The held-out validation cells of an automatic split, as rows ``(data_idx,
    sample_idx, *grid cell)``: written by ``create_val_split_datasets`` (like the
    statistics) and reused by it, so a re-created dataset holds out the same
    regions. ``None`` draws a split from ``seed``. Not a reference field."""

    channels: Annotated[list[int] | None, BeforeValidator(normalize_channels)] = None
    """Input channels to use; ``None`` for all. Needs ``C`` in the axes."""

    patch_filter: Annotated[
        PatchFilterConfig | None,
        AfterValidator(check_filter_mode),
        AfterValidator(set_default_max_coverage),
    ] = None
    """Background filter on pixel values (training only)."""

    mask_filter: Annotated[
        MaskPatchFilterConfig | None, AfterValidator(check_filter_mode)
    ] = Field(default_factory=create_mask_filter)
    """Background filter driven by a mask (training only; a default in training)."""

    augmentations: list[AugmentationConfig] = Field(
        default_factory=create_default_augmentations
    )
    """Spatial augmentations, applied in order during training."""

    num_workers: int = Field(default_factory=get_default_num_workers, ge=0)
    """Workers of every dataloader that does not set its own ``num_workers``."""

    train_dataloader_params: Annotated[
        _PinnedDataloaderParams, AfterValidator(check_shuffle)
    ] = Field(default_factory=lambda: {"shuffle": True}, validate_default=True)
    """Training dataloader parameters; must include ``shuffle``."""

    val_dataloader_params: _PinnedDataloaderParams = Field(
        default_factory=dict, validate_default=True
    )
    """Validation dataloader parameters."""

    pred_dataloader_params: _DataloaderParams = Field(
        default_factory=dict, validate_default=True
    )
    """Prediction dataloader parameters."""

    seed: int = Field(default_factory=generate_random_seed, gt=0)
    """Seed of patching and augmentations; random when not given."""

    @model_validator(mode="after")
    def validate_target_axes_compatible(self) -> Self:
        """Check target axes against the input axes.

        Returns
        -------
        Self
            The config, unchanged.

        Raises
        ------
        ValueError
            When the targets have another spatial dimensionality or other sample
            axes.
        """
        if self.target_axes is None:
            return self
        if not are_spatial_dims_maintained(
            self.data_type, self.axes, self.data_type, self.target_axes
        ):
            raise ValueError(
                "`target_axes` must have the same spatial dimensionality as `axes`. "
                f"Got target_axes {self.target_axes} and axes {self.axes}."
            )
        validate_sample_axes(self.axes, self.target_axes)
        return self

    @model_validator(mode="after")
    def validate_dimensions(self) -> Self:
        """Check that the patch size has as many dimensions as the data.

        Returns
        -------
        Self
            The config, unchanged.

        Raises
        ------
        ValueError
            When a 2-D patch size is given for 3-D data, or the reverse.
        """
        if isinstance(self.patching, WholePatchingConfig):
            return self
        expected = 3 if self.is_3D() else 2
        hint = " (`Z` and `T` are depth axes for CZI data)"
        if len(self.patching.patch_size) != expected:
            raise ValueError(
                f"`patch_size` in `patching` must have {expected} dimensions, got "
                f"{self.patching.patch_size} with axes {self.axes}"
                f"{hint if self.data_type == 'czi' else ''}."
            )
        return self

    @model_validator(mode="after")
    def propagate_seed(self) -> Self:
        """Give the augmentations and the patching without a seed their seeds.

        The augmentation at position ``i`` gets ``derive_augmentation_seed(seed,
        i)``; the patching gets the config seed. Both are copies this config owns.

        Returns
        -------
        Self
            The config, with seeds set.
        """
        for index, augmentation in enumerate(self.augmentations):
            if augmentation.seed is None:
                augmentation.seed = derive_augmentation_seed(self.seed, index)
        patching = self.patching
        if (
            not isinstance(patching, TiledPatchingConfig | WholePatchingConfig)
            and patching.seed is None
        ):
            patching.seed = self.seed
        return self

    @model_validator(mode="after")
    def warn_inconsistent_num_workers(self) -> Self:
        """Log when an explicit ``num_workers`` differs from a dataloader's own.

        Returns
        -------
        Self
            The config, unchanged.
        """
        if "num_workers" not in self.model_fields_set:
            return self
        for name in _DATALOADER_FIELDS:
            value = getattr(self, name).get("num_workers", self.num_workers)
            if value != self.num_workers:
                logger.warning(
                    "`num_workers=%s` conflicts with `%s['num_workers']=%s`. The "
                    "per-dataloader value takes precedence.",
                    self.num_workers,
                    name,
                    value,
                )
        return self

    def __str__(self) -> str:
        return pformat(self.model_dump())

    def is_3D(self) -> bool:
        """Tell whether the data are volumes (``Z``; for CZI also ``T``).

        Returns
        -------
        bool
            True for 3-D data.

        Examples
        --------
        >>> config = DataConfig(
        ...     mode="predicting", data_type="czi", axes="SCTYX",
        ...     patching={"name": "whole"}, normalization={"name": "none"},
        ... )
        >>> config.is_3D()
        True
        """
        return is_3d_axes(self.axes, self.data_type)

    def set_3D(self, axes: str, patch_size: Sequence[int]) -> None:
        """Switch axes and patch size together (e.g. from 2-D to 3-D).

        Parameters
        ----------
        axes : str
            The new axes.
        patch_size : sequence of int
            The new patch size (ignored for whole-image patching).

        Raises
        ------
        pydantic.ValidationError
            When the new values are invalid together; the config is then unchanged.

        Examples
        --------
        >>> config = DataConfig(
        ...     mode="training", data_type="tiff", axes="YX",
        ...     patching={"name": "random", "patch_size": [32, 32]},
        ...     normalization={"name": "none"},
        ... )
        >>> config.set_3D("ZYX", [8, 32, 32])
        >>> config.axes, config.patching.patch_size
        ('ZYX', [8, 32, 32])
        """
        previous = self.patching
        if not isinstance(previous, WholePatchingConfig):
            update = {**previous.model_dump(), "patch_size": list(patch_size)}
            # Bypass assignment validation: the dimension check needs the new axes,
            # which the assignment below validates together with this patching.
            self.__dict__["patching"] = type(previous).model_validate(update)
        try:
            self.axes = axes
        except ValidationError:
            self.__dict__["patching"] = previous
            raise

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
    ) -> DataConfig:
        """Derive a validation or prediction config from this training config.

        Normalization (with its statistics), seed, augmentations and dataloader
        parameters are kept; the filters are dropped. Validating uses fixed random
        patches; predicting uses tiles when ``new_patch_size`` is given (it then
        needs ``overlap_size``) and whole images otherwise.

        Parameters
        ----------
        new_mode : {"validating", "predicting"}
            The mode of the new config.
        new_patch_size : sequence of int, optional
            Patch (tile) size; default the training patch size when validating,
            whole images when predicting.
        overlap_size : sequence of int, optional
            Tile overlaps, required with ``new_patch_size`` when predicting.
        new_batch_size : int, optional
            Batch size; default the current one.
        new_data_type : str, optional
            Data type; default the current one.
        new_axes : str, optional
            Axes; default the current ones. The spatial dimensionality must stay.
        new_target_axes : str, optional
            Target axes; default the current ones.
        new_channels : sequence of int or "all", optional
            Channels; ``None`` keeps the current selection, ``"all"`` selects all.
        new_in_memory : bool, optional
            ``in_memory``; default the current value.
        new_dataloader_params : dict of str to Any, optional
            Parameters of the new mode's dataloader (validation or prediction).

        Returns
        -------
        DataConfig
            The new config.

        Raises
        ------
        ValueError
            When this config is not a training config, ``new_mode`` is training,
            the spatial dimensionality or the number of channels would change, or
            a tile size comes without overlaps.

        Examples
        --------
        >>> train = DataConfig(
        ...     mode="training", data_type="array", axes="YX",
        ...     patching={"name": "stratified", "patch_size": [64, 64]},
        ...     normalization={"name": "mean_std"}, seed=1,
        ... )
        >>> val = train.convert_mode("validating")
        >>> val.patching.name, val.patching.patch_size, val.mask_filter
        ('fixed_random', [64, 64], None)
        >>> train.convert_mode("predicting", [32, 32], [8, 8]).patching.name
        'tiled'
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
        return DataConfig(**fields)
