"""A conformance suite for batch executors; each executor's tests subclass it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from tests.feeding.helpers import small_train_dataset

if TYPE_CHECKING:
    from collections.abc import Iterator

    from careamics_dask.factory import CareamicsDataset
    from careamics_dask.feeding.executor import BatchExecutor


class ExecutorTests:
    """What every :class:`~careamics_dask.feeding.BatchExecutor` must do."""

    def make(self, dataset: CareamicsDataset) -> BatchExecutor[Any]:
        raise NotImplementedError

    @pytest.fixture
    def dataset(self) -> CareamicsDataset:
        return small_train_dataset(4, image_seed=9)

    @pytest.fixture
    def executor(self, dataset: CareamicsDataset) -> Iterator[BatchExecutor[Any]]:
        executor = self.make(dataset)
        try:
            yield executor
        finally:
            executor.close()

    def test_results_equal_the_datasets_batches(
        self, dataset: CareamicsDataset, executor: BatchExecutor[Any]
    ) -> None:
        jobs = [(1, i, dataset.batch_indices(i)) for i in range(3)]
        handles = [executor.submit(*job) for job in jobs]
        for (epoch, index, _), handle in zip(jobs, handles, strict=True):
            inputs, targets = executor.result(handle)
            executor.cancel(handle)  # releasing a finished batch is allowed
            batch = dataset.batch(index, epoch=epoch)
            np.testing.assert_array_equal(inputs, batch.input)
            assert targets is not None
            assert batch.target is not None
            np.testing.assert_array_equal(targets, batch.target)

    def test_cancelled_batches_do_not_stop_the_next(
        self, dataset: CareamicsDataset, executor: BatchExecutor[Any]
    ) -> None:
        first = executor.submit(0, 0, dataset.batch_indices(0))
        second = executor.submit(0, 1, dataset.batch_indices(1))
        executor.result(first)
        executor.cancel(first)
        inputs, _ = executor.result(second)
        np.testing.assert_array_equal(inputs, dataset.batch(1).input)
