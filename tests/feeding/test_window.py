"""The fetch-ahead window: order, bounded look-ahead, errors, early close."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import numpy as np
import pytest

from careamics_dask.feeding.window import fetch_in_order


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
