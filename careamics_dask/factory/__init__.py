"""The reference factory API: datasets and create_* functions built on Dask.

``create_train_dataset``, ``create_val_split_datasets`` and their siblings take the
reference's configuration and data containers and return a
:class:`CareamicsDataset`, whose patches come one at a time (``dataset[i]``), one
batch at a time (:meth:`CareamicsDataset.batch`) or as a lazy Dask array of an
epoch, one task per batch (:meth:`CareamicsDataset.to_dask`).
"""

from __future__ import annotations

from careamics_dask.factory.augmentations import create_augmentations
from careamics_dask.factory.components import DatasetComponents, resolve_components
from careamics_dask.factory.constraints import (
    ModelConstraints,
    UNetConstraints,
    get_model_constraints,
)
from careamics_dask.factory.containers import PredData, TrainValData, TrainValSplitData
from careamics_dask.factory.create import (
    create_dataset,
    create_pred_dataset,
    create_train_dataset,
    create_train_val_datasets,
    create_val_split_datasets,
)
from careamics_dask.factory.dataset import CareamicsDataset
from careamics_dask.factory.extractors import (
    LimitFilesPatchExtractor,
    PatchExtractor,
    init_patch_extractor,
    select_image_stack_loader,
    select_patch_extractor_type,
)
from careamics_dask.factory.filters import (
    create_patch_filter,
    filter_background,
    filter_background_with_mask,
)
from careamics_dask.factory.microsplit import (
    IndependentTargets,
    MicroSplitDataset,
    MultiChannelTarget,
    PairedInputTarget,
    create_microsplit_dataset,
    create_microsplit_pred_dataset,
)
from careamics_dask.factory.microsplit_split import (
    create_microsplit_val_split_datasets,
)
from careamics_dask.factory.normalization import (
    create_normalization,
    create_normalizer,
    resolve_normalization,
    resolve_normalization_config,
)
from careamics_dask.factory.patch_constructor import PatchConstructor
from careamics_dask.factory.patching import create_patching
from careamics_dask.factory.region_data import ImageRegionData
from careamics_dask.graph.batch import Batch
from careamics_dask.loaders.loading import ImageStackLoading, Loading, ReadFuncLoading

__all__ = [
    "Batch",
    "CareamicsDataset",
    "DatasetComponents",
    "ImageRegionData",
    "ImageStackLoading",
    "IndependentTargets",
    "LimitFilesPatchExtractor",
    "Loading",
    "MicroSplitDataset",
    "ModelConstraints",
    "MultiChannelTarget",
    "PairedInputTarget",
    "PatchConstructor",
    "PatchExtractor",
    "PredData",
    "ReadFuncLoading",
    "TrainValData",
    "TrainValSplitData",
    "UNetConstraints",
    "create_augmentations",
    "create_dataset",
    "create_microsplit_dataset",
    "create_microsplit_pred_dataset",
    "create_microsplit_val_split_datasets",
    "create_normalization",
    "create_normalizer",
    "create_patch_filter",
    "create_patching",
    "create_pred_dataset",
    "create_train_dataset",
    "create_train_val_datasets",
    "create_val_split_datasets",
    "filter_background",
    "filter_background_with_mask",
    "get_model_constraints",
    "init_patch_extractor",
    "resolve_components",
    "resolve_normalization",
    "resolve_normalization_config",
    "select_image_stack_loader",
    "select_patch_extractor_type",
]
