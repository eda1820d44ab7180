"""Parity with the reference (CAREamics 0.3.5) where it is installed.

Run in the reference environment: ``.venv-ref/bin/pytest tests/patching/test_parity.py``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from careamics_dask.patching import (
    FixedRandomPatching,
    RandomPatching,
    SequentialPatching,
    StratifiedPatching,
    TiledPatching,
    WholePatching,
    create_val_split,
)
from careamics_dask.patching._bin_packing import region_bin_packing
from tests.patching.helpers import pixel_coverage

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    reference = pytest.importorskip("careamics.dataset.patching")
    reference_stratified = pytest.importorskip(
        "careamics.dataset.patching.stratified_patching"
    )
    reference_split = pytest.importorskip("careamics.dataset.factory.val_split")

SHAPES: dict[int, list[tuple[int, ...]]] = {
    2: [(2, 1, 32, 32), (1, 1, 19, 37), (3, 1, 14, 9)],
    3: [(2, 1, 32, 32, 32), (1, 1, 19, 37, 23), (3, 1, 14, 9, 12)],
}
PATCHES = [(2, [8, 8]), (2, [8, 5]), (3, [8, 8, 8]), (3, [8, 5, 7])]
EDGE_SHAPES = [(64, 64), (63, 63), (62, 62), (32, 32), (31, 31), (16, 16), (100, 40)]


def normalized(spec: dict[str, Any]) -> dict[str, Any]:
    """Tuples of ints for every sequence value, ints for every scalar."""
    return {
        key: tuple(int(v) for v in value) if hasattr(value, "__len__") else int(value)
        for key, value in spec.items()
    }


@pytest.fixture(autouse=True)
def _quiet_reference() -> Any:
    # the reference divides by zero in some packings (RuntimeWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@pytest.mark.parametrize(("ndim", "patch"), PATCHES)
def test_counts(ndim: int, patch: list[int]) -> None:
    shapes = SHAPES[ndim]
    overlaps = [2] * ndim
    pairs = [
        (reference.RandomPatching(shapes, patch, 1), RandomPatching(shapes, patch, 1)),
        (
            reference.FixedRandomPatching(shapes, patch, 1),
            FixedRandomPatching(shapes, patch, 1),
        ),
        (
            reference.StratifiedPatching(shapes, patch, 1),
            StratifiedPatching(shapes, patch, 1),
        ),
        (
            reference.TiledPatching(shapes, patch, overlaps),
            TiledPatching(shapes, patch, overlaps),
        ),
        (
            reference.SequentialPatching(shapes, patch, overlaps),
            SequentialPatching(shapes, patch, overlaps),
        ),
        (reference.WholeSamplePatching(shapes), WholePatching(shapes)),
    ]
    for theirs, ours in pairs:
        assert ours.n_patches == int(theirs.n_patches), type(ours).__name__
        for data_idx in range(len(shapes)):
            assert ours.get_patch_indices(data_idx).tolist() == list(
                theirs.get_patch_indices(data_idx)
            )


@pytest.mark.parametrize("shape", EDGE_SHAPES)
def test_stratified_edge_table(shape: tuple[int, int]) -> None:
    theirs = reference.StratifiedPatching([(1, 1, *shape)], [32, 32], 1)
    ours = StratifiedPatching([(1, 1, *shape)], [32, 32], 1)
    sample = theirs.image_patching[0][0]
    assert ours.n_patches == theirs.n_patches
    assert ours.grid_shapes.tolist() == [list(sample.grid_shape)]
    assert ours.region_areas.tolist() == [int(a) for a in sample.areas.values()]


@pytest.mark.parametrize(("ndim", "patch"), PATCHES)
def test_tile_specs(ndim: int, patch: list[int]) -> None:
    rng = np.random.default_rng(ndim)
    for _ in range(10):
        shapes = [
            (int(rng.integers(1, 3)), 1, *(int(s) for s in rng.integers(1, 90, ndim)))
            for _ in range(3)
        ]
        overlaps = [2 * int(rng.integers(0, (p + 1) // 2)) for p in patch]
        theirs = reference.TiledPatching(shapes, patch, overlaps)
        ours = TiledPatching(shapes, patch, overlaps).table()
        assert [normalized(s) for s in theirs.tile_specs] == list(ours)


@pytest.mark.parametrize(("ndim", "patch"), PATCHES)
def test_sequential_and_whole_specs(ndim: int, patch: list[int]) -> None:
    shapes = SHAPES[ndim]
    for overlaps in (None, [2] * ndim, [4] * ndim):
        theirs = reference.SequentialPatching(shapes, patch, overlaps)
        ours = SequentialPatching(shapes, patch, overlaps).table()
        assert [normalized(s) for s in theirs.patch_specs] == list(ours)
    whole = reference.WholeSamplePatching(shapes)
    assert [normalized(s) for s in whole.patch_specs] == list(
        WholePatching(shapes).table()
    )


def test_random_coordinate_ranges() -> None:
    shapes = [(1, 1, 19, 37), (1, 1, 14, 9)]
    theirs = reference.RandomPatching(shapes, [8, 16], 1)
    ours = RandomPatching(shapes, [8, 16], 1)
    reference_coords = np.array(
        [theirs.get_patch_spec(i % ours.n_patches)["coords"] for i in range(3000)]
    )
    ours_coords = np.concatenate([ours.table(e).coords for e in range(300)])
    for data_idx in range(2):
        rows = np.array(
            [theirs.get_patch_spec(i)["data_idx"] for i in range(ours.n_patches)]
        )
        theirs_rows = reference_coords[
            np.tile(rows, 3000 // len(rows) + 1)[:3000] == data_idx
        ]
        ours_rows = ours_coords[np.tile(ours.table().data_idx, 300) == data_idx]
        assert theirs_rows.min(axis=0).tolist() == ours_rows.min(axis=0).tolist()
        assert theirs_rows.max(axis=0).tolist() == ours_rows.max(axis=0).tolist()


def test_bin_packing() -> None:
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(1, 50))
        areas: dict[int, float]
        if trial % 2:
            areas = {i: int(a) for i, a in enumerate(rng.integers(0, 5000, n))}
        else:
            scale = rng.choice([0.1, 1.0, 0.5], n)
            areas = {
                i: float(a) for i, a in enumerate(rng.integers(1, 5000, n) * scale)
            }
        n_bins = int(rng.integers(0, n + 3))
        size, bins = reference_stratified._region_bin_packing(areas, n_bins)
        ours_size, ours_bins = region_bin_packing(areas, n_bins)
        assert ours_size == size
        assert [sorted(b.tolist()) for b in ours_bins] == [
            sorted(b.tolist()) for b in bins
        ]


@pytest.mark.parametrize("ndim", [2, 3])
def test_stratified_counts_with_weights_and_exclusions(ndim: int) -> None:
    rng = np.random.default_rng(ndim)
    for _ in range(40):
        patch = [int(p) for p in rng.integers(4, 12, ndim)]
        shapes = [
            (int(rng.integers(1, 3)), 1, *(int(s) for s in rng.integers(3, 60, ndim)))
            for _ in range(int(rng.integers(1, 4)))
        ]
        theirs = reference.StratifiedPatching(shapes, patch, seed=1)
        ours = StratifiedPatching(shapes, patch, seed=1)
        crashed = False
        for (data_idx, sample_idx), cells in theirs.get_all_grid_coords().items():
            if not cells:
                continue
            chosen = [
                cells[i] for i in rng.choice(len(cells), len(cells) // 4, replace=False)
            ]
            probs = {
                c: float(rng.choice([0.1, 0.5, 1.0]))
                for c in cells
                if rng.random() < 0.5
            }
            try:  # the reference crashes on all-zero weights and negative counts
                theirs.exclude_patches(data_idx, sample_idx, chosen)
                theirs.set_region_probs(data_idx, sample_idx, probs)
            except Exception:
                crashed = True
                break
            ours.exclude_patches(data_idx, sample_idx, chosen)
            ours.set_region_probs(data_idx, sample_idx, probs)
        if crashed:
            continue
        samples = [sample for image in theirs.image_patching for sample in image]
        assert ours.sample_patch_counts.tolist() == [s.n_patches for s in samples]
        areas = [int(a) for s in samples for a in s.areas.values()]
        assert ours.region_areas.tolist() == areas
        sizes = [int(s.region_bins.bin_size) for s in samples if s.n_patches]
        state = ours._regions.sampling
        assert state.bin_sizes[state.counts > 0].tolist() == sizes
        assert ours.included_grid_coords[:, 2:].tolist() == [
            list(c)
            for key, cells in theirs.get_included_grid_coords().items()
            for c in sorted(cells)
        ]


def _reference_tables(patching: Any, epochs: int) -> list[Any]:
    from careamics_dask.patching import PatchTable

    tables = []
    for _ in range(epochs):
        specs = [patching.get_patch_spec(i) for i in range(patching.n_patches)]
        tables.append(
            PatchTable.from_columns(
                data_idx=[s["data_idx"] for s in specs],
                sample_idx=[s["sample_idx"] for s in specs],
                coords=np.array([s["coords"] for s in specs]),
                patch_size=np.array([s["patch_size"] for s in specs]),
            )
        )
    return tables


@pytest.mark.parametrize("weight", [None, 0.1, "mixed"])
def test_stratified_coverage_statistics(weight: float | str | None) -> None:
    shapes = [(1, 1, 96, 128), (1, 1, 43, 71)]
    theirs = reference.StratifiedPatching(shapes, [16, 16], seed=1)
    ours = StratifiedPatching(shapes, [16, 16], seed=1)
    if weight is not None:
        cells = theirs.get_all_grid_coords()[(0, 0)]
        probs = {c: (0.1 if weight == 0.1 or (c[1] < 4) else 1.0) for c in cells}
        theirs.set_region_probs(0, 0, probs)
        ours.set_region_probs(0, 0, probs)
    epochs = 600
    theirs_cover = pixel_coverage(_reference_tables(theirs, epochs), shapes)
    ours_cover = pixel_coverage([ours.table(e) for e in range(epochs)], shapes)
    for key in theirs_cover:
        a, b = theirs_cover[key] / epochs, ours_cover[key] / epochs
        assert b.mean() == pytest.approx(a.mean(), rel=0.02)
        # per 16-pixel block, the coverage agrees within sampling noise
        blocks = [slice(0, s - s % 16) for s in a.shape]
        shape = [n // 16 for n in a[tuple(blocks)].shape]
        block_a = a[tuple(blocks)].reshape(shape[0], 16, shape[1], 16).mean((1, 3))
        block_b = b[tuple(blocks)].reshape(shape[0], 16, shape[1], 16).mean((1, 3))
        tolerance = 0.1 * np.maximum(block_a, block_b) + 0.05
        assert (np.abs(block_a - block_b) < tolerance).all()


SAMPLES = [(0, 0), (0, 1), (1, 0), (2, 0), (2, 1), (2, 2)]


def test_validation_split_shapes() -> None:
    shapes = [(2, 1, 64, 64), (1, 1, 48, 72), (3, 1, 16, 24)]
    n_val = 12
    per_sample_theirs = np.zeros(6)
    per_sample_ours = np.zeros(6)
    runs = 60
    for seed in range(runs):
        theirs_train, theirs_val = reference_split.create_val_split(
            reference.StratifiedPatching(shapes, [8, 8], seed=1),
            n_val,
            np.random.default_rng(seed),
        )
        stratified = StratifiedPatching(shapes, [8, 8], seed=1)
        ours_train, ours_val = create_val_split(stratified, n_val, seed)
        assert ours_val.n_patches == theirs_val.n_patches == n_val
        assert ours_train.n_patches == theirs_train.n_patches
        theirs_specs = [normalized(theirs_val.get_patch_spec(i)) for i in range(n_val)]
        ours_specs = list(ours_val.table())
        assert all(
            set(a) == set(b) for a, b in zip(theirs_specs, ours_specs, strict=True)
        )
        pairs = ((theirs_specs, per_sample_theirs), (ours_specs, per_sample_ours))
        for specs, counts in pairs:
            for spec in specs:
                assert spec["patch_size"] == (8, 8)
                assert all(c % 8 == 0 for c in spec["coords"])
                counts[SAMPLES.index((spec["data_idx"], spec["sample_idx"]))] += 1
    # both allocate in proportion to the sample's patch count
    assert per_sample_ours / runs == pytest.approx(per_sample_theirs / runs, abs=0.5)
