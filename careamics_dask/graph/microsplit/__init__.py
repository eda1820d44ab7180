"""MicroSplit batch tasks: lateral contexts, channel mixing, uncorrelated channels."""

from __future__ import annotations

from careamics_dask.graph.microsplit.batches import MicroSplitMode, MicroSplitPlan
from careamics_dask.graph.microsplit.epoch_stacks import statistics_stacks
from careamics_dask.graph.microsplit.lateral_context import (
    downscale,
    extract_lateral_context,
    lateral_context,
    read_lateral_contexts,
    read_window,
)
from careamics_dask.graph.microsplit.locations import ChannelLocations, epoch_table
from careamics_dask.graph.microsplit.windows import (
    PaddingMode,
    context_bounds,
    padded_indices,
    window_boxes,
    window_of,
)

__all__ = [
    "ChannelLocations",
    "MicroSplitMode",
    "MicroSplitPlan",
    "PaddingMode",
    "context_bounds",
    "downscale",
    "epoch_table",
    "extract_lateral_context",
    "lateral_context",
    "padded_indices",
    "read_lateral_contexts",
    "read_window",
    "statistics_stacks",
    "window_boxes",
    "window_of",
]
