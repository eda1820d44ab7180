"""Epoch order: seeded shuffles, equal rank shares, chunk-aware tables."""

from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.feeding.order import (
    EpochTables,
    shuffled_order,
    split_batches,
    storage_chunks,
)
from tests.feeding.helpers import small_train_dataset


def test_shuffles_are_keyed_by_seed_and_epoch() -> None:
    first = shuffled_order(50, 3, 0)
    assert sorted(first.tolist()) == list(range(50))
    assert first.dtype == np.int64
    np.testing.assert_array_equal(first, shuffled_order(50, 3, 0))
    assert not np.array_equal(first, shuffled_order(50, 3, 1))
    assert not np.array_equal(first, shuffled_order(50, 4, 0))


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_ranks_get_disjoint_equal_shares(world_size: int) -> None:
    order = np.arange(23, dtype=np.int64)
    shares = [split_batches(order, 4, rank, world_size) for rank in range(world_size)]
    lengths = {len(share) for share in shares}
    assert len(lengths) == 1
    seen = np.concatenate([b for share in shares for b in share])
    assert len(seen) == len(set(seen.tolist()))
    if world_size == 1:
        assert [len(b) for b in shares[0]] == [4, 4, 4, 4, 4, 3]


def test_tables_are_the_sources_or_drawn_once_per_epoch() -> None:
    dataset = small_train_dataset(2, image_seed=1)
    plain = EpochTables(dataset, dataset.plan, draw=False, seed=2)
    assert plain(1) is dataset.patch_table(1)
    drawn = EpochTables(dataset, dataset.plan, draw=True, seed=2)
    table = drawn(0)
    assert drawn(0) is table  # kept for its epoch
    assert len(drawn(1)) == len(table)
    assert len(drawn.chunk_order(1)) == len(drawn(1))
    assert len(storage_chunks(dataset.plan)) == len(dataset.plan.inputs)
    with pytest.raises(TypeError, match="expected a BatchPlan"):
        storage_chunks(object())  # type: ignore[arg-type]
