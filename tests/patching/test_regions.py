from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careamics_dask.patching._regions import RegionGrid, box_bits, orthant_overlaps

Box = list[tuple[int, int]]


def boxes_overlap(a: Box, b: Box) -> bool:
    return all(
        max(a0, b0) < min(a1, b1) for (a0, a1), (b0, b1) in zip(a, b, strict=True)
    )


def reference_areas(
    shape: tuple[int, ...], patch: tuple[int, ...], excluded: list[tuple[int, ...]]
) -> list[int]:
    """The reference's `_SamplingRegion` clip and `exclude_orthant`, with lists."""
    grid = [(s + 1) // p for s, p in zip(shape, patch, strict=True)]
    cells = list(itertools.product(*[range(g) for g in grid]))
    regions: dict[tuple[int, ...], list[Box]] = {}
    for cell in cells:
        origin = [g * p for g, p in zip(cell, patch, strict=True)]
        boxes = []
        for box in itertools.product(*[((0, 1), (1, p)) for p in patch]):
            limit = [
                s - o - p + 1 for s, o, p in zip(shape, origin, patch, strict=True)
            ]
            clipped = [
                (min(max(a, -o), m), min(max(b, -o), m))
                for (a, b), o, m in zip(box, origin, limit, strict=True)
            ]
            if all(b > a for a, b in clipped):
                boxes.append(clipped)
        regions[cell] = boxes
    for cell in excluded:
        for d in itertools.product((0, 1), repeat=len(shape)):
            q = tuple(1 - i for i in d)
            neighbour = tuple(g - k for g, k in zip(cell, q, strict=True))
            if neighbour not in regions:
                continue
            orthant = [(k, k + p) for k, p in zip(q, patch, strict=True)]
            regions[neighbour] = [
                b for b in regions[neighbour] if not boxes_overlap(orthant, b)
            ]
    return [
        sum(int(np.prod([b - a for a, b in box])) for box in regions[c]) for c in cells
    ]


def test_box_bits_and_orthants() -> None:
    assert box_bits(3).tolist() == [
        list(b) for b in itertools.product((0, 1), repeat=3)
    ]
    for ndim in (2, 3):
        p = 5
        bits = box_bits(ndim)
        expected = [
            [
                boxes_overlap(
                    [(q, q + p) for q in qbits],
                    [((0, 1), (1, p))[d] for d in dbits],
                )
                for dbits in bits
            ]
            for qbits in bits
        ]
        assert orthant_overlaps(ndim).tolist() == expected


@pytest.mark.parametrize(
    ("shape", "grid_shape", "areas"),
    [
        ((64, 64), [2, 2], [1024, 32, 32, 1]),
        ((63, 63), [2, 2], [1024, 0, 0, 0]),
        ((62, 62), [1, 1], [961]),
        ((32, 32), [1, 1], [1]),
        ((31, 31), [1, 1], [0]),
        ((16, 16), [0, 0], []),
        ((100, 40), [3, 1], [288, 288, 45]),
    ],
)
def test_edge_table(
    shape: tuple[int, int], grid_shape: list[int], areas: list[int]
) -> None:
    grid = RegionGrid.build(np.array([shape]), np.array([32, 32]))
    assert grid.grid_shapes.tolist() == [grid_shape]
    assert grid.areas(np.zeros((grid.n_regions, 4), bool)).tolist() == areas


def test_exclusion_example() -> None:
    grid = RegionGrid.build(np.array([[64, 64]]), np.array([32, 32]))
    removed = grid.removed_boxes(np.array([False, False, False, True]))
    # region 0 keeps only starts with y == 0 or x == 0
    assert grid.areas(removed).tolist() == [63, 1, 1, 0]


def test_grid_is_sample_major_last_axis_fastest() -> None:
    grid = RegionGrid.build(np.array([[64, 96], [40, 40]]), np.array([32, 32]))
    assert grid.offsets.tolist() == [0, 6, 7]
    assert grid.grid.tolist() == [
        [0, 0],
        [0, 1],
        [0, 2],
        [1, 0],
        [1, 1],
        [1, 2],
        [0, 0],
    ]
    assert grid.sample.tolist() == [0] * 6 + [1]


@settings(max_examples=60, deadline=None)
@given(
    ndim=st.sampled_from([2, 3]),
    data=st.data(),
    seed=st.integers(0, 2**32),
    fraction=st.floats(0, 1),
)
def test_areas_match_the_reference_regions(
    ndim: int, data: st.DataObject, seed: int, fraction: float
) -> None:
    top = 40 if ndim == 2 else 24
    shape = [data.draw(st.integers(1, top)) for _ in range(ndim)]
    patch = [data.draw(st.integers(ndim, 12)) for _ in range(ndim)]
    grid = RegionGrid.build(np.array([shape]), np.array(patch))
    excluded = np.random.default_rng(seed).random(grid.n_regions) < fraction
    cells = [tuple(c) for c in grid.grid[excluded].tolist()]
    removed = grid.removed_boxes(excluded)
    assert grid.areas(removed).tolist() == reference_areas(
        tuple(shape), tuple(patch), cells
    )
