"""careamics_dask: the CAREamics dataset factory as a Dask-native out-of-core pipeline.

Sources become labeled lazy image stacks (:func:`open_image`), configurations follow
the reference's :class:`DataConfig`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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
    "DataPairError",
    "ImageStackLoading",
    "Loading",
    "MissingDependencyError",
    "ReadFuncLoading",
    "SourceNotFoundError",
    "SourceReadError",
    "UnsupportedDtypeError",
    "UnsupportedSourceError",
    "__version__",
    "open_image",
    "open_images",
    "open_pair",
    "set_log_level",
]
