from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careamics_dask.patching.random import RandomPatching
from careamics_dask.patching.stratified import StratifiedPatching
from careamics_dask.patching.table import PatchTable
from tests.patching.helpers import overlaps_any, pixel_coverage

FUNCTIONAL_2D = [(2, 1, 64, 64), (1, 1, 43, 71), (3, 1, 35, 12)]
FUNCTIONAL_3D = [(2, 1, 64, 64, 64), (1, 1, 43, 71, 46), (3, 1, 35, 21, 12)]


@pytest.mark.parametrize(
    ("shape", "n_patches"),
    [
        ((64, 64), 4),
        ((63, 63), 4),
        ((62, 62), 4),
        ((32, 32), 1),
        ((31, 31), 0),
        ((16, 16), 0),
        ((100, 40), 4),
    ],
)
def test_edge_table(shape: tuple[int, int], n_patches: int) -> None:
    patching = StratifiedPatching([(1, 1, *shape)], [32, 32], seed=1)
    assert patching.n_patches == n_patches
    table = patching.table(3)
    assert len(table) == n_patches
    assert (table.coords + 32 <= shape).all()


def test_edge_regions_without_starts_fall_back_to_region_zero() -> None:
    patching = StratifiedPatching([(1, 1, 63, 63)], [32, 32], seed=1)
    assert patching.region_areas.tolist() == [1024, 0, 0, 0]
    coords = np.concatenate([patching.table(e).coords for e in range(20)])
    assert (coords < 32).all()


def test_single_start() -> None:
    patching = StratifiedPatching([(1, 1, 32, 32)], [32, 32], seed=1)
    assert patching.table(5).coords.tolist() == [[0, 0]]


@pytest.mark.parametrize(
    ("shape", "patch", "n_patches"),
    [
        ((43, 71), 8, 48),
        ((256, 256), 32, 64),
        ((512, 512), 64, 64),
        ((128, 128), 32, 16),
    ],
)
def test_counts_are_ceil_of_product(
    shape: tuple[int, int], patch: int, n_patches: int
) -> None:
    assert StratifiedPatching([(1, 1, *shape)], [patch, patch]).n_patches == n_patches


def test_random_and_stratified_counts_differ() -> None:
    assert RandomPatching([(1, 1, 43, 71)], [8, 8]).n_patches == 54
    assert StratifiedPatching([(1, 1, 43, 71)], [8, 8]).n_patches == 48


@pytest.mark.parametrize(
    ("shapes", "patch"),
    [
        ([(1, 1, 512, 512), (2, 1, 531, 591)], [64, 64]),
        ([(1, 1, 128, 128, 128), (2, 1, 131, 91, 154)], [32, 32, 32]),
    ],
)
def test_region_weights_reduce_counts_by_one_minus_weight(
    shapes: list[tuple[int, ...]], patch: list[int]
) -> None:
    patching = StratifiedPatching(shapes, patch, seed=1)
    before = patching.sample_patch_counts.copy()
    rng = np.random.default_rng(2)
    offsets = patching.region_offsets
    for s, (data_idx, sample_idx) in enumerate([(0, 0), (1, 0), (1, 1)]):
        n_cells = offsets[s + 1] - offsets[s]
        weights = rng.random(n_cells)
        patching.set_region_weights(
            data_idx, sample_idx, weights.reshape(patching.grid_shapes[s])
        )
        reduction = before[s] - patching.sample_patch_counts[s]
        assert abs(reduction - (1 - weights).sum()) < 1
    assert patching.n_patches == patching.sample_patch_counts.sum()


def test_count_formula_subtracts_weights_one_by_one() -> None:
    # ten regions at 0.1 from 64 cells: 64 - 0.9 * 10 in float, as the reference
    patching = StratifiedPatching([(1, 1, 64, 64)], [8, 8])
    probs = {(0, i): 0.1 for i in range(8)} | {(1, 0): 0.1, (1, 1): 0.1}
    patching.set_region_probs(0, 0, probs)
    total = 64.0
    for _ in range(10):
        total -= 1 - 0.1
    assert patching.n_patches == int(np.ceil(total))


def test_all_weights_zero_gives_no_patches() -> None:
    # the reference crashes here (UFuncTypeError); a sample of zero weight is empty
    patching = StratifiedPatching(FUNCTIONAL_2D, [8, 8], seed=1)
    grid = patching.grid_shapes[2]
    patching.set_region_weights(1, 0, np.zeros(grid))
    assert patching.sample_patch_counts[2] == 0
    table = patching.table(0)
    assert not ((table.data_idx == 1) & (table.sample_idx == 0)).any()
    assert len(table) == patching.n_patches


def test_counts_never_negative() -> None:
    patching = StratifiedPatching([(1, 1, 64, 64)], [32, 32])
    patching.exclude_cells(0, 0, [[0, 1], [1, 0], [1, 1]])
    patching.set_region_probs(0, 0, {(0, 1): 0.0, (1, 0): 0.0, (1, 1): 0.0})
    assert patching.n_patches == 0


def test_exclusion_example() -> None:
    patching = StratifiedPatching([(1, 1, 64, 64)], [32, 32], seed=1)
    patching.exclude_cells(0, 0, [[1, 1]])
    assert patching.region_areas[0] == 63
    assert patching.n_patches == 3
    coords = np.concatenate([patching.table(e).coords for e in range(30)])
    assert ((coords[:, 0] == 0) | (coords[:, 1] == 0)).all()
    assert patching.included_grid_coords.tolist() == [
        [0, 0, 0, 0],
        [0, 0, 0, 1],
        [0, 0, 1, 0],
    ]
    assert patching.get_included_grid_coords() == {(0, 0): [(0, 0), (0, 1), (1, 0)]}


@settings(max_examples=25, deadline=None)
@given(
    spatial=st.lists(
        st.tuples(st.integers(8, 70), st.integers(8, 70)), min_size=1, max_size=3
    ),
    patch=st.sampled_from([(8, 8), (8, 5), (16, 16)]),
    seed=st.integers(0, 2**32),
    fraction=st.floats(0, 0.6),
)
def test_patches_inside_and_off_excluded_cells(
    spatial: list[tuple[int, int]], patch: tuple[int, int], seed: int, fraction: float
) -> None:
    shapes = [(2, 1, *s) for s in spatial]
    patching = StratifiedPatching(shapes, patch, seed=seed)
    rng = np.random.default_rng(seed)
    n_regions = len(patching.all_grid_coords)
    patching.exclude_all_cells(rng.random(n_regions) < fraction)
    patching.set_all_region_weights(rng.choice([0.0, 0.1, 0.5, 1.0], n_regions))
    cells = patching.all_grid_coords[patching.excluded_cells]
    excluded = PatchTable.from_columns(
        data_idx=cells[:, 0], sample_idx=cells[:, 1],
        coords=cells[:, 2:] * patch, patch_size=patch,
    )  # fmt: skip
    for epoch in range(5):
        table = patching.table(epoch)
        assert len(table) == patching.n_patches
        sizes = np.array(shapes)[table.data_idx, 2:]
        assert (table.coords >= 0).all()
        assert (table.coords + table.patch_size <= sizes).all()
        assert not overlaps_any(table, excluded).any()


def test_order_and_indices() -> None:
    patching = StratifiedPatching(FUNCTIONAL_2D, [8, 8], seed=1)
    counts = patching.sample_patch_counts.tolist()
    assert counts == [64, 64, 48, 7, 7, 7]
    table = patching.table()
    assert table.sample_idx.tolist() == [0] * 64 + [1] * 64 + [0] * 48 + [
        s for s in range(3) for _ in range(7)
    ]
    assert patching.get_patch_indices(1).tolist() == list(range(128, 176))
    assert patching.get_patch_spec(130, epoch=2) == patching.table(2).row(130)
    with pytest.raises(
        IndexError, match="StratifiedPatching with number of patches 197"
    ):
        patching.get_patch_spec(197)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**63), epoch=st.integers(0, 500))
def test_tables_depend_only_on_seed_and_epoch(seed: int, epoch: int) -> None:
    first = StratifiedPatching(FUNCTIONAL_2D, [8, 8], seed=seed)
    for earlier in range(3):
        first.table(earlier)
    fresh = StratifiedPatching(FUNCTIONAL_2D, [8, 8], seed=seed)
    assert first.table(epoch) == fresh.table(epoch)
    assert first.table(epoch) != fresh.table(epoch + 1)


def test_changes_invalidate_the_cached_table() -> None:
    patching = StratifiedPatching([(1, 1, 64, 64)], [8, 8], seed=1)
    before = patching.table(0)
    patching.exclude_cells(0, 0, [[3, 3]])
    after = patching.table(0)
    assert len(after) == len(before) - 1
    patching.set_region_probs(0, 0, {(0, 0): 0.5})
    assert patching.get_patch_spec(0)["coords"] == tuple(patching.table(0).coords[0])


def coverage_means(
    patching: StratifiedPatching, shapes: list[tuple[int, ...]], epochs: int
) -> dict[tuple[int, int], float]:
    tables = [patching.table(e) for e in range(epochs)]
    return {
        key: float(c.mean()) / epochs
        for key, c in pixel_coverage(tables, shapes).items()
    }


@pytest.mark.parametrize("shapes", [FUNCTIONAL_2D, FUNCTIONAL_3D])
@pytest.mark.parametrize("weight", [None, 0.0, 0.1, 0.8])
def test_pixel_coverage_about_once_per_epoch(
    shapes: list[tuple[int, ...]], weight: float | None
) -> None:
    """The reference's functional tests: mean coverage per epoch, rtol 0.1."""
    patching = StratifiedPatching(shapes, [8] * (len(shapes[0]) - 2), seed=42)
    if weight is not None:
        patching.set_region_weights(0, 0, np.full(patching.grid_shapes[0], weight))
    epochs = 100 if len(shapes[0]) == 4 else 20
    for key, mean in coverage_means(patching, shapes, epochs).items():
        expected = weight if key == (0, 0) and weight is not None else 1.0
        assert mean == pytest.approx(expected, rel=0.1, abs=1e-9), key


def test_region_frequency_follows_its_weight() -> None:
    """Half the regions at 0.5: their pixels are covered half as often as the rest."""
    shape = (1, 1, 256, 256)
    patching = StratifiedPatching([shape], [32, 32], seed=7)
    cells = patching.all_grid_coords
    patching.set_all_region_weights(np.where(cells[:, 3] < 4, 0.5, 1.0))
    epochs = 400
    tables = [patching.table(e) for e in range(epochs)]
    coverage = pixel_coverage(tables, [shape])[(0, 0)] / epochs
    # interior pixels covered only by weighted (x < 96) or plain (x >= 160) regions;
    # unused bin capacity is spread in proportion to the weights, so the ratio holds
    weighted = coverage[32:224, 32:96].mean()
    plain = coverage[32:224, 160:224].mean()
    assert weighted / plain == pytest.approx(0.5, rel=0.1)
    # region draws: a start in [g p, g p + p) comes from region g
    regions = np.concatenate([t.coords // 32 for t in tables])
    per_region = np.zeros((8, 8))
    np.add.at(per_region, tuple(regions.T), 1 / epochs)
    assert per_region[:7, :4].mean() == pytest.approx(
        0.5 * per_region[:7, 4:7].mean(), rel=0.1
    )


def test_grid_arrays_and_dicts() -> None:
    patching = StratifiedPatching([(2, 1, 64, 96), (1, 1, 40, 40)], [32, 32])
    assert patching.grid_shapes.tolist() == [[2, 3], [2, 3], [1, 1]]
    assert patching.region_offsets.tolist() == [0, 6, 12, 13]
    coords = patching.all_grid_coords
    assert coords.shape == (13, 4)
    assert coords[6].tolist() == [0, 1, 0, 0]
    assert coords[12].tolist() == [1, 0, 0, 0]
    assert patching.get_all_grid_coords()[(1, 0)] == [(0, 0)]
    assert patching.region_weights.tolist() == [1.0] * 13
    assert not patching.excluded_cells.any()
    assert not patching.region_weights.flags.writeable


def test_bulk_weights_flat_or_per_sample() -> None:
    shapes = [(2, 1, 64, 96)]
    flat = StratifiedPatching(shapes, [32, 32], seed=1)
    flat.set_all_region_weights(np.arange(12) / 12)
    per_sample = StratifiedPatching(shapes, [32, 32], seed=1)
    per_sample.set_all_region_weights(
        [np.arange(6).reshape(2, 3) / 12, np.arange(6, 12).reshape(2, 3) / 12]
    )
    one_by_one = StratifiedPatching(shapes, [32, 32], seed=1)
    for s in range(2):
        cells = {tuple(c): (6 * s + i) / 12 for i, c in enumerate(np.ndindex(2, 3))}
        one_by_one.set_region_probs(0, s, cells)
    assert flat.table(3) == per_sample.table(3) == one_by_one.table(3)
    assert np.array_equal(flat.region_weights, np.arange(12) / 12)


def test_input_errors() -> None:
    patching = StratifiedPatching([(1, 1, 64, 64)], [32, 32])
    with pytest.raises(ValueError, match="expected 4 values"):
        patching.set_region_weights(0, 0, np.ones(3))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        patching.set_region_weights(0, 0, np.full(4, 1.5))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        patching.set_all_region_weights(np.array([1, 1, 1, np.nan]))
    with pytest.raises(ValueError, match=r"got \(2, 0\)"):
        patching.exclude_cells(0, 0, [[2, 0]])
    with pytest.raises(ValueError, match="outside the sample's grid"):
        patching.set_region_probs(0, 0, {(0, -1): 0.5})
    with pytest.raises(IndexError, match="sample_idx < 1, got 1"):
        patching.exclude_cells(0, 1, [[0, 0]])
    with pytest.raises(ValueError, match="wrong length"):
        patching.exclude_all_cells(np.ones(3, bool))


def test_copy_is_independent() -> None:
    patching = StratifiedPatching(FUNCTIONAL_2D, [8, 8], seed=5)
    table = patching.table(2)
    clone = patching.copy()
    clone.exclude_cells(0, 0, [[0, 0]])
    clone.set_region_weights(0, 1, np.zeros(patching.grid_shapes[1]))
    assert patching.table(2) == table
    assert not patching.excluded_cells.any()
    assert clone.n_patches == patching.n_patches - 1 - 64
    assert clone.seed == patching.seed


def test_large_vectorized_epoch_is_fast_enough() -> None:
    patching = StratifiedPatching([(1, 1, 2048, 2048)] * 20, [64, 64], seed=1)
    assert patching.n_patches == 20 * 1024
    assert len(patching.table(0)) == 20 * 1024
