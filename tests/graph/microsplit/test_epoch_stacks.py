"""Tests of an epoch of MicroSplit patches as lazy stacks for statistics."""

from __future__ import annotations

import numpy as np

from careamics_dask.graph.microsplit import MicroSplitPlan, statistics_stacks
from careamics_dask.graph.reading import StackSource
from careamics_dask.graph.transforms import Normalizer
from careamics_dask.patching import RandomPatching


def _plan(data: np.ndarray, normalizer: Normalizer) -> MicroSplitPlan:
    source = StackSource(
        source="array", shape=data.shape, dtype=str(data.dtype), data=data
    )
    return MicroSplitPlan(
        mode="multiplexed",
        groups=((source,),),
        normalizer=normalizer,
        multiscale_count=3,
    )


def test_stacks_are_the_raw_native_planes_and_targets() -> None:
    data = np.stack([np.full((2, 32, 32), 2.0), np.full((2, 32, 32), 4.0)], 1)
    # the plan's normalizer must not be applied to the statistics' pixels
    norm = Normalizer(name="mean_std", input_loc=(100.0,), input_scale=(1.0,))
    table = RandomPatching([data.shape], [8, 8], seed=0).table(0)
    inputs, targets = statistics_stacks(_plan(data, norm), table, "test", chunk=5)
    assert targets is not None
    assert [s.shape for s in inputs] == [(len(table), 1, 8, 8)]
    assert [s.dims for s in inputs] == [("S", "C", "Y", "X")]
    assert inputs[0].data.numblocks[0] == -(-len(table) // 5)
    np.testing.assert_array_equal(inputs[0].values, 3.0)
    np.testing.assert_array_equal(targets[0].values[:, 0], 2.0)
    np.testing.assert_array_equal(targets[0].values[:, 1], 4.0)
