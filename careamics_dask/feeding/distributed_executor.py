"""Batches built on a ``distributed`` cluster: one task per batch, one shared plan.

The plan enters the cluster once, as a task (:func:`hold`) every batch task depends
on: the scheduler recomputes it when the worker holding it is lost, which a
scattered value would not survive. In-memory stacks go to the cluster once, as tiles
spread over the workers (:class:`~careamics_dask.feeding._tiles.TiledPlan`); a batch
whose tiles died with a worker is run again after the lost tiles were sent again.
Results are fetched directly from the workers.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any, TypeVar

from careamics_dask.errors import TilesLostError
from careamics_dask.feeding._tiles import TiledPlan, build_tiled_batch
from careamics_dask.graph.batch import BatchPlan, build_batch
from careamics_dask.graph.reading import PatchReader

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from distributed import Client, Future

    from careamics_dask.feeding._tile_layout import TileBox, TileKey
    from careamics_dask.feeding.executor import BatchArrays, TableOf
    from careamics_dask.graph.batch import BatchBuilder
    from careamics_dask.patching import PatchTable

__all__ = ["DistributedExecutor", "hold"]

logger = logging.getLogger(__name__)

_TILE_ATTEMPTS = 3
"""How often a batch is run again after its in-memory tiles were lost."""

T = TypeVar("T")


def hold(value: T) -> T:
    """Return ``value``: a task that keeps a value recoverable on a cluster.

    Parameters
    ----------
    value : Any
        The value.

    Returns
    -------
    Any
        The same value.

    Examples
    --------
    >>> hold(3)
    3
    """
    return value


@dataclasses.dataclass
class BatchJob:
    """A submitted batch: its future, the tile boxes it reads, its identity."""

    future: Future[BatchArrays]
    tiles: dict[TileKey, TileBox]
    identity: tuple[int, int, npt.NDArray[np.int64]]
    attempt: int = 0

    def release(self) -> None:
        """Release the batch's future."""
        self.future.release()


class DistributedExecutor:
    """Batches built as tasks on a cluster, rerun when their in-memory tiles died.

    Parameters
    ----------
    client : distributed.Client
        The cluster's client.
    plan : BatchBuilder
        The batch plan (its in-memory stacks are scattered as tiles).
    table : Callable[[int], PatchTable]
        The patch table of an epoch.
    token : str
        Names the plan's and the batches' keys.
    rank : int
        The stream's rank (part of the batches' keys).
    retries : int
        Retries of a failed batch task.
    """

    def __init__(
        self,
        client: Client,
        plan: BatchBuilder,
        table: TableOf,
        *,
        token: str,
        rank: int,
        retries: int,
    ) -> None:
        self.client = client
        self._table = table
        self._token = token
        self._rank = rank
        self._retries = retries
        self._tables: dict[int, PatchTable] = {}
        self._tiled = TiledPlan(client, plan)
        self._plan = client.submit(
            hold, self._tiled.plan, key=f"careamics-plan-{token}", pure=False
        )
        # clips patches to their images as the batch task will (tiled plans only)
        self._clipper = (
            PatchReader(plan.inputs)
            if self._tiled.tiled and isinstance(plan, BatchPlan)
            else None
        )

    def submit(
        self, epoch: int, index: int, indices: npt.NDArray[np.int64]
    ) -> BatchJob:
        """Submit a batch task.

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
        BatchJob
            The batch's future and what a rerun needs.
        """
        return self._submit(epoch, index, indices, 0)

    def _submit(
        self, epoch: int, index: int, indices: npt.NDArray[np.int64], attempt: int
    ) -> BatchJob:
        if epoch not in self._tables:
            self._tables.clear()
            self._tables[epoch] = self._table(epoch)
        rows = self._tables[epoch].take(indices)
        key = f"careamics-batch-{self._token}-{self._rank}-{epoch}-{index}"
        if attempt:
            key = f"{key}-again{attempt}"
        tiles: dict[TileKey, TileBox] = {}
        extra: tuple[Any, ...] = ()
        task: Any = build_batch
        if self._clipper is not None:
            low, high = self._clipper.clipped(
                rows.data_idx, rows.coords, rows.patch_size
            )
            tiles = self._tiled.needed(rows, low, high)
            task, extra = build_tiled_batch, (tiles,)
        future = self.client.submit(
            task,
            self._plan,
            rows,
            indices,
            epoch,
            *extra,
            key=key,
            retries=self._retries,
            pure=False,
        )
        return BatchJob(future, tiles, (epoch, index, indices), attempt)

    def result(self, handle: BatchJob) -> BatchArrays:
        """Fetch a batch from its worker, running it again if its tiles were lost.

        Parameters
        ----------
        handle : BatchJob
            The batch.

        Returns
        -------
        tuple of (numpy.ndarray, numpy.ndarray or None)
            Inputs and targets.

        Raises
        ------
        careamics_dask.errors.TilesLostError
            When the tiles were lost more than :data:`_TILE_ATTEMPTS` times.
        """
        while True:
            try:
                result: BatchArrays = self.client.gather(handle.future, direct=True)
            except (CancelledError, TilesLostError):
                # scattered tiles die with their worker: send lost tiles again
                # from this client's copy (another batch may have done it) and
                # run the batch again
                if not handle.tiles or handle.attempt >= _TILE_ATTEMPTS:
                    raise
                lost = self._tiled.rescatter()
                logger.warning(
                    "batch %d of epoch %d lost its in-memory tiles with a worker "
                    "(%d sent again); running it again",
                    handle.identity[1],
                    handle.identity[0],
                    lost,
                )
                handle.release()
                again = self._submit(*handle.identity, handle.attempt + 1)
                handle.future, handle.tiles, handle.attempt = (
                    again.future,
                    again.tiles,
                    again.attempt,
                )
            else:
                return result

    def cancel(self, handle: BatchJob) -> None:
        """Release a batch's future.

        Parameters
        ----------
        handle : BatchJob
            The batch.
        """
        handle.release()

    def close(self) -> None:
        """Release the plan's future and the tiles (the cluster keeps running)."""
        self._plan.release()
        self._tiled.release()
