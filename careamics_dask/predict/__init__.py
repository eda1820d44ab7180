"""Prediction: tiled inference streamed from a cluster, stitched out-of-core to Zarr."""

from __future__ import annotations

from careamics_dask.predict.model import (
    ModelAdapter,
    NumpyModel,
    TorchModel,
    create_model_adapter,
)
from careamics_dask.predict.pipeline import PredictionSummary, predict_to_zarr

__all__ = [
    "ModelAdapter",
    "NumpyModel",
    "PredictionSummary",
    "TorchModel",
    "create_model_adapter",
    "predict_to_zarr",
]
