"""Tests of the lateral-context window geometry: padded indices, bounds, boxes."""

from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.graph.microsplit.windows import (
    context_bounds,
    index_maps,
    index_runs,
    padded_indices,
    window_boxes,
    window_inside,
    window_of,
)

RNG = np.random.default_rng(11)


@pytest.mark.parametrize("mode", ["reflect", "wrap"])
def test_padded_indices_follow_numpy_pad(mode: str) -> None:
    for _ in range(200):
        length = int(RNG.integers(1, 12))
        lo = int(RNG.integers(0, length))
        hi = int(RNG.integers(lo + 1, length + 1))
        before, after = (int(v) for v in RNG.integers(0, 30, 2))
        expected = np.pad(np.arange(lo, hi), (before, after), mode=mode)  # type: ignore[call-overload]
        got = padded_indices(lo - before, hi - lo + before + after, (lo, hi), mode)  # type: ignore[arg-type]
        np.testing.assert_array_equal(got, expected)


def test_padded_indices_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="expected 'reflect' or 'wrap'"):
        padded_indices(0, 4, (0, 4), "edge")  # type: ignore[arg-type]


def test_window_and_bounds() -> None:
    assert window_of((10, 20), (8, 8), 1) == ((10, 20), (8, 8))
    assert window_of((10, 20), (8, 8), 3) == ((-2, 8), (32, 32))
    # the reference's context window is twice the largest scale, clipped
    assert context_bounds((10, 20), (8, 8), 3, (40, 100)) == ((0, 40), (0, 56))
    assert window_boxes((-2, 0), (4, 4), ((0, 8), (0, 8)), "reflect") == [
        ((0, 3), (0, 4))
    ]


def test_index_runs_split_at_gaps() -> None:
    assert index_runs(np.array([3], dtype=np.int64)) == [(3, 4)]
    assert index_runs(np.array([0, 1, 2, 5, 6, 9], dtype=np.int64)) == [
        (0, 3),
        (5, 7),
        (9, 10),
    ]


def test_index_maps_and_inside_agree_with_boxes() -> None:
    bounds = ((0, 8), (0, 8))
    assert window_inside((0, 0), (8, 8), bounds)
    assert not window_inside((-1, 0), (8, 8), bounds)
    maps = index_maps((-2, 0), (4, 4), bounds, "wrap")
    assert [m.tolist() for m in maps] == [[6, 7, 0, 1], [0, 1, 2, 3]]
    assert window_boxes((-2, 0), (4, 4), bounds, "wrap") == [
        ((0, 2), (0, 4)),
        ((6, 8), (0, 4)),
    ]
    assert window_boxes((1, 1), (4, 4), bounds, "wrap") == [((1, 5), (1, 5))]
