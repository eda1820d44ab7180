"""A distributed client as a batch executor: one task per batch, one held plan."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
from distributed import Client, LocalCluster

from careamics_dask.feeding import DistributedExecutor
from careamics_dask.feeding._handoff import Handoff
from careamics_dask.feeding.distributed_executor import hold
from tests.feeding.test_executor import ExecutorTests

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from careamics_dask.factory import CareamicsDataset

pytestmark = pytest.mark.distributed


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


class TestDistributedExecutor(ExecutorTests):
    @pytest.fixture(autouse=True)
    def _client(self, client: Client) -> None:
        self.client = client

    def make(self, dataset: CareamicsDataset) -> Any:
        return DistributedExecutor(
            self.client,
            dataset.plan,
            dataset.patch_table,
            token="test",
            rank=0,
            retries=0,
        )


class TestDistributedExecutorWithHandoff(TestDistributedExecutor):
    """The same suite with batches coming back through tmpfs files."""

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path

    def make(self, dataset: CareamicsDataset) -> Any:
        return DistributedExecutor(
            self.client, dataset.plan, dataset.patch_table, token="test-handoff",
            rank=0, retries=0, batches_per_task=2, handoff=Handoff(self.directory),
        )  # fmt: skip


def test_batches_are_named_tasks_on_one_held_plan(client: Client) -> None:
    from tests.feeding.helpers import small_train_dataset

    dataset = small_train_dataset(4, image_seed=9)
    executor = DistributedExecutor(
        client, dataset.plan, dataset.patch_table, token="named", rank=1, retries=0
    )
    try:
        job = executor.submit(2, 5, dataset.batch_indices(5))
        assert job.future.key == "careamics-batch-named-1-2-5"
        assert job.tiles  # in-memory stacks are read from tiles
        executor.result(job)
        assert "careamics-plan-named" in client.futures
    finally:
        executor.close()
    deadline = time.monotonic() + 10
    while _held(client) and time.monotonic() < deadline:
        time.sleep(0.01)  # released asynchronously, on the client's loop
    assert _held(client) == []
    assert hold(7) == 7


def _held(client: Client) -> list[str]:
    """The plan and tile futures this client still holds."""
    return [
        str(key)
        for key in list(client.futures)
        if str(key) == "careamics-plan-named" or str(key).startswith("careamics-tile-")
    ]
