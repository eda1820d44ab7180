"""Feeding: batches built on a ``distributed`` cluster and streamed to training."""

from __future__ import annotations

from careamics_dask.feeding.client import get_client
from careamics_dask.feeding.distributed_executor import DistributedExecutor
from careamics_dask.feeding.executor import BatchExecutor
from careamics_dask.feeding.process_executor import ProcessExecutor
from careamics_dask.feeding.source import BatchSource
from careamics_dask.feeding.stream import BatchStream
from careamics_dask.feeding.thread_executor import ThreadExecutor

__all__ = [
    "BatchExecutor",
    "BatchSource",
    "BatchStream",
    "DistributedExecutor",
    "ProcessExecutor",
    "ThreadExecutor",
    "get_client",
]
