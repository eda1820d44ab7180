"""careamics_dask: the CAREamics dataset factory as a Dask-native out-of-core pipeline.

Sources become labeled lazy image stacks (:func:`open_image`), configurations follow
the reference's :class:`DataConfig`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from careamics_dask.config import (
    DataConfig,
    MicroSplitDataConfig,
    Mode,
    SupportedData,
    create_data_configuration,
    load_config,
    save_config,
)
from careamics_dask.errors import (
    AxesError,
    CareamicsDaskError,
    CareamicsDaskWarning,
    DataPairError,
    MissingDependencyError,
    SourceNotFoundError,
    SourceReadError,
    UnsupportedDtypeError,
    UnsupportedSourceError,
)
from careamics_dask.factory import (
    Batch,
    CareamicsDataset,
    ImageRegionData,
    IndependentTargets,
    LimitFilesPatchExtractor,
    MicroSplitDataset,
    ModelConstraints,
    MultiChannelTarget,
    PairedInputTarget,
    PatchExtractor,
    PredData,
    TrainValData,
    TrainValSplitData,
    UNetConstraints,
    create_dataset,
    create_microsplit_dataset,
    create_microsplit_pred_dataset,
    create_pred_dataset,
    create_train_dataset,
    create_train_val_datasets,
    create_val_split_datasets,
    init_patch_extractor,
    select_image_stack_loader,
    select_patch_extractor_type,
)
from careamics_dask.feeding import BatchStream, get_client
from careamics_dask.loaders import (
    ImageStackLoading,
    Loading,
    ReadFuncLoading,
    open_image,
    open_images,
    open_pair,
)
from careamics_dask.logs import set_log_level
from careamics_dask.predict import predict_to_zarr

try:
    __version__ = version("careamics-dask")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "AxesError",
    "Batch",
    "BatchStream",
    "CareamicsDaskError",
    "CareamicsDaskWarning",
    "CareamicsDataset",
    "DataConfig",
    "DataPairError",
    "ImageRegionData",
    "ImageStackLoading",
    "IndependentTargets",
    "LimitFilesPatchExtractor",
    "Loading",
    "MicroSplitDataConfig",
    "MicroSplitDataset",
    "MissingDependencyError",
    "Mode",
    "ModelConstraints",
    "MultiChannelTarget",
    "PairedInputTarget",
    "PatchExtractor",
    "PredData",
    "ReadFuncLoading",
    "SourceNotFoundError",
    "SourceReadError",
    "SupportedData",
    "TrainValData",
    "TrainValSplitData",
    "UNetConstraints",
    "UnsupportedDtypeError",
    "UnsupportedSourceError",
    "__version__",
    "create_data_configuration",
    "create_dataset",
    "create_microsplit_dataset",
    "create_microsplit_pred_dataset",
    "create_pred_dataset",
    "create_train_dataset",
    "create_train_val_datasets",
    "create_val_split_datasets",
    "get_client",
    "init_patch_extractor",
    "load_config",
    "open_image",
    "open_images",
    "open_pair",
    "predict_to_zarr",
    "save_config",
    "select_image_stack_loader",
    "select_patch_extractor_type",
    "set_log_level",
]
