"""The reference's data containers: what the create_* functions take as data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["PredData", "TrainValData", "TrainValSplitData"]

T = TypeVar("T")


@dataclass
class TrainValData(Generic[T]):
    """Data for training with validation data provided.

    Attributes
    ----------
    train_data : T
        Training inputs (arrays, paths, folders, URIs, or custom sources).
    val_data : T
        Validation inputs.
    train_data_target : T, optional
        Training targets.
    val_data_target : T, optional
        Validation targets.
    train_data_mask : T, optional
        Masks for mask filtering of the training data (input axes).
    """

    train_data: T
    val_data: T
    train_data_target: T | None = None
    val_data_target: T | None = None
    train_data_mask: T | None = None


@dataclass
class TrainValSplitData(Generic[T]):
    """Data for training with automatic validation splitting.

    Attributes
    ----------
    train_data : T
        Training inputs.
    n_val_patches : int
        Number of validation patches taken out of the training data.
    train_data_target : T, optional
        Training targets.
    train_data_mask : T, optional
        Masks for mask filtering (input axes).
    """

    train_data: T
    n_val_patches: int
    train_data_target: T | None = None
    train_data_mask: T | None = None


@dataclass
class PredData(Generic[T]):
    """Data for prediction.

    Attributes
    ----------
    pred_data : T
        Prediction inputs.
    pred_data_target : T, optional
        Targets, for evaluating predictions.
    """

    pred_data: T
    pred_data_target: T | None = None
