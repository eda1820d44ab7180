"""Tests of the Dask tree reduction of statistics partials."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from careamics_dask.graph.statistics._histogram import HistogramPlan
from careamics_dask.graph.statistics._partials import (
    COUNT,
    MAXIMUM,
    MEAN,
    MINIMUM,
    PARTIAL_FIELDS,
    WEIGHT,
)
from careamics_dask.graph.statistics._reduction import (
    combine_partials,
    reduce_partials,
    reduce_stack,
)


def test_combine_keeps_or_drops_the_merged_axes() -> None:
    parts = np.zeros((2, 3, 4, PARTIAL_FIELDS))
    parts[..., WEIGHT] = 1.0
    kept = combine_partials(parts, (0, 2), keepdims=True, exact=False)
    assert kept.shape == (1, 3, 1, PARTIAL_FIELDS)
    dropped = combine_partials(parts, (0, 2), keepdims=False, exact=False)
    assert dropped.shape == (3, PARTIAL_FIELDS)
    np.testing.assert_array_equal(dropped[:, WEIGHT], 8.0)


def test_reduce_stack_equals_numpy_in_one_row_per_channel() -> None:
    data = np.random.default_rng(2).normal(size=(3, 2, 16, 16))
    pixels = da.from_array(data, chunks=(1, 1, 8, 8))
    merged = reduce_stack(pixels, None, (), HistogramPlan(n_bins=0), moments=True)
    assert merged.name.startswith("careamics-statistics-merge-")
    with dask.config.set(scheduler="synchronous"):
        rows = merged.compute()
    assert rows.shape == (2, PARTIAL_FIELDS)
    per_channel = np.moveaxis(data, 1, 0).reshape(2, -1)
    np.testing.assert_array_equal(rows[:, COUNT], per_channel.shape[1])
    np.testing.assert_allclose(rows[:, MEAN], per_channel.mean(axis=1))
    np.testing.assert_array_equal(rows[:, MINIMUM], per_channel.min(axis=1))
    np.testing.assert_array_equal(rows[:, MAXIMUM], per_channel.max(axis=1))


def test_reduce_partials_merges_stacks() -> None:
    data = np.arange(32.0).reshape(2, 1, 4, 4)
    plan = HistogramPlan(n_bins=0)
    stacks = [
        reduce_stack(da.from_array(d[None], chunks=2), None, (), plan, moments=False)
        for d in data
    ]
    merged = reduce_partials(da.stack(stacks), (0,), exact=False, name="test-merge")
    with dask.config.set(scheduler="synchronous"):
        row = merged.compute()[0]
    assert (row[MINIMUM], row[MAXIMUM], row[COUNT]) == (0.0, 31.0, 32.0)
