"""A stream of batches built on a cluster: a bounded window of futures, resumable.

:class:`BatchStream` turns a dataset into an iterator of batches
(:class:`~careamics_dask.graph.batch.Batch`). On a ``distributed`` cluster a task
builds a few consecutive batches (``build_batches``, ``batches_per_task``); without
a cluster every batch is built on local threads (or processes). A bounded window
(``prefetch`` batches, at least two tasks) is in flight; results are fetched
directly from the workers and released as soon as they are yielded. The order is
deterministic: the same seed gives the same batches whatever the number of workers,
the order in which futures complete, or a resume in the middle of an epoch.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from dask.base import tokenize

from careamics_dask.feeding._handoff import Handoff, shared_memory_option
from careamics_dask.feeding.client import current_client
from careamics_dask.feeding.distributed_executor import DistributedExecutor
from careamics_dask.feeding.order import EpochTables, shuffled_order, split_batches
from careamics_dask.feeding.process_executor import ProcessExecutor
from careamics_dask.feeding.source import batch_nbytes
from careamics_dask.feeding.thread_executor import ThreadExecutor
from careamics_dask.feeding.window import fetch_in_order, task_size
from careamics_dask.graph.batch import Batch
from careamics_dask.runtime import get_option, reading_options

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy.typing as npt
    from distributed import Client

    from careamics_dask.feeding.executor import BatchArrays, BatchExecutor
    from careamics_dask.feeding.source import BatchSource
    from careamics_dask.graph.batch import BatchBuilder

__all__ = ["BatchStream"]

logger = logging.getLogger(__name__)

_READY_BATCHES = 2
"""Fetched batches waiting for the consumer (besides the tasks in flight)."""

HandleT = TypeVar("HandleT")

_STATE_KEYS = (
    "seed",
    "shuffle",
    "chunk_aware",
    "rank",
    "world_size",
    "n_patches",
    "batch_size",
)


class BatchStream:
    """Iterate over batches of a dataset, built on a cluster ahead of time.

    Parameters
    ----------
    dataset : BatchSource
        The dataset (:class:`~careamics_dask.CareamicsDataset` or any
        :class:`~careamics_dask.feeding.BatchSource`).
    client : distributed.Client, optional
        Where batches are built. ``None`` uses the current default client if there
        is one, else local threads (no cluster at all; same batches).
    prefetch : int, optional
        Batches in flight; default ``careamics-dask.batching.prefetch``.
    epochs : int, default 1
        Epochs to stream.
    shuffle : bool, optional
        Shuffle patches across batches each epoch (seeded by the dataset's seed and
        the epoch). Default: the dataset's ``default_shuffle`` (the config's
        ``train_dataloader_params["shuffle"]`` in training, False otherwise).
    rank : int, default 0
        This process's rank in a data-parallel job.
    world_size : int, default 1
        The number of ranks; each gets a disjoint, equally sized share of every
        epoch's batches (the remainder is dropped).
    retries : int, optional
        Retries of a failed batch task; default ``careamics-dask.batching.retries``.
    chunk_aware : bool or {"order", "draw"}, default False
        ``True`` or ``"order"``: group each batch's patches by the storage chunk
        they start in (the epoch's patches are the same; only which ones share a
        batch changes), with the order of batches shuffled per epoch: far fewer
        chunk reads per batch, less sample diversity within a batch.
        ``"draw"`` (random patching only): each batch is ``batch_size`` patches
        drawn inside one storage chunk picked in proportion to its patch starts,
        so each patch on its own is still uniform, and a batch reads one chunk and
        its neighbours: the fastest mode, the least diverse batches
        (``BENCHMARKS.md``, "Factory").
    local : {"threads", "processes"}, optional
        How batches are built without a cluster; default
        ``careamics-dask.batching.local``. ``"processes"`` starts one process per
        core (at most ``prefetch``), each holding the batch plan once, and builds
        batches in parallel without sharing the GIL, like a DataLoader's workers;
        batches come back through shared memory, not pickled through a pipe
        (scripts need an ``if __name__ == "__main__":`` guard, as for any spawned
        process). Threads start at once and share in-memory data.
    local_workers : int, optional
        Batches built at once without a cluster; default
        ``careamics-dask.batching.local-workers``, else one per core (at most
        ``prefetch``), or ``prefetch`` threads when a source is a remote store:
        its reads wait on the network, so more batches in flight hide the latency.
    batches_per_task : int or "auto", optional
        On a cluster, consecutive batches one task builds; default
        ``careamics-dask.batching.batches-per-task``, ``auto``: as many as weigh
        ``careamics-dask.batching.task-bytes`` (16 MiB: 32 batches of 32 float32
        patches of 64 x 64), from 1 to 64. A task's cost on the
        scheduler, the client and the workers is then shared by the group
        (``BENCHMARKS.md``, "Distributed path"); every batch is the same. At
        least two tasks, and one per worker thread, are in flight: up to
        ``max(prefetch, 2 * batches_per_task, threads * batches_per_task)``
        batches.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask import DataConfig, create_dataset
    >>> config = DataConfig(mode="validating", data_type="array", axes="SYX",
    ...     patching={"name": "fixed_random", "patch_size": [8, 8]},
    ...     normalization={"name": "none"}, batch_size=4, seed=1)
    >>> stream = BatchStream(create_dataset(config, np.ones((2, 16, 16)), None))
    >>> [batch.input.shape for batch in stream]
    [(4, 1, 8, 8), (4, 1, 8, 8)]
    """

    def __init__(
        self,
        dataset: BatchSource,
        client: Client | None = None,
        *,
        prefetch: int | None = None,
        epochs: int = 1,
        shuffle: bool | None = None,
        rank: int = 0,
        world_size: int = 1,
        retries: int | None = None,
        chunk_aware: bool | str = False,
        local: str | None = None,
        local_workers: int | None = None,
        batches_per_task: int | str | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(
                f"Rank must be in [0, world_size): expected 0 <= rank < {world_size}, "
                f"got rank {rank}."
            )
        if epochs < 1:
            raise ValueError(f"Epochs must be at least 1, got {epochs}.")
        self.dataset = dataset
        self.client = client if client is not None else current_client()
        self.prefetch = max(1, int(get_option("batching.prefetch", prefetch)))
        self.retries = int(get_option("batching.retries", retries))
        self._per_task = get_option("batching.batches-per-task", batches_per_task)
        task_size(self._per_task, 1, 1)  # a bad value fails here, not at iteration
        self.epochs = int(epochs)
        self.shuffle = dataset.default_shuffle if shuffle is None else bool(shuffle)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.chunk_aware: bool | str = True if chunk_aware == "order" else chunk_aware
        if self.chunk_aware not in (False, True, "draw"):
            raise ValueError(
                "chunk_aware must be False, True, 'order' or 'draw': got "
                f"{chunk_aware!r}."
            )
        if self.chunk_aware == "draw" and dataset.patching_name != "random":
            raise ValueError(
                "Chunk-aware draws replace random patching: expected a dataset with "
                f"patching 'random', got {dataset.patching_name!r}. Use "
                "chunk_aware=True to regroup this dataset's own patches."
            )
        self.local = str(get_option("batching.local", local))
        if self.local not in ("threads", "processes"):
            raise ValueError(
                f"Local executor unknown: expected 'threads' or 'processes', got "
                f"{self.local!r}."
            )
        self.shared_memory = shared_memory_option()
        workers = get_option("batching.local-workers", local_workers)
        self.local_workers = None if workers is None else max(1, int(workers))
        self.seed = int(dataset.seed)
        self.epoch = 0
        self.position = 0
        self._plan: BatchBuilder = dataclasses.replace(
            dataset.plan,  # type: ignore[type-var]  # a dataclass (BatchBuilder)
            **reading_options(),
        )
        self._token = str(
            tokenize(dataset.token, self.shuffle, self.chunk_aware, self.seed)
        )
        self._table = EpochTables(
            dataset, self._plan, draw=self.chunk_aware == "draw", seed=self.seed
        )

    @functools.cached_property
    def batches_per_task(self) -> int:
        """Batches one task builds on a cluster (``auto``: by ``task-bytes``)."""
        nbytes = batch_nbytes(self.dataset, self._table(self.epoch))  # needed next
        task_bytes = int(get_option("batching.task-bytes"))
        return task_size(self._per_task, nbytes, task_bytes)

    @property
    def path(self) -> str:
        """Where this stream builds batches, in words (for reports and logs).

        Returns
        -------
        str
            ``"distributed: ..."`` with the workers, threads and batches per task,
            or ``"local threads: N"`` / ``"local processes: N"``.
        """
        if self.client is None:
            return f"local {self.local}: {self._local_workers()}"
        workers = self.client.nthreads()
        return (
            f"distributed: {len(workers)} workers, {sum(workers.values())} threads, "
            f"{self.batches_per_task} batches per task"
            + (", results through shared memory" if self._shares_memory() else "")
        )

    def _shares_memory(self) -> bool:
        """Whether the workers hand batches back through this machine's tmpfs."""
        return bool(self.shared_memory and Handoff.applies(self.client))

    def _local_workers(self) -> int:
        if self.local_workers is not None:
            return self.local_workers
        plan = self._plan
        stacks = (*getattr(plan, "inputs", ()), *(getattr(plan, "targets", ()) or ()))
        if self.local == "threads" and any(
            getattr(s, "over_network", False) for s in stacks
        ):
            return self.prefetch  # reads wait on the network, not on the cores
        return max(1, min(self.prefetch, os.cpu_count() or 1))

    # --- order -------------------------------------------------------------------

    @property
    def batches_per_epoch(self) -> int:
        """Batches this rank receives per epoch."""
        total = math.ceil(len(self.dataset) / self.dataset.batch_size)
        if self.world_size == 1:
            return total
        return total // self.world_size

    def __len__(self) -> int:
        return self.batches_per_epoch * self.epochs

    def epoch_order(self, epoch: int) -> list[npt.NDArray[np.int64]]:
        """Return the dataset indices of this rank's batches in one epoch, in order.

        Parameters
        ----------
        epoch : int
            The epoch.

        Returns
        -------
        list of numpy.ndarray
            One array of dataset indices per batch.
        """
        n = len(self.dataset)
        if self.chunk_aware:
            order = self._table.chunk_order(epoch)
        elif self.shuffle:
            order = shuffled_order(n, self.seed, epoch)
        else:
            order = np.arange(n, dtype=np.int64)
        return split_batches(order, self.dataset.batch_size, self.rank, self.world_size)

    # --- resume ------------------------------------------------------------------

    def state_dict(self) -> dict[str, int | bool | str]:
        """Return where the stream is: the next batch to yield, and its identity.

        Returns
        -------
        dict
            ``epoch`` and ``batch`` (the next one), plus the settings a resumed
            stream must share.
        """
        return {
            "epoch": self.epoch,
            "batch": self.position,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "chunk_aware": self.chunk_aware,
            "rank": self.rank,
            "world_size": self.world_size,
            "n_patches": len(self.dataset),
            "batch_size": self.dataset.batch_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume at the batch a :meth:`state_dict` recorded.

        Parameters
        ----------
        state : dict
            The output of :meth:`state_dict`.

        Raises
        ------
        ValueError
            When the state belongs to a stream with other settings (seed, shuffle,
            rank, world size, dataset length or batch size).
        """
        mine = self.state_dict()
        different = {
            k: (state.get(k), mine[k]) for k in _STATE_KEYS if state.get(k) != mine[k]
        }
        if different:
            raise ValueError(
                "Cannot resume a BatchStream from another stream's state: these "
                f"settings differ (saved, current): {different}. Build the stream "
                "with the same dataset and settings."
            )
        self.epoch = int(state["epoch"])
        self.position = int(state["batch"])

    # --- iteration ---------------------------------------------------------------

    def _jobs(self) -> Iterator[tuple[int, int, npt.NDArray[np.int64]]]:
        """Yield (epoch, position, indices) from the current position on."""
        epoch, position = self.epoch, self.position
        while epoch < self.epochs:
            order = self.epoch_order(epoch)
            for index in range(position, len(order)):
                yield epoch, index, order[index]
            epoch, position = epoch + 1, 0

    def __iter__(self) -> Iterator[Batch]:
        if self.client is not None:
            # in-memory stacks go to the cluster now, as tiles spread over workers
            executor = DistributedExecutor(
                self.client,
                self._plan,
                self._table,
                token=self._token,
                rank=self.rank,
                retries=self.retries,
                batches_per_task=self.batches_per_task,
                handoff=Handoff() if self._shares_memory() else None,
            )
            return self._iterate(executor)
        return self._iterate_local()

    def _iterate_local(self) -> Iterator[Batch]:
        workers = self._local_workers()
        if self.local == "processes":
            yield from self._iterate(ProcessExecutor(workers, self._plan, self._table))
        else:
            yield from self._iterate(ThreadExecutor(workers, self._plan, self._table))

    def _iterate(self, executor: BatchExecutor[HandleT]) -> Iterator[Batch]:
        """Yield batches fetched ahead by a background thread, in order.

        The stream's position moves when a batch is yielded, so :meth:`state_dict`
        is exact.
        """
        return fetch_in_order(
            executor,
            self._jobs(),
            self._finish,
            prefetch=self.prefetch,
            ready=_READY_BATCHES,
        )

    def _finish(
        self,
        epoch: int,
        index: int,
        indices: npt.NDArray[np.int64],
        result: BatchArrays,
    ) -> Batch:
        inputs, targets = result
        self.epoch, self.position = epoch, index + 1
        if self.position >= self.batches_per_epoch:
            self.epoch, self.position = epoch + 1, 0
        logger.debug("yielding batch %d of epoch %d", index, epoch)
        return Batch(
            input=inputs,
            target=targets,
            specs=self._table(epoch).take(indices),
            indices=indices,
            epoch=epoch,
            index=index,
        )
