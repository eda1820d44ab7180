"""Batch building: the plan, the task function, the Batch value."""

from __future__ import annotations

import numpy as np

from careamics_dask.graph.batch import Batch, BatchPlan, batch_part, build_batch
from careamics_dask.graph.reading import StackSource
from careamics_dask.graph.transforms.normalize import Normalizer
from careamics_dask.patching import TiledPatching

DATA = np.arange(2 * 16 * 16, dtype=np.float64).reshape(2, 1, 16, 16)


def plan() -> BatchPlan:
    source = StackSource(source="array", shape=DATA.shape, dtype="float64", data=DATA)
    return BatchPlan(
        inputs=(source,),
        targets=(source,),
        channels=None,
        target_channels=None,
        normalizer=Normalizer(name="none"),
    )


def test_build_batch_reads_the_patches_of_the_rows() -> None:
    table = TiledPatching([DATA.shape], [8, 8], [0, 0]).table()
    indices = np.arange(len(table), dtype=np.int64)
    built = build_batch(plan(), table, indices, 0)
    inputs, targets = built
    assert inputs.dtype == np.float32
    assert inputs.shape == (8, 1, 8, 8)
    np.testing.assert_array_equal(inputs[0, 0], DATA[0, 0, :8, :8])
    np.testing.assert_array_equal(inputs[-1, 0], DATA[1, 0, 8:, 8:])
    assert targets is not None
    np.testing.assert_array_equal(targets, inputs)
    assert batch_part(built, 0) is inputs
    assert batch_part(built, 1) is targets


def test_a_batch_knows_its_length_and_rows() -> None:
    table = TiledPatching([DATA.shape], [8, 8], [0, 0]).table()
    indices = np.arange(3, dtype=np.int64)
    inputs, _ = build_batch(plan(), table.take(indices), indices, 0)
    batch = Batch(
        input=inputs,
        target=None,
        specs=table.take(indices),
        indices=indices,
        epoch=1,
        index=0,
    )
    assert len(batch) == 3
    assert batch.specs.row(2) == table.row(2)
