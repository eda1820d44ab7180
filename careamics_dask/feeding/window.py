"""A bounded window of batches in flight, fetched in order by a background thread."""

from __future__ import annotations

import collections
import contextlib
import queue
import threading
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable

    import numpy as np
    import numpy.typing as npt

    from careamics_dask.feeding.executor import BatchArrays, BatchExecutor

__all__ = ["fetch_in_order"]

HandleT = TypeVar("HandleT")
T = TypeVar("T")

Job = tuple[int, int, "npt.NDArray[np.int64]"]
"""A batch to build: epoch, index within the epoch, dataset indices."""

_DONE = object()
"""Marks the end of the fetched batches."""


def fetch_in_order(
    executor: BatchExecutor[HandleT],
    jobs: Iterable[Job],
    finish: Callable[[int, int, npt.NDArray[np.int64], BatchArrays], T],
    *,
    prefetch: int,
    ready: int,
) -> Generator[T, None, None]:
    """Yield ``finish(epoch, index, indices, arrays)`` of each job, in job order.

    A background thread keeps ``prefetch`` jobs submitted to the executor and
    fetches finished batches into a queue of ``ready``, so the consumer's ``next()``
    rarely waits for a round trip to a worker. ``finish`` runs in the consumer's
    thread just before its result is yielded. An error of a batch is raised in the
    consumer; closing the iterator early stops the thread, cancels the batches in
    flight and closes the executor, as the end of the jobs does.

    Parameters
    ----------
    executor : BatchExecutor
        Builds the batches.
    jobs : Iterable
        ``(epoch, index, indices)`` per batch (iterated in the thread).
    finish : Callable
        Turns a fetched batch into what is yielded.
    prefetch : int
        Batches in flight.
    ready : int
        Fetched batches waiting for the consumer.

    Yields
    ------
    object
        What ``finish`` returns, one per job.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.graph.batch import BatchPlan
    >>> from careamics_dask.graph.transforms.normalize import Normalizer
    >>> from careamics_dask.graph.reading import StackSource
    >>> from careamics_dask.patching import TiledPatching
    >>> from careamics_dask.feeding.thread_executor import ThreadExecutor
    >>> data = np.ones((1, 1, 16, 16))
    >>> plan = BatchPlan(inputs=(StackSource(source="array", shape=data.shape,
    ...     dtype="float64", data=data),), targets=None, channels=None,
    ...     target_channels=None, normalizer=Normalizer(name="none"))
    >>> executor = ThreadExecutor(2, plan, TiledPatching([data.shape], [8, 8],
    ...     [2, 2]).table)
    >>> jobs = [(0, i, np.arange(3 * i, 3 * i + 3)) for i in range(3)]
    >>> list(fetch_in_order(executor, jobs, lambda e, i, n, a: (i, a[0].shape),
    ...     prefetch=2, ready=1))
    [(0, (3, 1, 8, 8)), (1, (3, 1, 8, 8)), (2, (3, 1, 8, 8))]
    """
    fetched: queue.Queue[object] = queue.Queue(maxsize=ready)
    stop = threading.Event()
    fetcher = threading.Thread(
        target=_fetch,
        args=(executor, jobs, prefetch, fetched, stop),
        name="careamics-batch-fetch",
        daemon=True,
    )
    fetcher.start()
    try:
        while True:
            item = fetched.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield finish(*item)  # type: ignore[misc]  # (epoch, index, indices, arrays)
    finally:
        stop.set()
        while fetcher.is_alive():
            with contextlib.suppress(queue.Empty):
                fetched.get(timeout=0.05)
        fetcher.join()
        executor.close()


def _fetch(
    executor: BatchExecutor[HandleT],
    jobs: Iterable[Job],
    prefetch: int,
    fetched: queue.Queue[object],
    stop: threading.Event,
) -> None:
    """Submit jobs in a bounded window and queue their results (a thread)."""
    window: collections.deque[tuple[int, int, npt.NDArray[np.int64], HandleT]] = (
        collections.deque()
    )

    def put(item: object) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                fetched.put(item, timeout=0.05)
                return True
        return False

    def fetch_one() -> bool:
        epoch, index, indices, handle = window.popleft()
        result = executor.result(handle)
        executor.cancel(handle)
        return put((epoch, index, indices, result))

    try:
        for job in jobs:
            if stop.is_set():
                return
            window.append((*job, executor.submit(*job)))
            if len(window) >= prefetch and not fetch_one():
                return
        while window:
            if not fetch_one():
                return
        put(_DONE)
    except BaseException as exc:  # handed to the consumer, re-raised there
        put(exc)
    finally:
        for *_, handle in window:
            executor.cancel(handle)
