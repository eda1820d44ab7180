"""Epochs behind ``dataset[i]``: ``(epoch, index)`` keys and the worker warning."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import numpy as np

from careamics_dask.errors import CareamicsDaskWarning

_WARNED_WORKERS: set[int] = set()


def epoch_key(key: tuple[Any, ...]) -> tuple[int, int]:
    """Check an ``(epoch, index)`` key of ``dataset[epoch, i]``."""
    if len(key) != 2 or not all(isinstance(k, (int, np.integer)) for k in key):
        raise TypeError(
            "A dataset key must be an index or (epoch, index): expected two "
            f"integers, got {key!r}. Use dataset[i] or dataset[epoch, i]."
        )
    epoch, index = int(key[0]), int(key[1])
    if epoch < 0:
        raise ValueError(f"Epoch must not be negative: expected >= 0, got {epoch}.")
    return epoch, index


def warn_in_worker() -> None:
    """Warn once per DataLoader worker process that integer reads repeat epochs."""
    data = sys.modules.get("torch.utils.data")  # never imported here: torch's rule
    info = data.get_worker_info() if data is not None else None
    if info is None or os.getpid() in _WARNED_WORKERS:
        return
    _WARNED_WORKERS.add(os.getpid())
    warnings.warn(
        "dataset[i] in a DataLoader worker process cannot see the epoch: every "
        "epoch's worker copies restart at the same table, so epochs would repeat "
        "their patches. Use careamics_dask.torch.patch_loader(dataset, ...) or "
        "DataLoader(dataset, sampler=careamics_dask.torch.EpochSampler(dataset)), "
        "which pass (epoch, index) keys, or num_workers=0.",
        CareamicsDaskWarning,
        stacklevel=3,
    )
