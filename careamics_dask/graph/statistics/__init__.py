"""Normalization statistics as lazy Dask reductions over image stacks.

Statistics are computed and returned (:class:`NormalizationStatistics`); writing
them into a configuration is the factory's job.
"""

from __future__ import annotations

from careamics_dask.graph.statistics.compute import (
    HISTOGRAM_BINS,
    NO_DATA_MESSAGE,
    NormalizationStatistics,
    RegionWeights,
    Statistics,
    StatisticsGraph,
    StatisticsKind,
    build_statistics_graph,
    compute_normalization_statistics,
    compute_statistics,
)

__all__ = [
    "HISTOGRAM_BINS",
    "NO_DATA_MESSAGE",
    "NormalizationStatistics",
    "RegionWeights",
    "Statistics",
    "StatisticsGraph",
    "StatisticsKind",
    "build_statistics_graph",
    "compute_normalization_statistics",
    "compute_statistics",
]
