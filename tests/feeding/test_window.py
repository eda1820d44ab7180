"""The fetch-ahead window: order, bounded look-ahead, errors, early close."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import numpy as np
import pytest

from careamics_dask.feeding.window import fetch_in_order, window_shape


class Recording:
    """An executor that builds batches at once and records every call."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.submitted: list[int] = []
        self.cancelled = 0
        self.closed = threading.Event()
        self.fail_at = fail_at

    def submit(self, epoch: int, index: int, indices: Any) -> Future[Any]:
        self.submitted.append(index)
        future: Future[Any] = Future()
        if index == self.fail_at:
            future.set_exception(ArithmeticError(f"batch {index}"))
        else:
            future.set_result((np.full(2, index, np.float32), None))
        return future

    def result(self, handle: Future[Any]) -> Any:
        return handle.result()

    def cancel(self, handle: Future[Any]) -> None:
        self.cancelled += 1

    def close(self) -> None:
        self.closed.set()


def jobs(n: int) -> list[tuple[int, int, Any]]:
    return [(0, i, np.array([i])) for i in range(n)]


def test_batches_come_in_job_order_and_the_executor_closes() -> None:
    executor = Recording()
    out = list(
        fetch_in_order(
            executor, jobs(6), lambda e, i, n, a: int(a[0][0]), prefetch=2, ready=1
        )
    )
    assert out == list(range(6))
    assert executor.cancelled == 6  # each released once fetched
    assert executor.closed.is_set()


def test_an_error_reaches_the_consumer() -> None:
    executor = Recording(fail_at=2)
    stream = fetch_in_order(
        executor, jobs(6), lambda e, i, n, a: i, prefetch=2, ready=1
    )
    assert [next(stream), next(stream)] == [0, 1]
    with pytest.raises(ArithmeticError, match="batch 2"):
        next(stream)
    assert executor.closed.is_set()


def test_closing_early_stops_submitting() -> None:
    executor = Recording()
    stream = fetch_in_order(
        executor, jobs(1000), lambda e, i, n, a: i, prefetch=3, ready=1
    )
    assert next(stream) == 0
    stream.close()
    assert executor.closed.is_set()
    assert len(executor.submitted) < 20  # a bounded window, not the whole list
    assert executor.cancelled == len(executor.submitted)


class Groups(Recording):
    """A group executor: tasks of ``batches_per_task`` batches, ``threads`` at once."""

    def __init__(self, batches_per_task: int, threads: int) -> None:
        super().__init__()
        self.batches_per_task = batches_per_task
        self.threads = threads
        self.groups: list[int] = []
        self.in_flight_at_first_fetch: int | None = None

    def submit_group(self, group: Any) -> list[Any]:
        self.groups.append(len(group))
        return [(np.full(2, job[1], np.float32), None) for job in group]

    def results(self, handle: list[Any]) -> list[Any]:
        if self.in_flight_at_first_fetch is None:
            self.in_flight_at_first_fetch = len(self.groups)
        return handle


@pytest.mark.parametrize(
    ("threads", "prefetch", "depth"), [(1, 8, 2), (2, 8, 2), (6, 8, 6), (3, 40, 10)]
)
def test_every_worker_thread_has_a_task_in_flight(
    threads: int, prefetch: int, depth: int
) -> None:
    executor = Groups(batches_per_task=4, threads=threads)
    assert window_shape(executor, prefetch) == (4, depth)
    out = list(
        fetch_in_order(
            executor, jobs(100), lambda e, i, n, a: i, prefetch=prefetch, ready=1
        )
    )
    assert out == list(range(100))
    assert executor.in_flight_at_first_fetch == depth
    assert executor.groups == [4] * 25
