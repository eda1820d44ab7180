r"""Patching: pure-NumPy patch tables for every strategy, and the validation split.

Strategies turn image-stack shapes ``S C (Z) Y X`` into :class:`PatchTable`\\ s,
one per epoch for the random ones; they never touch pixels and never import Dask.
"""

from __future__ import annotations

from careamics_dask.patching.random import (
    FixedPatching,
    FixedRandomPatching,
    RandomPatching,
)
from careamics_dask.patching.seeds import epoch_rng, resolve_seed
from careamics_dask.patching.sequential import SequentialPatching
from careamics_dask.patching.specs import (
    PatchSpecs,
    RegionSpecs,
    TileSpecs,
    UncorrelatedPatchSpecs,
    is_tile_specs,
    is_uncorrelated_specs,
)
from careamics_dask.patching.strategy import Patching, PatchingStrategy
from careamics_dask.patching.stratified import StratifiedPatching
from careamics_dask.patching.table import PatchTable
from careamics_dask.patching.tiled import TiledPatching
from careamics_dask.patching.val_split import create_random_val_split, create_val_split
from careamics_dask.patching.whole import WholePatching, WholeSamplePatching

__all__ = [
    "FixedPatching",
    "FixedRandomPatching",
    "PatchSpecs",
    "PatchTable",
    "Patching",
    "PatchingStrategy",
    "RandomPatching",
    "RegionSpecs",
    "SequentialPatching",
    "StratifiedPatching",
    "TileSpecs",
    "TiledPatching",
    "UncorrelatedPatchSpecs",
    "WholePatching",
    "WholeSamplePatching",
    "create_random_val_split",
    "create_val_split",
    "epoch_rng",
    "is_tile_specs",
    "is_uncorrelated_specs",
    "resolve_seed",
]
