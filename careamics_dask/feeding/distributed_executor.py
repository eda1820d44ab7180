"""Batches built on a ``distributed`` cluster: a few batches per task, one shared plan.

A task builds a group of consecutive batches (:func:`build_batches`,
``careamics-dask.batching.batches-per-task`` of them): the scheduler's, the client's
and the workers' cost of a task (submission, transitions, one round trip to fetch the
result) is shared by the group instead of paid per batch (``BENCHMARKS.md``,
"Distributed path"). Each batch is still keyed by its own (seed, epoch, index), so
the grouping changes no batch. The plan enters the cluster once, as a task
(:func:`hold`) every batch task depends on: the scheduler recomputes it when the
worker holding it is lost, which a scattered value would not survive. In-memory
stacks go to the cluster once, as tiles spread over the workers
(:class:`~careamics_dask.feeding._tiles.TiledPlan`); a group whose tiles died with a
worker is run again after the lost tiles were sent again.
Results are fetched directly from the workers.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any, TypeVar

from careamics_dask.errors import TilesLostError
from careamics_dask.feeding._handoff import Handoff, SharedBatches, write_batches
from careamics_dask.feeding._tiles import TiledPlan, build_tiled_batch
from careamics_dask.graph.batch import BatchPlan, build_batch
from careamics_dask.graph.reading import PatchReader

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    import numpy.typing as npt
    from distributed import Client, Future

    from careamics_dask.feeding._tile_layout import TileBox, TileKey
    from careamics_dask.feeding.executor import BatchArrays, Job, TableOf
    from careamics_dask.graph.batch import BatchBuilder
    from careamics_dask.patching import PatchTable

__all__ = ["DistributedExecutor", "build_batches", "hold"]

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


def build_batches(
    plan: BatchBuilder, items: Sequence[tuple[Any, ...]], handoff: str | None = None
) -> list[Any] | SharedBatches:
    """Build several batches in one task: the task of the distributed path.

    Parameters
    ----------
    plan : BatchBuilder
        The dataset's shared plan.
    items : sequence of tuple
        Per batch, the arguments of :func:`~careamics_dask.graph.batch.build_batch`
        after the plan (rows, indices, epoch), plus the tile boxes for a tiled plan
        (:func:`~careamics_dask.feeding._tiles.build_tiled_batch`).
    handoff : str, optional
        The client's file for these batches, on its machine
        (:mod:`~careamics_dask.feeding._handoff`).

    Returns
    -------
    list of tuple or SharedBatches
        One ``(input, target or None)`` per item, in order; or, where the batches
        went into the client's file, their layout.
    """
    batches = [
        build_tiled_batch(plan, *item) if len(item) == 4 else build_batch(plan, *item)  # type: ignore[arg-type]
        for item in items
    ]
    if handoff is not None:
        shared = write_batches(handoff, batches)
        if shared is not None:
            return shared
    return batches


@dataclasses.dataclass
class BatchJob:
    """A submitted group of batches: its future, the tile boxes it reads, its jobs."""

    future: Future[list[BatchArrays] | SharedBatches]
    tiles: dict[TileKey, TileBox]
    jobs: tuple[Job, ...]
    attempt: int = 0
    handoff: tuple[Handoff, str] | None = None

    def release(self) -> None:
        """Release the batch's future (and unlink its handoff file)."""
        self.future.release()
        if self.handoff is not None:
            self.handoff[0].done(self.handoff[1])


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
    batches_per_task : int, default 1
        Batches one task builds (:meth:`submit_group` takes up to that many).
    handoff : Handoff, optional
        Files through which workers on this machine return their batches
        (:mod:`~careamics_dask.feeding._handoff`); None: over TCP.
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
        batches_per_task: int = 1,
        handoff: Handoff | None = None,
    ) -> None:
        self.client = client
        self.batches_per_task = max(1, int(batches_per_task))
        # tasks that run at once: the window keeps at least one per worker thread
        self.threads = max(1, sum(client.nthreads().values()))
        self.handoff = handoff
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

    @property
    def path(self) -> str:
        """Where batches are built, in words (for reports)."""
        workers = self.client.nthreads()
        threads = sum(workers.values())
        return (
            f"distributed: {len(workers)} workers, {threads} threads, "
            f"{self.batches_per_task} batches per task"
            + (", results through shared memory" if self.handoff else "")
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
        return self._submit(((epoch, index, indices),), 0)

    def submit_group(self, jobs: Sequence[Job]) -> BatchJob:
        """Submit one task that builds several batches, in order.

        Parameters
        ----------
        jobs : sequence of (int, int, numpy.ndarray)
            ``(epoch, index, indices)`` per batch.

        Returns
        -------
        BatchJob
            The task's future and what a rerun needs.
        """
        return self._submit(tuple(jobs), 0)

    def _rows(self, epoch: int, indices: npt.NDArray[np.int64]) -> PatchTable:
        if epoch not in self._tables:
            self._tables.clear()
            self._tables[epoch] = self._table(epoch)
        return self._tables[epoch].take(indices)

    def _submit(self, jobs: tuple[Job, ...], attempt: int) -> BatchJob:
        epoch, index, _ = jobs[0]
        if len(jobs) == 1:
            key = f"careamics-batch-{self._token}-{self._rank}-{epoch}-{index}"
        else:
            key = (
                f"careamics-batches-{self._token}-{self._rank}-{epoch}-{index}"
                f"-{len(jobs)}"
            )
        if attempt:
            key = f"{key}-again{attempt}"
        tiles: dict[TileKey, TileBox] = {}
        items: list[tuple[Any, ...]] = []
        for job_epoch, _, indices in jobs:
            rows = self._rows(job_epoch, indices)
            if self._clipper is None:
                items.append((rows, indices, job_epoch))
                continue
            low, high = self._clipper.clipped(
                rows.data_idx, rows.coords, rows.patch_size
            )
            boxes = self._tiled.needed(rows, low, high)
            tiles |= boxes
            items.append((rows, indices, job_epoch, boxes))
        handoff = None if self.handoff is None else (self.handoff, self.handoff.new())
        future = self.client.submit(
            build_batches,
            self._plan,
            items,
            None if handoff is None else handoff[1],
            key=key,
            retries=self._retries,
            pure=False,
        )
        return BatchJob(future, tiles, jobs, attempt, handoff)

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
        """
        return self.results(handle)[0]

    def results(self, handle: BatchJob) -> list[BatchArrays]:
        """Fetch a task's batches from its worker, running it again if tiles were lost.

        Parameters
        ----------
        handle : BatchJob
            The task.

        Returns
        -------
        list of tuple of (numpy.ndarray, numpy.ndarray or None)
            Inputs and targets of each batch, in order.

        Raises
        ------
        careamics_dask.errors.TilesLostError
            When the tiles were lost more than :data:`_TILE_ATTEMPTS` times.
        """
        while True:
            try:
                got = self.client.gather(handle.future, direct=True)
                # batches a worker on this machine wrote into its tmpfs file
                result: list[BatchArrays] = (
                    got.load() if isinstance(got, SharedBatches) else got
                )
            except (CancelledError, TilesLostError):
                # scattered tiles die with their worker: send lost tiles again
                # from this client's copy (another batch may have done it) and
                # run the batches again
                if not handle.tiles or handle.attempt >= _TILE_ATTEMPTS:
                    raise
                lost = self._tiled.rescatter()
                epoch, index, _ = handle.jobs[0]
                logger.warning(
                    "batches %d-%d of epoch %d lost their in-memory tiles with a "
                    "worker (%d sent again); running them again",
                    index,
                    index + len(handle.jobs) - 1,
                    epoch,
                    lost,
                )
                handle.release()
                again = self._submit(handle.jobs, handle.attempt + 1)
                handle.future, handle.tiles, handle.attempt = (
                    again.future,
                    again.tiles,
                    again.attempt,
                )
            else:
                return result

    def cancel(self, handle: BatchJob) -> None:
        """Release a task's future.

        Parameters
        ----------
        handle : BatchJob
            The task.
        """
        handle.release()

    def close(self) -> None:
        """Release the plan's future and the tiles (the cluster keeps running)."""
        self._plan.release()
        self._tiled.release()
        if self.handoff is not None:
            self.handoff.close()
