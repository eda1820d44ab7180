"""In-memory stacks on a cluster: tiles held once, batches equal to local ones."""

from __future__ import annotations

import dataclasses
import pickle
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from distributed import Client, LocalCluster

from careamics_dask.config import DataConfig
from careamics_dask.factory import TrainValSplitData, create_train_dataset
from careamics_dask.feeding import BatchStream
from careamics_dask.feeding import _tile_layout as tiles_module
from careamics_dask.feeding._tile_pieces import (
    PieceRequest,
    TilePieces,
    TilesLostError,
    fetch_pieces,
)
from careamics_dask.feeding._tiles import TiledPlan
from tests.feeding.helpers import signature, small_train_dataset

if TYPE_CHECKING:
    from collections.abc import Iterator

    from careamics_dask.factory import CareamicsDataset

RNG = np.random.default_rng(3)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as local,
        Client(local) as client,
    ):
        yield client


@pytest.mark.distributed
def test_in_memory_data_is_held_once_and_not_in_the_plan(cluster: Client) -> None:
    dataset = small_train_dataset(5, image_seed=2)
    plan = dataset.plan
    data_bytes = sum(s.data.nbytes for s in (*plan.inputs, *(plan.targets or ())))
    tiled = TiledPlan(cluster, plan)
    try:
        assert tiled.tiled
        # the plan the workers get describes the stacks; the pixels are tiles
        assert len(pickle.dumps(tiled.plan)) < data_bytes / 4
        holders = cluster.who_has(list(tiled.futures.values()))
        assert all(len(workers) == 1 for workers in holders.values())
        sizes = cluster.nbytes(summary=False)
        held = sum(sizes[f.key] for f in tiled.futures.values())
        assert data_bytes <= held < 1.1 * data_bytes
        spread = {w for workers in holders.values() for w in workers}
        assert len(spread) == 2  # over both workers, not copied to each
    finally:
        tiled.release()


@pytest.mark.distributed
def test_stream_of_in_memory_data_equals_local(cluster: Client) -> None:
    dataset = small_train_dataset(7, image_seed=4)
    local = signature(list(BatchStream(dataset, epochs=2)))
    remote = signature(list(BatchStream(dataset, cluster, epochs=2, prefetch=4)))
    assert remote == local


@pytest.mark.distributed
def test_a_tile_nobody_holds_is_reported_lost(cluster: Client) -> None:
    cluster.register_plugin(TilePieces())
    [held] = cluster.scatter([np.arange(12, dtype=np.uint16).reshape(1, 3, 4)])
    request = PieceRequest(
        name=held.key, low=(1, 1), high=(3, 3), channels=1, dtype="uint16"
    )
    got = cluster.submit(fetch_pieces, {"a": request}, pure=False).result()
    np.testing.assert_array_equal(got["a"], [[[5, 6], [9, 10]]])
    gone = dataclasses.replace(request, name="careamics-tile-never-scattered")
    with pytest.raises(TilesLostError, match="careamics-tile-never-scattered"):
        cluster.submit(fetch_pieces, {"a": gone}, pure=False, retries=0).result()


def _tile_holders(dask_scheduler: Any) -> dict[str, int]:
    """How many workers hold each in-memory tile (runs on the scheduler)."""
    return {
        str(key): len(task.who_has or ())
        for key, task in dask_scheduler.tasks.items()
        if str(key).startswith("careamics-tile-") and task.state == "memory"
    }


def _many_tiles_dataset(batch_size: int, patching: str) -> CareamicsDataset:
    images = np.random.default_rng(8).integers(0, 2000, (3, 96, 96)).astype(np.uint16)
    config = DataConfig(
        mode="training",
        data_type="array",
        axes="SYX",
        patching={"name": patching, "patch_size": [16, 16]},
        normalization={"name": "mean_std"},
        batch_size=batch_size,
        seed=5,
    )
    return create_train_dataset(config, TrainValSplitData(images, 1, images + 7))


@pytest.mark.distributed
@pytest.mark.parametrize(
    ("batch_size", "patching"), [(8, "random"), (32, "stratified")]
)
def test_batches_read_pieces_and_never_copy_a_tile(
    cluster: Client, monkeypatch: pytest.MonkeyPatch, batch_size: int, patching: str
) -> None:
    # tiles of 20 x 20 pixels: patches cross tiles held by both workers, and
    # neighbouring patches are cut from regions wider than their own parts
    monkeypatch.setattr(tiles_module, "TILE_BYTES", 800)
    dataset = _many_tiles_dataset(batch_size, patching)
    local = signature(list(BatchStream(dataset, epochs=2)))
    remote = []
    copies = []
    for batch in BatchStream(dataset, cluster, epochs=2, prefetch=4):
        remote.append(batch)
        holders = cluster.run_on_scheduler(_tile_holders)
        copies.append(max(holders.values()))
        assert len(holders) == 2 * 3 * 5 * 5  # inputs and targets, 5 x 5 tiles each
    assert signature(remote) == local
    assert copies == [1] * len(remote)  # no tile was ever on two workers
