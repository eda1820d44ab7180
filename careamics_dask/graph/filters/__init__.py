"""Background filters as lazy block reductions over the stratified grid's regions.

Filters are plain values (:class:`BackgroundFilter` around a region rule); building
them from a filter configuration is the factory's job.
"""

from __future__ import annotations

from careamics_dask.graph.filters.background import (
    BackgroundFilter,
    MaskPatchFilter,
    MaxPatchFilter,
    MeanStdPatchFilter,
    PatchFilter,
    RegionFilter,
    ShannonPatchFilter,
    apply_background_filter,
    background_weights,
    build_background,
    compute_background,
    shannon_entropy,
)

__all__ = [
    "BackgroundFilter",
    "MaskPatchFilter",
    "MaxPatchFilter",
    "MeanStdPatchFilter",
    "PatchFilter",
    "RegionFilter",
    "ShannonPatchFilter",
    "apply_background_filter",
    "background_weights",
    "build_background",
    "compute_background",
    "shannon_entropy",
]
