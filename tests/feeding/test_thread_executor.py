"""Local threads as a batch executor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from careamics_dask.feeding import ThreadExecutor
from tests.feeding.test_executor import ExecutorTests

if TYPE_CHECKING:
    from careamics_dask.factory import CareamicsDataset


class TestThreadExecutor(ExecutorTests):
    def make(self, dataset: CareamicsDataset) -> Any:
        return ThreadExecutor(2, dataset.plan, dataset.patch_table)


def test_an_error_is_raised_by_result() -> None:
    def broken(epoch: int) -> Any:
        raise LookupError(f"no table for epoch {epoch}")

    class Plan:
        def build(self, *args: Any) -> Any:
            raise ArithmeticError("bad batch")

    def rows(epoch: int) -> Any:
        return _Rows()

    executor = ThreadExecutor(1, Plan(), rows)
    try:
        handle = executor.submit(0, 0, np.arange(2))
        with pytest.raises(ArithmeticError, match="bad batch"):
            executor.result(handle)
    finally:
        executor.close()
    unreadable = ThreadExecutor(1, Plan(), broken)
    try:
        with pytest.raises(LookupError):  # the table is read when submitting
            unreadable.submit(3, 0, np.arange(2))
    finally:
        unreadable.close()


class _Rows:
    def take(self, indices: Any) -> Any:
        return indices
