"""Grid cells of one sample, the busiest sample of a table, rows on a Z plane."""

from __future__ import annotations

import numpy as np

import careamics_dask as cd
from careamics_dask.patching import PatchTable
from careamics_dask.plot._grid import busiest_sample, plane_rows, sample_grid


def _stratified(seed: int = 0) -> cd.CareamicsDataset:
    config = cd.DataConfig(
        mode="training",
        data_type="array",
        axes="SYX",
        patching={"name": "stratified", "patch_size": [8, 8]},
        normalization={"name": "none"},
        batch_size=4,
        seed=seed + 1,
    )
    images = np.random.default_rng(0).random((3, 32, 48), dtype=np.float32)
    return cd.create_train_dataset(config, cd.TrainValData(images, None))


def test_sample_grid_places_each_cell_weight() -> None:
    dataset = _stratified()
    grid = sample_grid(dataset, data_idx=0, sample_idx=2, z=None)
    assert grid is not None
    assert grid.weights.shape == grid.excluded.shape == (4, 6)
    assert grid.cell == (8, 8)
    assert grid.z_cell is None
    assert grid.extent == (-0.5, 47.5, 31.5, -0.5)
    np.testing.assert_array_equal(grid.weights, np.ones((4, 6)))
    assert not grid.excluded.any()


def test_sample_grid_is_none_without_stratified_patching() -> None:
    config = cd.DataConfig(
        mode="training",
        data_type="array",
        axes="YX",
        patching={"name": "random", "patch_size": [8, 8]},
        normalization={"name": "none"},
    )
    dataset = cd.create_train_dataset(config, cd.TrainValData(np.ones((16, 16)), None))
    assert sample_grid(dataset, 0, 0, None) is None


def test_busiest_sample_and_empty_tables() -> None:
    table = PatchTable.from_columns(
        data_idx=[0, 1, 1, 1, 0, 1],
        sample_idx=[3, 2, 2, 0, 3, 2],
        coords=[[0, 0]] * 6,
        patch_size=[4, 4],
    )
    assert busiest_sample(table) == (1, 2)
    assert busiest_sample(None) == (0, 0)
    assert busiest_sample(table[np.zeros(6, bool)]) == (0, 0)


def test_plane_rows_keeps_patches_that_meet_the_plane() -> None:
    table = PatchTable.from_columns(
        data_idx=[0, 0, 0, 1],
        sample_idx=[0, 0, 1, 0],
        coords=[[0, 0, 0], [4, 0, 0], [0, 0, 0], [0, 0, 0]],
        patch_size=[4, 8, 8],
    )
    np.testing.assert_array_equal(
        plane_rows(table, 0, 0, 2), [True, False, False, False]
    )
    np.testing.assert_array_equal(
        plane_rows(table, 0, 0, 5), [False, True, False, False]
    )
    np.testing.assert_array_equal(
        plane_rows(table, 0, 0, None), [True, True, False, False]
    )
