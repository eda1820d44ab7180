"""Tests of the per-process cache of epoch tables and of channel locations."""

from __future__ import annotations

import numpy as np

from careamics_dask.graph.microsplit import ChannelLocations, epoch_table
from careamics_dask.graph.microsplit import locations as locations_module
from careamics_dask.patching import RandomPatching


def test_epoch_table_is_cached_per_strategy_and_epoch() -> None:
    patching = RandomPatching([(1, 1, 32, 32)], [8, 8], seed=3)
    first = epoch_table(patching, 2)
    assert first == patching.table(2)
    assert epoch_table(patching, 2) is first
    assert epoch_table(patching, 3) == patching.table(3)
    other = RandomPatching([(1, 1, 32, 32)], [8, 8], seed=4)
    assert epoch_table(other, 2) == other.table(2)


def test_epoch_table_cache_is_bounded() -> None:
    cache = locations_module._TABLES
    patching = RandomPatching([(1, 1, 16, 16)], [8, 8], seed=1)
    for epoch in range(cache.max_size + 5):
        epoch_table(patching, epoch)
    assert len(cache) <= cache.max_size
    # the most recent epochs are kept
    assert (id(patching), cache.max_size + 4) in cache


def test_channel_locations_hold_plain_arrays() -> None:
    located = ChannelLocations(
        data_idx=np.zeros((2, 3), np.int64),
        sample_idx=np.zeros((2, 3), np.int64),
        coords=np.zeros((2, 3, 2), np.int64),
        uncorrelated=np.zeros(3, np.bool_),
        alphas=np.full((3, 2), 0.5),
        principal=0,
    )
    assert located.coords.shape == (2, 3, 2)
    assert located.principal == 0
