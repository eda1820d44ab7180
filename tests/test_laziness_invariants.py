"""The laziness invariants the benchmarks rely on (``BENCHMARKS.md``, "Scale").

- one task per batch: an epoch's graph grows with its batches, not its patches;
- building a dataset with given statistics (and its tables, tasks and lazy arrays,
  and a stream) reads no pixel;
- a ``BatchStream`` builds at most its window ahead of the consumer.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin

from careamics_dask import BatchStream
from careamics_dask.config import DataConfig
from careamics_dask.factory import CareamicsDataset, create_dataset
from careamics_dask.feeding import stream as stream_module
from careamics_dask.testing import count_region_reads, raise_if_dask_computes

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SHAPE = (4, 64, 64)
CHUNKS = (1, 16, 16)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("laziness") / "d.zarr"
    data = np.random.default_rng(0).integers(0, 1000, SHAPE).astype(np.uint16)
    zarr.create_array(store=str(root), name="image", data=data, chunks=CHUNKS)
    return root


def dataset(store: Path, batch_size: int, patch: int = 8) -> CareamicsDataset:
    config = DataConfig(
        mode="training",
        data_type="zarr",
        axes="SYX",
        patching={"name": "random", "patch_size": [patch, patch]},
        normalization={"name": "mean_std", "input_means": [500], "input_stds": [300]},
        batch_size=batch_size,
        seed=3,
    )
    return create_dataset(config, str(store / "image"), None)


def keys_of_tasks(ds: CareamicsDataset, epoch: int) -> int:
    return len({key for task in ds.batch_tasks(epoch) for key in task.__dask_graph__()})


def test_tasks_per_epoch_grow_with_batches_not_patches(store: Path) -> None:
    counts = {}
    for batch_size, patch in ((4, 8), (16, 8), (64, 8), (4, 16), (16, 16)):
        ds = dataset(store, batch_size, patch)
        counts[batch_size, patch] = (
            len(ds),
            ds.n_batches(),
            keys_of_tasks(ds, 1),
            len(ds.to_dask(epoch=1).__dask_graph__()),
        )
    for patches, batches, tasks, array_keys in counts.values():
        assert patches > batches  # several patches per batch
        assert tasks == batches + 1  # one task per batch, one shared plan
        assert array_keys <= 4 * batches + 4  # a constant number of keys per batch
    # the same batches with 4 x fewer patches (16 x 16 patches, batches of 4): the
    # same graph as 4 x more patches in batches of 16
    small_patches = counts[4, 16]
    many_patches = counts[16, 8]
    assert small_patches[0] * 4 == many_patches[0]
    assert small_patches[1:] == many_patches[1:]


def test_building_with_statistics_reads_no_pixel(store: Path) -> None:
    with raise_if_dask_computes(), count_region_reads() as reads:
        ds = dataset(store, 8)
        table = ds.patch_table(2)
        tasks = ds.batch_tasks(2)
        lazy = ds.to_dask(epoch=2)
        stream = BatchStream(ds, None, prefetch=2, shuffle=True)
        order = stream.epoch_order(0)
    assert reads.count == 0
    assert len(table) == len(ds) == lazy.shape[0]
    assert len(tasks) == len(order) == ds.n_batches()
    # the same counter does see reads: one batch reads the chunks it touches
    with count_region_reads() as reads:
        ds.batch(0, epoch=2)
    assert 0 < reads.count <= 8 * 4  # at most 4 chunks per 8 x 8 patch


class BatchKeys(SchedulerPlugin):
    """Records every batch task submitted to the scheduler (released -> waiting)."""

    name = "careamics-test-batch-keys"

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def transition(
        self, key: Any, start: str, finish: str, *args: Any, **kw: Any
    ) -> None:
        submitted = start == "released" and finish != "forgotten"
        if submitted and str(key).startswith("careamics-batch-"):
            self.seen.add(str(key))


def _reset(dask_scheduler: Any) -> None:
    dask_scheduler.plugins[BatchKeys.name].seen.clear()


def _seen(dask_scheduler: Any) -> int:
    return len(dask_scheduler.plugins[BatchKeys.name].seen)


def _batch_keys_held(dask_scheduler: Any) -> int:
    return sum(str(key).startswith("careamics-batch-") for key in dask_scheduler.tasks)


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as c,
    ):
        c.register_plugin(BatchKeys())
        yield c


def settle(client: Client, expected: int, timeout: float = 10.0) -> int:
    """The number of batch tasks started, once it stops growing (or hits expected)."""
    deadline = time.monotonic() + timeout
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        seen = int(client.run_on_scheduler(_seen))
        if seen != last:
            last, stable_since = seen, time.monotonic()
        elif seen >= expected or time.monotonic() - stable_since > 2.0:
            return seen
        time.sleep(0.05)
    return last


@pytest.mark.distributed
@pytest.mark.parametrize("prefetch", [1, 3])
def test_stream_builds_at_most_its_window_ahead(
    store: Path, client: Client, prefetch: int
) -> None:
    ds = dataset(store, 2)  # 256 patches of 8 x 8: 128 batches
    client.run_on_scheduler(_reset)
    before = 0
    stream = BatchStream(
        ds, client, prefetch=prefetch, shuffle=True, batches_per_task=1
    )
    batches = iter(stream)
    ready = stream_module._READY_BATCHES
    # in flight + fetched and queued + one fetched and waiting for room in the queue;
    # a batch is fetched once the window behind it is full, hence the lower bound
    ahead = prefetch + ready + 1
    for consumed in (1, 5):
        while stream.position < consumed:
            next(batches)
        started = settle(client, before + consumed + ahead) - before
        assert consumed + prefetch - 1 <= started <= consumed + ahead
        assert int(client.run_on_scheduler(_batch_keys_held)) <= prefetch + ready + 1
    batches.close()  # type: ignore[attr-defined]
    assert stream.batches_per_epoch > 5 + ahead  # the epoch was far from done
