"""Tests of MicroSplit batch plans: mixing, lateral context planes, determinism."""

from __future__ import annotations

import numpy as np

from careamics_dask.graph.batch import build_batch
from careamics_dask.graph.microsplit import MicroSplitPlan
from careamics_dask.graph.reading import StackSource
from careamics_dask.graph.transforms import Normalizer, XYFlip
from careamics_dask.patching import PatchTable, RandomPatching


def _source(data: np.ndarray) -> StackSource:
    return StackSource(
        source="array", shape=data.shape, dtype=str(data.dtype), data=data
    )


def test_multiplexed_input_is_the_mean_of_the_channels() -> None:
    data = np.stack([np.full((1, 32, 32), 2.0), np.full((1, 32, 32), 6.0)], 1)
    plan = MicroSplitPlan(
        mode="multiplexed",
        groups=((_source(data),),),
        normalizer=Normalizer(name="none"),
        multiscale_count=2,
    )
    rows = PatchTable.from_columns(
        data_idx=[0, 0], sample_idx=[0, 0], coords=[[0, 0], [8, 8]], patch_size=[8, 8]
    )
    inputs, targets = plan.build(rows, np.array([0, 1]), epoch=0)
    assert inputs.shape == (2, 2, 8, 8)
    np.testing.assert_allclose(inputs, 4.0)
    assert targets is not None
    assert targets[:, :, 0, 0].tolist() == [[2.0, 6.0], [2.0, 6.0]]
    assert plan.n_targets == 2


def test_batches_are_the_same_however_patches_are_grouped() -> None:
    rng = np.random.default_rng(0)
    data = rng.random((2, 2, 32, 32)).astype(np.float32)
    patching = RandomPatching([data.shape], [8, 8], seed=1)
    plan = MicroSplitPlan.with_private_tables(
        [patching],
        mode="multiplexed",
        groups=((_source(data),),),
        normalizer=Normalizer(name="none"),
        multiscale_count=2,
        uncorrelated_channel_prob=0.5,
        alpha_ranges=((0.2, 0.8), (0.2, 0.8)),
        augmentations=(XYFlip(seed=3),),
        seed=7,
    )
    table = patching.table(1)
    indices = np.arange(len(table), dtype=np.int64)
    whole, whole_targets = build_batch(plan, table.take(indices), indices, 1)
    half = len(table) // 2
    first, _ = build_batch(plan, table.take(indices[:half]), indices[:half], 1)
    second, _ = build_batch(plan, table.take(indices[half:]), indices[half:], 1)
    np.testing.assert_array_equal(whole, np.concatenate([first, second]))
    assert whole_targets is not None
    assert whole_targets.shape == (len(table), 2, 8, 8)
