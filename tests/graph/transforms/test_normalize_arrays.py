"""Tests of the normalizer's array helpers: float32 statistics, shapes, checks."""

from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.graph.transforms._normalize_arrays import (
    as_float32,
    broadcast_stats,
    check_batch,
    float32_tuple,
    loc_scale,
    reshape_channels,
    select_channels,
)


def test_float32_tuple_rounds_to_float32() -> None:
    assert float32_tuple([0.1, 2]) == (float(np.float32(0.1)), 2.0)


def test_loc_scale_of_ranges_and_pairs() -> None:
    assert loc_scale([1.0], [3.0], ranged=True) == ((1.0,), (2.0,))
    assert loc_scale([1.0], [3.0], ranged=False) == ((1.0,), (3.0,))
    assert loc_scale(None, [3.0], ranged=True) == (None, None)
    with pytest.raises(ValueError, match="come in pairs of equal length"):
        loc_scale([1.0, 2.0], [3.0], ranged=False)


def test_broadcast_and_reshape() -> None:
    assert broadcast_stats([1.0, 2.0], 2, "x") == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"^Number of x \(2\) and number of"):
        broadcast_stats([1.0, 2.0], 3, "x")
    assert reshape_channels([1.0, 2.0], 5).shape == (1, 2, 1, 1, 1)


def test_as_float32_writes_in_place_only_when_allowed() -> None:
    owned = np.zeros((1, 1, 2, 2), np.float32)
    assert as_float32(owned, inplace=True) is owned
    assert as_float32(owned, inplace=False) is not owned
    assert as_float32(owned.astype(np.uint8), inplace=True).dtype == np.float32


def test_check_batch_and_select_channels() -> None:
    check_batch(np.zeros((1, 1, 2, 2)), "input")
    with pytest.raises(ValueError, match="expected 4 or 5 dimensions"):
        check_batch(np.zeros((1, 2, 2)), "input")
    assert select_channels((1.0, 2.0), (3.0, 4.0), [1], 1, "input") == ((2.0,), (4.0,))
    with pytest.raises(ValueError, match="expected values in"):
        select_channels((1.0, 2.0), (3.0, 4.0), [2], 1, "input")
