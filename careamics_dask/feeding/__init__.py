"""Feeding: batches built on a ``distributed`` cluster and streamed to training."""

from __future__ import annotations

from careamics_dask.feeding.client import get_client
from careamics_dask.feeding.stream import BatchStream

__all__ = ["BatchStream", "get_client"]
