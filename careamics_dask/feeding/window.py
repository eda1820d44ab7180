"""A bounded window of batches in flight, fetched in order by a background thread.

With a :class:`~careamics_dask.feeding.executor.GroupExecutor` (a cluster), the
window holds tasks of ``batches_per_task`` consecutive batches each: ``prefetch``
batches rounded up to whole tasks, at least two tasks (so that a worker builds the
next group while the last one is handed over) and at least one task per worker
thread of the cluster (so that every worker builds), so up to ``max(prefetch, 2 *
batches_per_task, threads * batches_per_task)`` batches are in flight.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import queue
import threading
from typing import TYPE_CHECKING, Any, TypeVar

from careamics_dask.feeding.executor import GroupExecutor

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator

    import numpy as np
    import numpy.typing as npt

    from careamics_dask.feeding.executor import BatchArrays, BatchExecutor, Job

__all__ = ["MAX_BATCHES_PER_TASK", "fetch_in_order", "task_size", "window_shape"]

HandleT = TypeVar("HandleT")
T = TypeVar("T")

MAX_BATCHES_PER_TASK = 64
"""The most batches ``batches-per-task: auto`` puts in one task."""

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


def window_shape(executor: object, prefetch: int) -> tuple[int, int]:
    """Return the batches per task and the tasks in flight of a window.

    Parameters
    ----------
    executor : BatchExecutor
        The executor (a :class:`GroupExecutor` says how many batches a task builds).
    prefetch : int
        Batches in flight.

    Returns
    -------
    tuple of int
        ``(1, prefetch)`` for executors that build one batch per task, else
        ``(batches_per_task, max(2, ceil(prefetch / batches_per_task), threads))``.

    Examples
    --------
    >>> window_shape(object(), 8)
    (1, 8)
    """
    prefetch = max(1, prefetch)
    if not isinstance(executor, GroupExecutor) or executor.batches_per_task <= 1:
        return 1, prefetch
    size = int(executor.batches_per_task)
    return size, max(2, -(-prefetch // size), int(executor.threads))


def task_size(option: int | str, batch_bytes: int, task_bytes: int) -> int:
    """Return how many batches one task builds.

    Parameters
    ----------
    option : int or "auto"
        ``careamics-dask.batching.batches-per-task``: a number, or ``auto``.
    batch_bytes : int
        The bytes of one batch (inputs and targets).
    task_bytes : int
        ``careamics-dask.batching.task-bytes``: what one task's batches should
        weigh with ``auto``.

    Returns
    -------
    int
        The number itself, or for ``auto`` as many batches as fit in
        ``task_bytes`` (at least 1, at most :data:`MAX_BATCHES_PER_TASK`).

    Raises
    ------
    ValueError
        For an option that is neither a positive number nor ``auto``.

    Examples
    --------
    >>> task_size("auto", 512 * 1024, 16 * 2**20)
    32
    >>> task_size("auto", 64 * 2**20, 16 * 2**20), task_size(4, 1, 1)
    (1, 4)
    """
    if option == "auto":
        fits = int(task_bytes) // max(1, int(batch_bytes))
        return max(1, min(MAX_BATCHES_PER_TASK, fits))
    try:
        size = int(option)
    except (TypeError, ValueError):
        size = 0
    if size < 1:
        raise ValueError(
            "batches_per_task (careamics-dask.batching.batches-per-task) must be a "
            f"positive number or 'auto', got {option!r}."
        )
    return size


def _fetch(
    executor: BatchExecutor[HandleT],
    jobs: Iterable[Job],
    prefetch: int,
    fetched: queue.Queue[object],
    stop: threading.Event,
) -> None:
    """Submit jobs in a bounded window and queue their results (a thread)."""
    size, depth = window_shape(executor, prefetch)
    grouped: Any = executor if size > 1 else None
    groups = _groups(jobs, size)
    window: collections.deque[tuple[tuple[Job, ...], HandleT]] = collections.deque()

    def put(item: object) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                fetched.put(item, timeout=0.05)
                return True
        return False

    def refill() -> None:
        while len(window) < depth and not stop.is_set():
            group = next(groups, None)
            if group is None:
                return
            handle = (
                grouped.submit_group(group) if grouped else executor.submit(*group[0])
            )
            window.append((group, handle))

    try:
        refill()
        while window:
            group, handle = window.popleft()
            results: list[BatchArrays] = (
                grouped.results(handle) if grouped else [executor.result(handle)]
            )
            executor.cancel(handle)
            refill()  # the next task starts before this one's batches are handed over
            for job, result in zip(group, results, strict=True):
                if not put((*job, result)):
                    return
        put(_DONE)
    except BaseException as exc:  # handed to the consumer, re-raised there
        put(exc)
    finally:
        for _, handle in window:
            executor.cancel(handle)


def _groups(jobs: Iterable[Job], size: int) -> Iterator[tuple[Job, ...]]:
    """Cut the jobs into consecutive groups of ``size`` (the last may be shorter)."""
    iterator = iter(jobs)
    while group := tuple(itertools.islice(iterator, size)):
        yield group
