"""Batches built on local threads: the stream's executor without a cluster."""

from __future__ import annotations

import functools
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from careamics_dask.graph.batch import build_batch

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from careamics_dask.feeding.executor import BatchArrays, TableOf
    from careamics_dask.graph.batch import BatchBuilder

__all__ = ["ThreadExecutor"]


class ThreadExecutor:
    """Batches built by a pool of threads of this process, sharing in-memory data.

    Parameters
    ----------
    workers : int
        Number of threads.
    plan : BatchBuilder
        The batch plan.
    table : Callable[[int], PatchTable]
        The patch table of an epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.graph.batch import BatchPlan
    >>> from careamics_dask.graph.transforms.normalize import Normalizer
    >>> from careamics_dask.graph.reading import StackSource
    >>> from careamics_dask.patching import TiledPatching
    >>> data = np.ones((1, 1, 16, 16))
    >>> plan = BatchPlan(inputs=(StackSource(source="array", shape=data.shape,
    ...     dtype="float64", data=data),), targets=None, channels=None,
    ...     target_channels=None, normalizer=Normalizer(name="none"))
    >>> patching = TiledPatching([data.shape], [8, 8], [2, 2])
    >>> executor = ThreadExecutor(2, plan, patching.table)
    >>> handle = executor.submit(0, 0, np.arange(4))
    >>> executor.result(handle)[0].shape
    (4, 1, 8, 8)
    >>> executor.close()
    """

    def __init__(self, workers: int, plan: BatchBuilder, table: TableOf) -> None:
        self._table = table
        self._build = functools.partial(build_batch, plan)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="careamics-batch")

    def submit(
        self, epoch: int, index: int, indices: npt.NDArray[np.int64]
    ) -> Future[BatchArrays]:
        """Start building a batch on a thread.

        Parameters
        ----------
        epoch : int
            The epoch.
        index : int
            The batch's index within the epoch.
        indices : numpy.ndarray
            The dataset indices of its patches.

        Returns
        -------
        concurrent.futures.Future
            The batch's future.
        """
        rows = self._table(epoch).take(indices)
        return self._pool.submit(self._build, rows, indices, epoch)

    def result(self, handle: Future[BatchArrays]) -> BatchArrays:
        """Wait for a batch.

        Parameters
        ----------
        handle : concurrent.futures.Future
            The batch's future.

        Returns
        -------
        tuple of (numpy.ndarray, numpy.ndarray or None)
            Inputs and targets.
        """
        return handle.result()

    def cancel(self, handle: Future[BatchArrays]) -> None:
        """Cancel a batch that has not started.

        Parameters
        ----------
        handle : concurrent.futures.Future
            The batch's future.
        """
        handle.cancel()

    def close(self) -> None:
        """Wait for the running batches and stop the threads."""
        self._pool.shutdown(wait=True)
