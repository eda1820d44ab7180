"""The batch graph: one task per batch, one shared plan key, values equal to batches."""

from __future__ import annotations

import numpy as np
import pytest
from dask.base import optimize
from dask.highlevelgraph import HighLevelGraph

from careamics_dask.config import DataConfig
from careamics_dask.factory import CareamicsDataset, create_dataset
from careamics_dask.graph.batch_graph import (
    batch_indices,
    build_batch_array,
    build_batch_record,
    build_batch_tasks,
    count_batches,
    select_batch_part,
)

IMAGES = np.random.default_rng(4).integers(0, 500, (3, 40, 40)).astype(np.uint16)


def dataset(batch_size: int = 4, targets: bool = True) -> CareamicsDataset:
    config = DataConfig(
        mode="validating",
        data_type="array",
        axes="SYX",
        patching={"name": "fixed_random", "patch_size": [8, 8]},
        normalization={"name": "none"},
        batch_size=batch_size,
        seed=2,
    )
    return create_dataset(config, IMAGES, IMAGES + 1 if targets else None)


def test_batch_indices_cover_the_epoch_once() -> None:
    n, size = 10, 4
    assert count_batches(n, size) == 3
    parts = [batch_indices(i, n, size) for i in range(count_batches(n, size))]
    assert np.concatenate(parts).tolist() == list(range(n))
    assert [len(p) for p in parts] == [4, 4, 2]
    assert count_batches(0, size) == 0


@pytest.mark.parametrize("batch_size", [3, 5])
def test_to_dask_is_one_layer_with_one_task_per_batch(batch_size: int) -> None:
    ds = dataset(batch_size)
    table = ds.patch_table(1)
    array = build_batch_array(ds.plan, table, batch_size, 1, ds.token, channels=1)
    batches = count_batches(len(table), batch_size)
    # as built: the plan's key, the batches, their input blocks
    graph = array.__dask_graph__()
    assert isinstance(graph, HighLevelGraph)
    assert sorted(len(layer) for layer in graph.layers.values()) == [
        1,
        batches,
        batches,
    ]
    # as computed: one layer, one task per batch that yields its block (+ the plan)
    (optimized,) = optimize(array)
    fused = optimized.__dask_graph__()
    assert isinstance(fused, HighLevelGraph)
    assert len(fused.layers) == 1
    assert len(dict(fused)) == batches + 1
    assert array.name.startswith("careamics-batch-input-")
    assert array.chunks[0] == tuple(
        len(batch_indices(i, len(table), batch_size)) for i in range(batches)
    )
    assert array.shape == (len(table), 1, 8, 8)
    assert array.dtype == np.float32


def test_inputs_and_targets_computed_together_share_each_build() -> None:
    ds = dataset(4)
    table = ds.patch_table(0)
    inputs = build_batch_array(ds.plan, table, 4, 0, ds.token, channels=1)
    targets = build_batch_array(ds.plan, table, 4, 0, ds.token, channels=1, target=True)
    merged = dict(HighLevelGraph.merge(inputs.dask, targets.dask))
    builds = [k for k in merged if isinstance(k, tuple) and k[0].count("-") == 2]
    assert len(builds) == ds.n_batches()  # one build per batch for both arrays
    assert len(merged) == 3 * ds.n_batches() + 1


def test_to_dask_values_equal_the_batches() -> None:
    ds = dataset(4)
    table = ds.patch_table(2)
    inputs = build_batch_array(ds.plan, table, 4, 2, ds.token, channels=1)
    targets = build_batch_array(ds.plan, table, 4, 2, ds.token, channels=1, target=True)
    assert inputs.name != targets.name
    x = inputs.compute(scheduler="synchronous")
    y = targets.compute(scheduler="synchronous")
    for i in range(ds.n_batches()):
        batch = ds.batch(i, epoch=2)
        assert batch.target is not None
        np.testing.assert_array_equal(x[batch.indices], batch.input)
        np.testing.assert_array_equal(y[batch.indices], batch.target)
    np.testing.assert_array_equal(ds.to_dask(2).compute(), x)


def test_an_empty_table_gives_an_empty_array() -> None:
    ds = dataset(4)
    empty = ds.patch_table(0).take(np.array([], dtype=np.int64))
    array = build_batch_array(ds.plan, empty, 4, 0, ds.token, channels=1)
    assert array.shape == (0, 1)


def test_batch_tasks_share_one_plan_key_and_name_their_batches() -> None:
    ds = dataset(4)
    table = ds.patch_table(0)
    tasks = build_batch_tasks(ds.plan, table, 4, 0, ds.token)
    assert len(tasks) == count_batches(len(table), 4)
    keys = {key for task in tasks for key in task.__dask_graph__()}
    assert len(keys) == len(tasks) + 1
    names = [str(task.key) for task in tasks]
    assert all(name.startswith("careamics-batch-") for name in names)
    assert [name.rsplit("-", 1)[1] for name in names] == [
        str(i) for i in range(len(tasks))
    ]
    assert [str(t.key) for t in ds.batch_tasks(0)] == names
    x, y = tasks[1].compute(scheduler="synchronous")
    batch = ds.batch(1)
    np.testing.assert_array_equal(x, batch.input)
    assert batch.target is not None
    np.testing.assert_array_equal(y, batch.target)


def test_a_block_without_targets_says_so() -> None:
    ds = dataset(4, targets=False)
    indices = batch_indices(0, len(ds), 4)
    rows = ds.patch_table(0).take(indices)
    record = build_batch_record(ds.plan, (rows, indices), 0)
    assert record.shape == (1,)
    np.testing.assert_array_equal(select_batch_part(record, 0), ds.batch(0).input)
    with pytest.raises(ValueError, match="no targets"):
        select_batch_part(record, 1)
