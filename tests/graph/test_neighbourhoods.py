"""Neighbouring patches grouped into one shared region, and patches left alone."""

from __future__ import annotations

import numpy as np

from careamics_dask.graph.neighbourhoods import neighbourhoods
from careamics_dask.patching import PatchTable


def rows(coords: list[list[int]], sample: int = 0) -> PatchTable:
    n = len(coords)
    return PatchTable.from_columns(
        data_idx=np.zeros(n, dtype=np.int64),
        sample_idx=np.full(n, sample, dtype=np.int64),
        coords=np.array(coords, dtype=np.int64),
        patch_size=np.full((n, 2), 8, dtype=np.int64),
    )


def test_close_patches_of_one_sample_form_one_group() -> None:
    table = rows([[0, 0], [0, 4], [4, 0], [4, 4]])
    low, high = table.coords, table.coords + table.patch_size
    groups, grouped = neighbourhoods(table, low, high, np.array([8, 8]))
    assert grouped.all()
    [(data_idx, sample, members, lo, hi)] = groups
    assert (data_idx, sample) == (0, 0)
    assert sorted(members.tolist()) == [0, 1, 2, 3]
    assert lo.tolist() == [0, 0]
    assert hi.tolist() == [12, 12]


def test_scattered_or_few_patches_are_read_alone() -> None:
    scattered = rows([[0, 0], [0, 100], [100, 0], [100, 100]])
    low, high = scattered.coords, scattered.coords + scattered.patch_size
    groups, grouped = neighbourhoods(scattered, low, high, np.array([8, 8]))
    assert groups == []
    assert not grouped.any()
    few = rows([[0, 0], [0, 4]])
    groups, grouped = neighbourhoods(
        few, few.coords, few.coords + few.patch_size, np.array([8, 8])
    )
    assert groups == []
    assert not grouped.any()
