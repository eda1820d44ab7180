"""In-memory stacks on a cluster: tiles held once, batches equal to local ones."""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING

import numpy as np
import pytest
from distributed import Client, LocalCluster

from careamics_dask.feeding import BatchStream
from careamics_dask.feeding._tiles import TiledPlan, TileLayout, TileView
from tests.feeding.helpers import signature, small_train_dataset

if TYPE_CHECKING:
    from collections.abc import Iterator

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("shape", [(3, 2, 70, 90), (2, 1, 9, 40, 33)])
def test_views_of_tiles_equal_the_array(shape: tuple[int, ...]) -> None:
    array = RNG.integers(0, 1000, shape).astype(np.uint16)
    layout = TileLayout.of("input", 0, array)
    layout = TileLayout(
        role="input",
        data_idx=0,
        shape=layout.shape,
        dtype=layout.dtype,
        tile=tuple(max(1, n // 3) for n in shape[2:]),  # several tiles per axis
    )
    tiles = dict(layout.tiles(array))
    assert sum(t.nbytes for t in tiles.values()) == array.nbytes
    for _ in range(20):
        sample: int = int(RNG.integers(shape[0]))
        low = np.array([int(RNG.integers(n)) for n in shape[2:]])
        high = np.array(
            [
                int(RNG.integers(lo + 1, n + 1))
                for lo, n in zip(low, shape[2:], strict=True)
            ]
        )
        keys = layout.touched(np.array([sample]), low[None], high[None])
        view = TileView(layout, {k: tiles[k] for k in keys})  # only those it needs
        box: tuple[int | slice, ...] = (
            sample,
            slice(None),
            *(slice(int(a), int(b)) for a, b in zip(low, high, strict=True)),
        )
        np.testing.assert_array_equal(view[box], array[box])


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
