"""Pydantic models at the user boundary: the data config and its sub-configs."""

from __future__ import annotations

from careamics_dask.config.augmentations import (
    AugmentationConfig,
    XYFlipConfig,
    XYRandomRotate90Config,
    derive_augmentation_seed,
)
from careamics_dask.config.compatibility import (
    are_spatial_dims_maintained,
    validate_sample_axes,
)
from careamics_dask.config.conversion import validate_channel_conversion
from careamics_dask.config.data_config import DataConfig, DataType
from careamics_dask.config.defaults import (
    default_in_memory,
    generate_random_seed,
    get_default_num_workers,
)
from careamics_dask.config.factory import (
    create_data_configuration,
    list_spatial_augmentations,
)
from careamics_dask.config.io import load_config, save_config
from careamics_dask.config.microsplit import MicroSplitDataConfig, PaddingMode
from careamics_dask.config.normalization import (
    MeanStdConfig,
    MinMaxConfig,
    NoNormConfig,
    NormalizationConfig,
    QuantileConfig,
    instantiate_norm_config,
)
from careamics_dask.config.patch_filter import (
    MaskPatchFilterConfig,
    MaxPatchFilterConfig,
    MeanStdPatchFilterConfig,
    PatchFilterConfig,
    ShannonPatchFilterConfig,
    default_filter_coverage,
)
from careamics_dask.config.patching import (
    FixedRandomPatchingConfig,
    PatchingConfig,
    RandomPatchingConfig,
    SequentialPatchingConfig,
    StratifiedPatchingConfig,
    TiledPatchingConfig,
    WholePatchingConfig,
)
from careamics_dask.config.support import (
    Mode,
    SupportedAugmentation,
    SupportedCoordinateFilters,
    SupportedData,
    SupportedNormalization,
    SupportedPatchFilters,
    SupportedPatching,
)

__all__ = [
    "AugmentationConfig",
    "DataConfig",
    "DataType",
    "FixedRandomPatchingConfig",
    "MaskPatchFilterConfig",
    "MaxPatchFilterConfig",
    "MeanStdConfig",
    "MeanStdPatchFilterConfig",
    "MicroSplitDataConfig",
    "MinMaxConfig",
    "Mode",
    "NoNormConfig",
    "NormalizationConfig",
    "PaddingMode",
    "PatchFilterConfig",
    "PatchingConfig",
    "QuantileConfig",
    "RandomPatchingConfig",
    "SequentialPatchingConfig",
    "ShannonPatchFilterConfig",
    "StratifiedPatchingConfig",
    "SupportedAugmentation",
    "SupportedCoordinateFilters",
    "SupportedData",
    "SupportedNormalization",
    "SupportedPatchFilters",
    "SupportedPatching",
    "TiledPatchingConfig",
    "WholePatchingConfig",
    "XYFlipConfig",
    "XYRandomRotate90Config",
    "are_spatial_dims_maintained",
    "create_data_configuration",
    "default_filter_coverage",
    "default_in_memory",
    "derive_augmentation_seed",
    "generate_random_seed",
    "get_default_num_workers",
    "instantiate_norm_config",
    "list_spatial_augmentations",
    "load_config",
    "save_config",
    "validate_channel_conversion",
    "validate_sample_axes",
]
