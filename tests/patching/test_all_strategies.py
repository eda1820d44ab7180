"""Conformance of every strategy the factory builds (reference test_all_patching)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from careamics_dask.config.patching import (
    FixedRandomPatchingConfig,
    RandomPatchingConfig,
    SequentialPatchingConfig,
    StratifiedPatchingConfig,
    TiledPatchingConfig,
    WholePatchingConfig,
)
from careamics_dask.factory.patching import create_patching
from careamics_dask.patching import (
    FixedPatching,
    FixedRandomPatching,
    PatchingStrategy,
    RandomPatching,
    SequentialPatching,
    StratifiedPatching,
    TiledPatching,
    WholePatching,
    create_val_split,
)
from tests.patching.helpers import pixel_coverage

SHAPES: dict[int, list[tuple[int, ...]]] = {
    2: [(2, 1, 32, 32), (1, 1, 19, 37), (3, 1, 14, 9)],
    3: [(2, 1, 32, 32, 32), (1, 1, 19, 37, 23), (3, 1, 14, 9, 12)],
}
PATCHES = {2: [[8, 8], [8, 5]], 3: [[8, 8, 8], [8, 5, 7], [4, 8, 8]]}


def strategies(ndim: int, patch: list[int]) -> dict[str, PatchingStrategy]:
    """Every strategy: from the factory for square patches, else the classes."""
    shapes = SHAPES[ndim]
    overlaps = [2] * ndim
    if patch[-1] == patch[-2]:
        configs = (
            RandomPatchingConfig(patch_size=patch, seed=1),
            FixedRandomPatchingConfig(patch_size=patch, seed=1),
            StratifiedPatchingConfig(patch_size=patch, seed=1),
            TiledPatchingConfig(patch_size=patch, overlaps=overlaps),
            SequentialPatchingConfig(patch_size=patch, overlaps=overlaps),
            WholePatchingConfig(),
        )
        built: dict[str, PatchingStrategy] = {
            config.name: create_patching(shapes, config) for config in configs
        }
    else:  # the configs require square YX patches; the classes do not
        built = {
            "random": RandomPatching(shapes, patch, seed=1),
            "fixed_random": FixedRandomPatching(shapes, patch, seed=1),
            "stratified": StratifiedPatching(shapes, patch, seed=1),
            "tiled": TiledPatching(shapes, patch, overlaps),
            "sequential": SequentialPatching(shapes, patch, overlaps),
            "whole": WholePatching(shapes),
        }
    stratified = StratifiedPatching(shapes, patch, seed=1)
    built["fixed"] = create_val_split(stratified, 10, rng_or_seed=1)[1]
    return built


CASES = [(ndim, patch) for ndim in (2, 3) for patch in PATCHES[ndim]]


@pytest.mark.parametrize(("ndim", "patch"), CASES)
def test_protocol_table_and_specs_agree(ndim: int, patch: list[int]) -> None:
    for name, patching in strategies(ndim, patch).items():
        assert isinstance(patching, PatchingStrategy), name
        for epoch in (0, 3):
            table = patching.table(epoch)
            assert len(table) == patching.n_patches, name
            assert table.ndim == ndim
            for index in (0, patching.n_patches // 2, patching.n_patches - 1):
                assert patching.get_patch_spec(index, epoch) == table.row(index), name
        assert (patching.table(0) != patching.table(1)) == patching.is_random, name


@pytest.mark.parametrize(("ndim", "patch"), CASES)
def test_patches_inside_the_image(ndim: int, patch: list[int]) -> None:
    shapes = np.array(SHAPES[ndim])
    for name, patching in strategies(ndim, patch).items():
        table = patching.table(2)
        sizes = shapes[table.data_idx, 2:]
        assert (table.coords >= 0).all(), name
        assert (table.coords + table.patch_size <= sizes).all(), name


@pytest.mark.parametrize(("ndim", "patch"), CASES)
def test_one_pass_covers_half_the_voxels(ndim: int, patch: list[int]) -> None:
    for name, patching in strategies(ndim, patch).items():
        if isinstance(patching, FixedPatching):
            continue  # a validation split covers 10 cells only
        coverage = pixel_coverage([patching.table(0)], SHAPES[ndim])
        covered = sum(int((c > 0).sum()) for c in coverage.values())
        total = sum(c.size for c in coverage.values())
        assert covered / total > 0.5, name


@pytest.mark.parametrize(("ndim", "patch"), CASES)
def test_get_patch_indices(ndim: int, patch: list[int]) -> None:
    for name, patching in strategies(ndim, patch).items():
        table = patching.table(0)
        seen = []
        for data_idx in range(3):
            indices = patching.get_patch_indices(data_idx)
            assert (table.data_idx[indices] == data_idx).all(), name
            assert np.array_equal(indices, table.indices_of(data_idx)), name
            seen.extend(indices.tolist())
        assert sorted(seen) == list(range(patching.n_patches)), name


@pytest.mark.parametrize(("ndim", "patch"), CASES[:2])
def test_pickle_round_trip(ndim: int, patch: list[int]) -> None:
    for name, patching in strategies(ndim, patch).items():
        before = patching.table(4)
        restored = pickle.loads(pickle.dumps(patching))
        assert restored.table(4) == before, name
        assert restored.table(5) == patching.table(5), name
