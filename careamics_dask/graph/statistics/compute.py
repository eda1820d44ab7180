"""Normalization statistics as Dask reductions: one pass, one compute, small result.

Every storage block of every image stack becomes one small float64 partial per
channel (total weight, pixel count, mean, ``M2``, extremes and, for quantiles, a
histogram); partials merge in a Dask tree reduction per stack, then
across stacks, and only ``channels x (8 + bins)`` numbers come back to the client,
which reads the statistics off them (:mod:`careamics_dask.graph.statistics._partials`).

Differences from CAREamics (``reference_semantics.md`` §4.3)
----------------------------------------------------------
- The reference draws one epoch of patches and streams them through Welford,
  running extremes and a 65,536-bin histogram. Here every pixel of the stacks counts
  once, with the weight of the grid cell (stratified region) that holds it
  (:class:`RegionWeights`; uniform without weights): the expectation of the
  reference's draw without its sampling noise, up to one approximation. Patches
  starting in cell ``g`` (size ``P``) cover ``[g P, (g + 2) P)`` with a triangular
  profile, so the exact expected coverage of a pixel at offset ``r`` in cell ``g``
  blends ``w[g]`` and ``w[g - 1]`` as ``(w[g] (r + 1) + w[g - 1] (P - r - 1)) / P``
  along each axis (and falls off within one patch of the image borders), where this
  module uses ``w[g]`` alone. Zero padding of patches past image borders is not
  counted either.
- Mean/std: weighted mean and **population** std, exact up to float64 rounding.
- Quantiles follow NumPy's ``"linear"`` method (level ``q`` at rank ``q (n - 1)``);
  a pixel of weight ``w`` counts as ``w / mean(w)`` pixels. Integer pixels of at most
  16 bits (and booleans) are counted exactly, one bin per value, so the result is
  ``numpy.quantile``'s exactly. Other dtypes use ``HISTOGRAM_BINS`` aligned
  power-of-two bins per block, which merge without loss: the error is below one final
  bin (about ``2 / HISTOGRAM_BINS`` of the data range, 0.05 %) plus the gap between
  neighbouring values in sparse tails. A far outlier widens the range and so
  coarsens the bins for the bulk of the data. Levels 0 and 1 give the exact extremes.
- Constant channels get a usable range instead of the reference's crash: when the
  upper value (maximum, or upper quantile value) equals the lower one ``v``, the
  range is ``[v, v + 1]``, so normalization maps the channel to 0 (as mean/std does
  with ``std = 0``).
- Data with no pixel of positive weight raises the reference's ``"No patches found to
  compute mean/std statistics."`` instead of returning NaN.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import dask.array as da
from dask.base import compute, tokenize

from careamics_dask.graph.statistics._histogram import HistogramPlan, plan_histogram
from careamics_dask.graph.statistics._input import (
    NO_DATA_MESSAGE,
    RegionWeights,
    StatisticsKind,
    check_kind,
    resolve_levels,
    stack_pixels,
)
from careamics_dask.graph.statistics._reduction import reduce_partials, reduce_stack
from careamics_dask.graph.statistics._result import (
    NormalizationStatistics,
    Statistics,
    StatisticsGraph,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import xarray as xr

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

logger = logging.getLogger(__name__)

HISTOGRAM_BINS = 4096
"""Bins of every block and merged histogram (quantile statistics)."""


def build_statistics_graph(
    stacks: Sequence[xr.DataArray],
    kind: StatisticsKind,
    *,
    channels: Sequence[int] | None = None,
    per_channel: bool = True,
    weights: Sequence[RegionWeights | None] | None = None,
    lower_quantiles: Sequence[float] | None = None,
    upper_quantiles: Sequence[float] | None = None,
) -> StatisticsGraph:
    """Build the lazy statistics reduction over image stacks (computes nothing).

    Parameters
    ----------
    stacks : sequence of xarray.DataArray
        Canonical stacks, dims ``S C (Z) Y X``, Dask- or NumPy-backed, any real dtype.
    kind : {"mean_std", "min_max", "quantile"}
        The statistics to compute.
    channels : sequence of int, optional
        Channels to use, in this order; all by default.
    per_channel : bool, default True
        One value per channel; False pools all channels into one value.
    weights : sequence of RegionWeights or None, optional
        One entry per stack (``None`` for uniform); uniform by default.
    lower_quantiles, upper_quantiles : sequence of float, optional
        Quantile levels (``kind="quantile"``), one or one per channel; 0.01 and 0.99
        by default.

    Returns
    -------
    StatisticsGraph
        The lazy partials and how to read statistics off them.

    Raises
    ------
    ValueError
        For an unknown kind, no stacks, stacks that disagree in dims or channels,
        channels out of range, weights that do not match their stacks, or quantile
        levels of the wrong length.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> stack = xr.DataArray(np.arange(8.0).reshape(1, 2, 2, 2), dims=list("SCYX"))
    >>> graph = build_statistics_graph([stack], "min_max")
    >>> graph.partials.shape  # 8 numbers per channel, no histogram for min_max
    (2, 8)
    """
    kind = check_kind(kind)
    pixels = stack_pixels(stacks, channels, weights)
    lower, upper = resolve_levels(
        kind, per_channel, pixels[0][0].shape[1], lower_quantiles, upper_quantiles
    )
    histogram = HistogramPlan(n_bins=0)
    if kind == "quantile":
        histogram = plan_histogram((data.dtype for data, _ in pixels), HISTOGRAM_BINS)
    moments = kind == "mean_std"
    reduced = [
        reduce_stack(
            data,
            None if w is None else w.values,
            () if w is None else w.cell_size,
            histogram,
            moments,
        )
        for data, w in pixels
    ]
    merged = reduced[0]
    if len(reduced) > 1:
        name = f"careamics-statistics-stacks-{tokenize([r.name for r in reduced])}"
        stacked = da.stack([part.rechunk({0: -1}) for part in reduced])
        merged = reduce_partials(stacked, (0,), histogram.exact, name)
    return StatisticsGraph(
        kind=kind,
        per_channel=per_channel,
        lower_quantiles=lower,
        upper_quantiles=upper,
        histogram=histogram,
        partials=merged,
    )


def _compute(*graphs: StatisticsGraph, progress: bool) -> list[Statistics]:
    """Compute the graphs' partials in one ``dask.compute`` call, then finalize."""
    bar: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if progress:
        from dask.diagnostics.progress import ProgressBar

        bar = ProgressBar()
    with bar:
        computed = compute(*(graph.partials for graph in graphs))
    return [graph.finalize(part) for graph, part in zip(graphs, computed, strict=True)]


def compute_statistics(
    stacks: Sequence[xr.DataArray],
    kind: StatisticsKind,
    *,
    channels: Sequence[int] | None = None,
    per_channel: bool = True,
    weights: Sequence[RegionWeights | None] | None = None,
    lower_quantiles: Sequence[float] | None = None,
    upper_quantiles: Sequence[float] | None = None,
    progress: bool = False,
) -> Statistics:
    """Compute normalization statistics of image stacks in one pass over the pixels.

    Parameters
    ----------
    stacks : sequence of xarray.DataArray
        Canonical stacks, dims ``S C (Z) Y X``, Dask- or NumPy-backed, any real dtype.
    kind : {"mean_std", "min_max", "quantile"}
        The statistics to compute.
    channels : sequence of int, optional
        Channels to use, in this order; all by default.
    per_channel : bool, default True
        One value per channel; False pools all channels into one value.
    weights : sequence of RegionWeights or None, optional
        One entry per stack (``None`` for uniform); uniform by default.
    lower_quantiles, upper_quantiles : sequence of float, optional
        Quantile levels (``kind="quantile"``), one or one per channel; 0.01 and 0.99
        by default.
    progress : bool, default False
        Show a :class:`dask.diagnostics.ProgressBar` (local schedulers only).

    Returns
    -------
    Statistics
        The statistics of ``kind``.

    Raises
    ------
    ValueError
        For the input errors of :func:`build_statistics_graph`, or when no pixel
        has a positive weight (the reference's message).

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> stack = xr.DataArray(np.arange(8.0).reshape(1, 2, 2, 2), dims=list("SCYX"))
    >>> compute_statistics([stack], "min_max").pair
    ([0.0, 4.0], [3.0, 7.0])
    >>> compute_statistics([stack], "mean_std", channels=[1], per_channel=False).means
    (5.5,)
    """
    graph = build_statistics_graph(
        stacks,
        kind,
        channels=channels,
        per_channel=per_channel,
        weights=weights,
        lower_quantiles=lower_quantiles,
        upper_quantiles=upper_quantiles,
    )
    return _compute(graph, progress=progress)[0]


def compute_normalization_statistics(
    kind: StatisticsKind,
    input_stacks: Sequence[xr.DataArray] | None,
    target_stacks: Sequence[xr.DataArray] | None = None,
    *,
    channels: Sequence[int] | None = None,
    per_channel: bool = True,
    weights: Sequence[RegionWeights | None] | None = None,
    lower_quantiles: Sequence[float] | None = None,
    upper_quantiles: Sequence[float] | None = None,
    progress: bool = False,
) -> NormalizationStatistics:
    """Compute the statistics of inputs and of targets together, in one compute.

    Inputs use the ``channels`` selection; targets use all their channels and are
    weighted like their inputs (same regions). Logs each result at INFO.

    Parameters
    ----------
    kind : {"mean_std", "min_max", "quantile"}
        The statistics to compute.
    input_stacks : sequence of xarray.DataArray or None
        Canonical input stacks; ``None`` when the inputs need nothing.
    target_stacks : sequence of xarray.DataArray or None, optional
        Canonical target stacks; ``None`` when the targets need nothing.
    channels : sequence of int, optional
        Input channels to use, in order; all by default.
    per_channel : bool, default True
        One value per channel; False pools all channels into one value.
    weights : sequence of RegionWeights or None, optional
        Sampling weights per stack (inputs and targets alike); uniform by default.
    lower_quantiles, upper_quantiles : sequence of float, optional
        Quantile levels (``kind="quantile"``).
    progress : bool, default False
        Show a :class:`dask.diagnostics.ProgressBar` (local schedulers only).

    Returns
    -------
    NormalizationStatistics
        The statistics of the inputs and of the targets (``None`` where not asked).

    Raises
    ------
    ValueError
        For the input errors of :func:`build_statistics_graph`, or when no pixel
        has a positive weight.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> stack = xr.DataArray(np.arange(8.0).reshape(1, 2, 2, 2), dims=list("SCYX"))
    >>> result = compute_normalization_statistics("min_max", None, [stack])
    >>> result.inputs is None, result.targets.pair
    (True, ([0.0, 4.0], [3.0, 7.0]))
    """
    kind = check_kind(kind)
    graphs: dict[bool, StatisticsGraph] = {}
    if input_stacks is not None:
        graphs[False] = build_statistics_graph(
            input_stacks,
            kind,
            channels=channels,
            per_channel=per_channel,
            weights=weights,
            lower_quantiles=lower_quantiles,
            upper_quantiles=upper_quantiles,
        )
    if target_stacks is not None:
        graphs[True] = build_statistics_graph(
            target_stacks,
            kind,
            per_channel=per_channel,
            weights=weights,
            lower_quantiles=lower_quantiles,
            upper_quantiles=upper_quantiles,
        )
    if not graphs:
        return NormalizationStatistics()
    results = dict(
        zip(graphs, _compute(*graphs.values(), progress=progress), strict=True)
    )
    for target, statistics in results.items():
        logger.info(
            "computed %s statistics of the %s: %s and %s",
            kind,
            "targets" if target else "inputs",
            *statistics.pair,
        )
    return NormalizationStatistics(inputs=results.get(False), targets=results.get(True))
