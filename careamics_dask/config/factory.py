"""Convenience functions that build a training DataConfig from a few arguments.

Differences from CAREamics
--------------------------
- :func:`list_spatial_augmentations` gives the flip and the rotation distinct seeds
  derived from ``seed`` (the reference gave both ``seed`` itself).
- :func:`create_data_configuration` does not insert ``shuffle`` into the caller's
  ``train_dataloader_params`` dict; it works on a copy.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from careamics_dask.config.augmentations import (
    XYFlipConfig,
    XYRandomRotate90Config,
    derive_augmentation_seed,
)
from careamics_dask.config.data_config import DataConfig, DataType
from careamics_dask.config.defaults import generate_random_seed

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from careamics_dask.config.normalization import (
        MeanStdConfig,
        MinMaxConfig,
        NoNormConfig,
        QuantileConfig,
    )
    from careamics_dask.config.patch_filter import (
        MaxPatchFilterConfig,
        MeanStdPatchFilterConfig,
        ShannonPatchFilterConfig,
    )

__all__ = ["create_data_configuration", "list_spatial_augmentations"]

logger = logging.getLogger(__name__)

Augmentation = XYFlipConfig | XYRandomRotate90Config


def list_spatial_augmentations(
    augmentations: Sequence[Augmentation] | None = None, seed: int | None = None
) -> list[Augmentation]:
    """Return the augmentations to apply, by default a flip and a rotation.

    Parameters
    ----------
    augmentations : sequence of XYFlipConfig or XYRandomRotate90Config, optional
        The augmentations; ``None`` for the defaults, ``[]`` for none.
    seed : int, optional
        Seed from which the defaults' seeds are derived (position 0 and 1, as a
        :class:`DataConfig` with this seed would derive them).

    Returns
    -------
    list of XYFlipConfig or XYRandomRotate90Config
        The augmentations.

    Raises
    ------
    ValueError
        When an augmentation is of another class, or a class appears twice.

    Examples
    --------
    >>> flip, rotate = list_spatial_augmentations(seed=42)
    >>> flip.seed != rotate.seed
    True
    >>> list_spatial_augmentations([XYFlipConfig(), XYFlipConfig()])
    Traceback (most recent call last):
    ...
    ValueError: Duplicate augmentations are not allowed.
    """
    if augmentations is None:
        seeds = (
            [None, None]
            if seed is None
            else [derive_augmentation_seed(seed, index) for index in range(2)]
        )
        return [XYFlipConfig(seed=seeds[0]), XYRandomRotate90Config(seed=seeds[1])]
    if not all(
        isinstance(aug, XYFlipConfig | XYRandomRotate90Config) for aug in augmentations
    ):
        raise ValueError(
            "Accepted augmentations are either XYFlipConfig or XYRandomRotate90Config."
        )
    classes = [type(aug) for aug in augmentations]
    if len(set(classes)) != len(classes):
        raise ValueError("Duplicate augmentations are not allowed.")
    return list(augmentations)


def create_data_configuration(
    data_type: DataType,
    axes: str,
    patch_size: Sequence[int],
    batch_size: int,
    target_axes: str | None = None,
    augmentations: Sequence[Augmentation] | None = None,
    normalization: Mapping[str, Any]
    | MeanStdConfig
    | MinMaxConfig
    | QuantileConfig
    | NoNormConfig
    | None = None,
    patch_filter_config: Mapping[str, Any]
    | MaxPatchFilterConfig
    | MeanStdPatchFilterConfig
    | ShannonPatchFilterConfig
    | None = None,
    channels: Sequence[int] | None = None,
    in_memory: bool | None = None,
    n_val_patches: int = 8,
    num_workers: int = -1,
    train_dataloader_params: Mapping[str, Any] | None = None,
    val_dataloader_params: Mapping[str, Any] | None = None,
    pred_dataloader_params: Mapping[str, Any] | None = None,
    seed: int | None = None,
) -> DataConfig:
    """Create a training config with stratified patching.

    Parameters
    ----------
    data_type : {"array", "tiff", "zarr", "czi", "custom"}
        Kind of data source.
    axes : str
        Axes of the input data.
    patch_size : sequence of int
        Patch size along ``(Z,) Y, X``.
    batch_size : int
        Number of patches per batch.
    target_axes : str, optional
        Axes of the targets, if they differ from ``axes``.
    augmentations : sequence of XYFlipConfig or XYRandomRotate90Config, optional
        Augmentations; ``None`` for a flip and a rotation, ``[]`` for none.
    normalization : dict or normalization config, optional
        Normalization; ``None`` for mean/std with statistics computed from the data.
    patch_filter_config : dict or patch filter config, optional
        Background filter on pixel values.
    channels : sequence of int, optional
        Input channels to use; ``None`` for all.
    in_memory : bool, optional
        Keep the data in (cluster) memory; ``None`` for the data type's default.
    n_val_patches : int, default 8
        Patches set aside for validation when no validation data is given.
    num_workers : int, default -1
        Workers of the dataloaders; -1 for the platform default.
    train_dataloader_params : dict, optional
        Training dataloader parameters; ``shuffle=True`` is added when missing.
    val_dataloader_params : dict, optional
        Validation dataloader parameters.
    pred_dataloader_params : dict, optional
        Prediction dataloader parameters.
    seed : int, optional
        Seed of patching and augmentations; random when not given.

    Returns
    -------
    DataConfig
        A training config.

    Raises
    ------
    ValueError
        When an argument breaks a rule of :class:`DataConfig` or of
        :func:`list_spatial_augmentations`.

    Examples
    --------
    >>> config = create_data_configuration("tiff", "SYX", [64, 64], 8, seed=3)
    >>> config.patching.name, config.train_dataloader_params["shuffle"]
    ('stratified', True)
    """
    if seed is None:
        seed = generate_random_seed()
    fields: dict[str, Any] = {
        "mode": "training",
        "data_type": data_type,
        "axes": axes,
        "target_axes": target_axes,
        "patching": {"name": "stratified", "patch_size": list(patch_size)},
        "normalization": {"name": "mean_std"}
        if normalization is None
        else normalization,
        "batch_size": batch_size,
        "channels": channels,
        "patch_filter": patch_filter_config,
        "augmentations": list_spatial_augmentations(augmentations, seed),
        "n_val_patches": n_val_patches,
        "train_dataloader_params": {"shuffle": True, **(train_dataloader_params or {})},
        "seed": seed,
    }
    if in_memory is not None:
        fields["in_memory"] = in_memory
    if num_workers != -1:
        fields["num_workers"] = num_workers
    if val_dataloader_params is not None:
        fields["val_dataloader_params"] = dict(val_dataloader_params)
    if pred_dataloader_params is not None:
        fields["pred_dataloader_params"] = dict(pred_dataloader_params)
    return DataConfig(**fields)
