"""A stream of batches built on a cluster: a bounded window of futures, resumable.

:class:`BatchStream` turns a dataset into an iterator of batches
(:class:`~careamics_dask.factory.region_data.Batch`). Every batch is one task
(``build_batch``) submitted to a ``distributed`` cluster, or run on local threads
when there is no cluster; at most ``prefetch`` are in flight, results are fetched
directly from the workers and released as soon as they are yielded. The order is
deterministic: the same seed gives the same batches whatever the number of workers,
the order in which futures complete, or a resume in the middle of an epoch.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import logging
import math
import os
import queue
import threading
from concurrent.futures import (
    CancelledError,
    Future,
    ThreadPoolExecutor,
)
from typing import TYPE_CHECKING, Any

import numpy as np
from dask.base import tokenize

from careamics_dask.factory.region_data import Batch
from careamics_dask.feeding._local_processes import LocalProcesses, Ticket
from careamics_dask.feeding._tile_pieces import TilesLostError
from careamics_dask.feeding._tiles import TiledPlan, build_tiled_batch
from careamics_dask.graph.batch import build_batch
from careamics_dask.graph.ordering import (
    canonical_chunks,
    chunk_aware_order,
    draw_chunk_aware_table,
)
from careamics_dask.graph.reading import PatchReader
from careamics_dask.runtime import get_option, reading_options

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy.typing as npt
    from distributed import Client

    from careamics_dask.factory.dataset import CareamicsDataset
    from careamics_dask.patching import PatchTable

__all__ = ["BatchStream", "hold"]

logger = logging.getLogger(__name__)

_SHUFFLE_KEY = 0x5EED_0F_BA7C4
"""Spawn-key word that separates the stream's shuffling from other random draws."""

_READY_BATCHES = 2
"""Fetched batches waiting for the consumer (besides the tasks in flight)."""

_DONE = object()
"""Marks the end of the fetched batches."""

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
    dataset : CareamicsDataset
        The dataset.
    client : distributed.Client, optional
        Where batches are built. ``None`` uses the current default client if there
        is one, else local threads (no cluster at all; same batches).
    prefetch : int, optional
        Batches in flight; default ``careamics-dask.batching.prefetch``.
    epochs : int, default 1
        Epochs to stream.
    shuffle : bool, optional
        Shuffle patches across batches each epoch (seeded by the dataset's seed and
        the epoch). Default: the config's ``train_dataloader_params["shuffle"]`` in
        training, False otherwise.
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

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import create_dataset
    >>> config = DataConfig(mode="validating", data_type="array", axes="SYX",
    ...     patching={"name": "fixed_random", "patch_size": [8, 8]},
    ...     normalization={"name": "none"}, batch_size=4, seed=1)
    >>> stream = BatchStream(create_dataset(config, np.ones((2, 16, 16)), None))
    >>> [batch.input.shape for batch in stream]
    [(4, 1, 8, 8), (4, 1, 8, 8)]
    """

    def __init__(
        self,
        dataset: CareamicsDataset,
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
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(
                f"Rank must be in [0, world_size): expected 0 <= rank < {world_size}, "
                f"got rank {rank}."
            )
        if epochs < 1:
            raise ValueError(f"Epochs must be at least 1, got {epochs}.")
        self.dataset = dataset
        self.client = client if client is not None else _default_client()
        self.prefetch = max(1, int(get_option("batching.prefetch", prefetch)))
        self.retries = int(get_option("batching.retries", retries))
        self.epochs = int(epochs)
        self.shuffle = _default_shuffle(dataset) if shuffle is None else bool(shuffle)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.chunk_aware: bool | str = True if chunk_aware == "order" else chunk_aware
        if self.chunk_aware not in (False, True, "draw"):
            raise ValueError(
                "chunk_aware must be False, True, 'order' or 'draw': got "
                f"{chunk_aware!r}."
            )
        if self.chunk_aware == "draw" and dataset.config.patching.name != "random":
            raise ValueError(
                "Chunk-aware draws replace random patching: expected a dataset with "
                f"patching 'random', got {dataset.config.patching.name!r}. Use "
                "chunk_aware=True to regroup this dataset's own patches."
            )
        self._drawn: tuple[int, PatchTable] | None = None
        self.local = str(get_option("batching.local", local))
        if self.local not in ("threads", "processes"):
            raise ValueError(
                f"Local executor unknown: expected 'threads' or 'processes', got "
                f"{self.local!r}."
            )
        self.seed = int(dataset.config.seed)
        self.epoch = 0
        self.position = 0
        self._plan = dataclasses.replace(dataset.plan, **reading_options())
        self._token = tokenize(
            dataset._token(), self.shuffle, self.chunk_aware, self.seed
        )

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
        order = np.arange(n, dtype=np.int64)
        if self.chunk_aware:
            chunks = [canonical_chunks(source) for source in self._plan.inputs]
            order = chunk_aware_order(
                self._table(epoch),
                chunks,
                self.dataset.batch_size,
                seed=self.seed,
                epoch=epoch,
            )
        elif self.shuffle:
            sequence = np.random.SeedSequence(
                self.seed, spawn_key=(_SHUFFLE_KEY, epoch)
            )
            order = np.random.default_rng(sequence).permutation(n).astype(np.int64)
        size = self.dataset.batch_size
        batches = [order[i : i + size] for i in range(0, n, size)]
        if self.world_size > 1:
            usable = len(batches) // self.world_size * self.world_size
            batches = batches[self.rank : usable : self.world_size]
        return batches

    def _table(self, epoch: int) -> PatchTable:
        """Return the epoch's patch table: the dataset's, or chunk-aware draws."""
        if self.chunk_aware != "draw":
            return self.dataset.patch_table(epoch)
        if self._drawn is None or self._drawn[0] != epoch:
            chunks = [canonical_chunks(source) for source in self._plan.inputs]
            patch = getattr(self.dataset.config.patching, "patch_size", None)
            if patch is None:  # checked at construction: random patching
                raise ValueError("Chunk-aware draws need a patch size.")
            drawn = draw_chunk_aware_table(
                self.dataset.input_shapes,
                chunks,
                patch,
                patches_per_chunk=self.dataset.batch_size,
                seed=self.seed,
                epoch=epoch,
            )
            self._drawn = (epoch, drawn)
        return self._drawn[1]

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
            submit, wait = self._distributed(self.client)
            return self._iterate(submit, wait)
        return self._iterate_local()

    def _iterate(self, submit: Any, wait: Any) -> Iterator[Batch]:
        """Yield batches fetched by a background thread, in order.

        The thread keeps ``prefetch`` batch tasks in flight and fetches finished
        batches into a small queue, so the consumer's ``next()`` rarely waits for a
        round trip to a worker. The stream's position moves when a batch is
        yielded, so :meth:`state_dict` is exact.
        """
        ready: queue.Queue[Any] = queue.Queue(maxsize=_READY_BATCHES)
        stop = threading.Event()
        fetcher = threading.Thread(
            target=self._fetch,
            args=(submit, wait, ready, stop),
            name="careamics-batch-fetch",
            daemon=True,
        )
        fetcher.start()
        try:
            while True:
                item = ready.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield self._finish(*item)
        finally:
            stop.set()
            while fetcher.is_alive():
                with contextlib.suppress(queue.Empty):
                    ready.get(timeout=0.05)
            fetcher.join()

    def _fetch(
        self, submit: Any, wait: Any, ready: queue.Queue[Any], stop: threading.Event
    ) -> None:
        """Submit tasks in a bounded window and queue their results (a thread)."""
        window: collections.deque[tuple[int, int, npt.NDArray[np.int64], Any]] = (
            collections.deque()
        )

        def put(item: Any) -> bool:
            while not stop.is_set():
                with contextlib.suppress(queue.Full):
                    ready.put(item, timeout=0.05)
                    return True
            return False

        def fetch_one() -> bool:
            epoch, index, indices, future = window.popleft()
            result = wait(future)
            _cancel(future)
            return put((epoch, index, indices, result))

        try:
            for job in self._jobs():
                if stop.is_set():
                    return
                window.append((*job, submit(*job)))
                if len(window) >= self.prefetch and not fetch_one():
                    return
            while window:
                if not fetch_one():
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, re-raised there
            put(exc)
        finally:
            for *_, future in window:
                _cancel(future)

    def _iterate_local(self) -> Iterator[Batch]:
        workers = max(1, min(self.prefetch, os.cpu_count() or 1))
        if self.local == "processes":
            yield from self._iterate_processes(workers)
            return
        build = functools.partial(build_batch, self._plan)
        with ThreadPoolExecutor(workers, thread_name_prefix="careamics-batch") as pool:

            def submit(
                epoch: int, _: int, indices: npt.NDArray[np.int64]
            ) -> Future[Any]:
                rows = self._table(epoch).take(indices)
                return pool.submit(build, rows, indices, epoch)

            yield from self._iterate(submit, Future.result)

    def _iterate_processes(self, workers: int) -> Iterator[Batch]:
        with LocalProcesses(workers, build_batch, self._plan) as processes:

            def submit(epoch: int, _: int, indices: npt.NDArray[np.int64]) -> Ticket:
                rows = self._table(epoch).take(indices)
                return processes.submit(rows, indices, epoch)

            yield from self._iterate(submit, processes.result)

    def _distributed(self, client: Client) -> tuple[Any, Any]:
        # in-memory stacks go to the cluster once, as tiles spread over the workers
        tiled = TiledPlan(client, self._plan)
        # a task, not scattered data: the scheduler recomputes it when the worker
        # holding it is lost (a scattered value would die with that worker)
        plan = client.submit(
            hold, tiled.plan, key=f"careamics-plan-{self._token}", pure=False
        )
        tables: dict[int, Any] = {}
        # clips patches to their images as the batch task will (tiled plans only)
        clipper = PatchReader(self._plan.inputs) if tiled.tiled else None

        def submit(
            epoch: int, index: int, indices: npt.NDArray[np.int64], attempt: int = 0
        ) -> _Job:
            if epoch not in tables:
                tables.clear()
                tables[epoch] = self._table(epoch)
            rows = tables[epoch].take(indices)
            key = f"careamics-batch-{self._token}-{self.rank}-{epoch}-{index}"
            if attempt:
                key = f"{key}-again{attempt}"
            if not tiled.tiled:
                future = client.submit(
                    build_batch,
                    plan,
                    rows,
                    indices,
                    epoch,
                    key=key,
                    retries=self.retries,
                    pure=False,
                )
                return _Job(future, {}, (epoch, index, indices), attempt)
            assert clipper is not None  # tiled plans are BatchPlans
            low, high = clipper.clipped(rows.data_idx, rows.coords, rows.patch_size)
            tiles = tiled.needed(rows, low, high)
            future = client.submit(
                build_tiled_batch,
                plan,
                rows,
                indices,
                epoch,
                tiles,
                key=key,
                retries=self.retries,
                pure=False,
            )
            return _Job(future, tiles, (epoch, index, indices), attempt)

        def wait(job: _Job) -> Any:
            while True:
                try:
                    return client.gather(job.future, direct=True)
                except (CancelledError, TilesLostError):
                    # scattered tiles die with their worker: send lost tiles again
                    # from this client's copy (another batch may have done it) and
                    # run the batch again
                    if not job.tiles or job.attempt >= _TILE_ATTEMPTS:
                        raise
                    lost = tiled.rescatter()
                    logger.warning(
                        "batch %d of epoch %d lost its in-memory tiles with a worker "
                        "(%d sent again); running it again",
                        job.identity[1],
                        job.identity[0],
                        lost,
                    )
                    job.release()
                    again = submit(*job.identity, attempt=job.attempt + 1)
                    job.future, job.tiles, job.attempt = (
                        again.future,
                        again.tiles,
                        again.attempt,
                    )

        return submit, wait

    def _finish(
        self,
        epoch: int,
        index: int,
        indices: npt.NDArray[np.int64],
        result: tuple[Any, Any],
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


_TILE_ATTEMPTS = 3
"""How often a batch is run again after its in-memory tiles were lost."""


@dataclasses.dataclass
class _Job:
    """A submitted batch: its future, the tile boxes it reads, its identity."""

    future: Any
    tiles: dict[Any, Any]
    identity: tuple[int, int, npt.NDArray[np.int64]]
    attempt: int = 0

    def release(self) -> None:
        """Release the batch's future."""
        _cancel(self.future)


def hold(value: Any) -> Any:
    """Return ``value``: a task that keeps a value recoverable on a cluster.

    Parameters
    ----------
    value : Any
        The value.

    Returns
    -------
    Any
        The same value.
    """
    return value


def _cancel(future: Any) -> None:
    if isinstance(future, _Job):
        future.release()
        return
    release = getattr(future, "release", None)
    if callable(release):
        release()
    elif isinstance(future, Future):
        future.cancel()


def _default_client() -> Client | None:
    try:
        from distributed import default_client

        client: Client = default_client()
    except (ImportError, ValueError):
        return None
    return client


def _default_shuffle(dataset: CareamicsDataset) -> bool:
    config = dataset.config
    if config.mode != "training":
        return False
    return bool(config.train_dataloader_params.get("shuffle", True))
