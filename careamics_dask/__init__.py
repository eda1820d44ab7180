"""careamics_dask: the CAREamics dataset factory as a Dask-native out-of-core pipeline.

Sources become labeled lazy image stacks (:func:`open_image`), configurations follow
the reference's :class:`DataConfig`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from careamics_dask.config import (
    DataConfig,
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
from careamics_dask.loaders import (
    ImageStackLoading,
    Loading,
    ReadFuncLoading,
    open_image,
    open_images,
    open_pair,
)
from careamics_dask.logs import set_log_level

try:
    __version__ = version("careamics-dask")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "AxesError",
    "CareamicsDaskError",
    "CareamicsDaskWarning",
    "DataConfig",
    "DataPairError",
    "ImageStackLoading",
    "Loading",
    "MissingDependencyError",
    "Mode",
    "ReadFuncLoading",
    "SourceNotFoundError",
    "SourceReadError",
    "SupportedData",
    "UnsupportedDtypeError",
    "UnsupportedSourceError",
    "__version__",
    "create_data_configuration",
    "load_config",
    "open_image",
    "open_images",
    "open_pair",
    "save_config",
    "set_log_level",
]
