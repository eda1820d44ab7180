"""Per-batch transforms on the worker: normalization and spatial augmentation.

Everything here takes plain values (statistics, seeds, probabilities); building
them from a configuration is the factory's job.
"""

from __future__ import annotations

from careamics_dask.graph.transforms._build_normalizer import build_normalizer
from careamics_dask.graph.transforms._normalize_arrays import broadcast_stats
from careamics_dask.graph.transforms.augment import (
    augment_batch,
    augment_patch,
    check_augmentations,
)
from careamics_dask.graph.transforms.compose import Compose
from careamics_dask.graph.transforms.draws import draw_uniforms
from careamics_dask.graph.transforms.normalize import (
    MEAN_STD_EPS,
    RANGE_EPS,
    NormalizationName,
    Normalizer,
)
from careamics_dask.graph.transforms.spatial import (
    SEED_MESSAGE,
    SpatialAugmentation,
    XYFlip,
    XYRandomRotate90,
)

__all__ = [
    "MEAN_STD_EPS",
    "RANGE_EPS",
    "SEED_MESSAGE",
    "Compose",
    "NormalizationName",
    "Normalizer",
    "SpatialAugmentation",
    "XYFlip",
    "XYRandomRotate90",
    "augment_batch",
    "augment_patch",
    "broadcast_stats",
    "build_normalizer",
    "check_augmentations",
    "draw_uniforms",
]
