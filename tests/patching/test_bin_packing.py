from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careamics_dask.patching._bin_packing import pack_regions, region_bin_packing

AREAS = dict(enumerate([2048.0] * 3 + [1096.0] * 3 + [1024.0] * 4))


def reference_packing(
    areas: dict[int, float], n_bins: int
) -> tuple[int, list[list[int]]]:
    """The reference's `_region_bin_packing` with float capacities."""
    if n_bins == 0:
        return 0, []
    if len(areas) <= n_bins:
        bins = [[k] for k in areas] + [[] for _ in range(n_bins - len(areas))]
        return math.ceil(max(areas.values())), bins
    ids = sorted(areas, key=lambda k: areas[k], reverse=True)
    bin_size = max(areas.values())
    bins_list: list[list[int]] = [[] for _ in range(n_bins)]
    remaining = np.full(n_bins, bin_size, dtype=np.float64)
    for k in ids:
        area = areas[k]
        diff = remaining - area
        if (diff < 0).all():
            b = int(np.argmax(remaining))
            increase = area - remaining[b]
            bin_size += increase
            remaining += increase
        else:
            diff[diff < 0] = bin_size * 2
            b = int(np.argmin(diff))
        bins_list[b].append(k)
        remaining[b] -= area
    return math.ceil(bin_size), bins_list


@pytest.mark.parametrize(("n_bins", "size"), [(12, 2048), (8, 2048), (7, 2120), (0, 0)])
def test_reference_expectations(n_bins: int, size: int) -> None:
    bin_size, bins = region_bin_packing(AREAS, n_bins)
    assert bin_size == size
    assert len(bins) == n_bins


def test_verified_example() -> None:
    bin_size, bins = region_bin_packing({0: 10, 1: 7, 2: 5, 3: 4, 4: 3}, 3)
    assert bin_size == 10
    assert [b.tolist() for b in bins] == [[0], [1, 4], [2, 3]]
    assert region_bin_packing([10, 7, 5, 4, 3], 3)[0] == 10


def test_pack_regions_examples() -> None:
    assert pack_regions(np.array([3.0, 0.0, 5.5]), 5)[0] == 6
    assert pack_regions(np.array([3.0, 0.0, 5.5]), 5)[1].tolist() == [0, 1, 2]
    assert pack_regions(np.array([3.0, 1.0]), 0)[1].tolist() == [-1, -1]
    size, bins = pack_regions(np.array([0.0, 0.0, 0.0]), 2)
    assert size == 0
    assert bins.tolist() == [-1, -1, -1]
    size, bins = pack_regions(np.array([4.0, 0.0, 4.0]), 2)
    assert size == 4
    assert bins.tolist() == [0, -1, 1]


def test_all_zero_areas_go_to_the_first_bin() -> None:
    assert [b.tolist() for b in region_bin_packing([0, 0, 0], 2)[1]] == [[0, 1, 2], []]


@settings(max_examples=200, deadline=None)
@given(
    areas=st.lists(
        st.one_of(
            st.integers(0, 5000).map(float),
            st.floats(0, 5000, allow_nan=False),
            st.sampled_from([4096.0, 409.6, 64.0, 6.4, 1.0, 0.0]),
        ),
        min_size=1,
        max_size=60,
    ),
    data=st.data(),
)
def test_matches_the_reference_loop(areas: list[float], data: st.DataObject) -> None:
    n_bins = data.draw(st.integers(0, len(areas) + 2))
    by_id = dict(enumerate(areas))
    size, bins = reference_packing(by_id, n_bins)
    ours_size, ours_bins = region_bin_packing(by_id, n_bins)
    assert ours_size == size
    positive = [[k for k in b if by_id[k] > 0] for b in bins]
    ours_positive = [[k for k in b.tolist() if by_id[k] > 0] for b in ours_bins]
    assert ours_positive == positive
    packed_size, packed = pack_regions(np.array(areas), n_bins)
    assert packed_size == size
    for b, members in enumerate(positive):
        assert set(np.flatnonzero(packed == b).tolist()) >= set(members)
    # every bin load fits the bin size
    loads = np.bincount(packed[packed >= 0], weights=np.array(areas)[packed >= 0])
    assert (loads <= size + 1e-6).all()
