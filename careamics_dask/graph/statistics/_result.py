"""Read normalization statistics off computed partials: the lazy graph, its result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from careamics_dask.graph.statistics._histogram import (
    HistogramPlan,
    exact_quantile,
    histogram_quantile,
)
from careamics_dask.graph.statistics._input import NO_DATA_MESSAGE, StatisticsKind
from careamics_dask.graph.statistics._partials import (
    COUNT,
    HISTOGRAM,
    M2,
    MAXIMUM,
    MEAN,
    MINIMUM,
    SCALE,
    START,
    WEIGHT,
    merge_partials,
)

if TYPE_CHECKING:
    import dask.array as da

__all__ = [
    "NormalizationStatistics",
    "Statistics",
    "StatisticsGraph",
    "widen_constant",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class Statistics:
    """Statistics of one kind, as the config setters take them.

    Only the pair of ``kind`` is set: ``means``/``stds``, ``mins``/``maxes`` or
    ``lower_quantile_values``/``upper_quantile_values``, each with one value per
    channel (one in all with ``per_channel=False``).

    Attributes
    ----------
    kind : str
        ``"mean_std"``, ``"min_max"`` or ``"quantile"``.
    weights : tuple of float
        Total pixel weight behind each value (the pixel count without weights).
    means, stds : tuple of float or None
        Weighted means and population standard deviations (``"mean_std"``).
    mins, maxes : tuple of float or None
        Extremes over pixels of positive weight (``"min_max"``); a constant
        channel ``v`` gets ``[v, v + 1]``.
    lower_quantile_values, upper_quantile_values : tuple of float or None
        Values at the quantile levels (``"quantile"``); equal values ``v`` become
        ``[v, v + 1]``.

    Examples
    --------
    >>> stats = Statistics(kind="min_max", weights=(4.0,), mins=(0.0,), maxes=(1.0,))
    >>> stats.pair
    ([0.0], [1.0])
    """

    kind: StatisticsKind
    weights: tuple[float, ...]
    means: tuple[float, ...] | None = None
    stds: tuple[float, ...] | None = None
    mins: tuple[float, ...] | None = None
    maxes: tuple[float, ...] | None = None
    lower_quantile_values: tuple[float, ...] | None = None
    upper_quantile_values: tuple[float, ...] | None = None

    @property
    def pair(self) -> tuple[list[float], list[float]]:
        """The two lists of :attr:`kind`, in the order the config setters take them."""
        first, second = {
            "mean_std": (self.means, self.stds),
            "min_max": (self.mins, self.maxes),
            "quantile": (self.lower_quantile_values, self.upper_quantile_values),
        }[self.kind]
        if first is None or second is None:
            raise ValueError(
                f"Statistics incomplete: expected both {self.kind} lists, got "
                f"{first!r} and {second!r}. Build them with compute_statistics."
            )
        return list(first), list(second)


def widen_constant(lower: FloatArray, upper: FloatArray) -> FloatArray:
    """Return ``upper``, with ``lower + 1`` wherever it is not above ``lower``.

    Parameters
    ----------
    lower, upper : numpy.ndarray
        Lower and upper ends of ranges.

    Returns
    -------
    numpy.ndarray
        Upper ends, each strictly above its lower end.

    Examples
    --------
    >>> widen_constant(np.array([0.0, 5.0]), np.array([2.0, 5.0])).tolist()
    [2.0, 6.0]
    """
    widened = np.maximum(lower + 1.0, np.nextafter(lower, np.inf))
    result: FloatArray = np.where(upper > lower, upper, widened)
    return result


def _as_tuple(values: FloatArray) -> tuple[float, ...]:
    return tuple(float(value) for value in values)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatisticsGraph:
    """A lazy statistics reduction: compute :attr:`partials`, then :meth:`finalize`.

    Attributes
    ----------
    kind : str
        ``"mean_std"``, ``"min_max"`` or ``"quantile"``.
    per_channel : bool
        One value per channel, or one for all channels pooled.
    lower_quantiles, upper_quantiles : tuple of float
        Quantile levels of each result value (empty unless ``kind="quantile"``).
    histogram : HistogramPlan
        How the partials histogram pixels.
    partials : dask.array.Array
        ``(C, 8 + bins)`` float64 merged partials of the selected channels.
    """

    kind: StatisticsKind
    per_channel: bool
    lower_quantiles: tuple[float, ...]
    upper_quantiles: tuple[float, ...]
    histogram: HistogramPlan
    partials: da.Array

    def finalize(self, partials: FloatArray) -> Statistics:
        """Read the statistics off the computed partials.

        Parameters
        ----------
        partials : numpy.ndarray
            The computed value of :attr:`partials`.

        Returns
        -------
        Statistics
            The statistics of :attr:`kind`.

        Raises
        ------
        ValueError
            When no pixel has a positive weight (the reference's message), or
            pixels are NaN or infinite.
        """
        rows = np.asarray(partials, dtype=np.float64)
        if not self.per_channel:
            rows = merge_partials(rows[:, None, :], self.histogram.exact)
        weights = rows[:, WEIGHT]
        if rows.shape[0] == 0 or not (weights > 0).all():
            raise ValueError(NO_DATA_MESSAGE)
        lows, highs = rows[:, MINIMUM], rows[:, MAXIMUM]
        if not np.isfinite(rows[:, :HISTOGRAM]).all():
            raise ValueError(
                "Statistics not finite: expected finite pixels, got extremes "
                f"{lows.tolist()} and {highs.tolist()}. Replace NaN and inf pixels "
                "before computing statistics, or give the statistics in the config."
            )
        if self.kind == "mean_std":
            stds = np.sqrt(np.maximum(rows[:, M2], 0.0) / weights)
            return Statistics(
                kind=self.kind,
                weights=_as_tuple(weights),
                means=_as_tuple(rows[:, MEAN]),
                stds=_as_tuple(stds),
            )
        if self.kind == "min_max":
            return Statistics(
                kind=self.kind,
                weights=_as_tuple(weights),
                mins=_as_tuple(lows),
                maxes=_as_tuple(widen_constant(lows, highs)),
            )
        lower, upper = (
            np.array(
                [
                    self._quantile(low, high, row, level)
                    for low, high, row, level in zip(
                        lows, highs, rows, levels, strict=True
                    )
                ]
            )
            for levels in (self.lower_quantiles, self.upper_quantiles)
        )
        return Statistics(
            kind=self.kind,
            weights=_as_tuple(weights),
            lower_quantile_values=_as_tuple(lower),
            upper_quantile_values=_as_tuple(widen_constant(lower, upper)),
        )

    def _quantile(
        self, low: float, high: float, row: FloatArray, level: float
    ) -> float:
        if level <= 0.0:
            return low
        if level >= 1.0:
            return high
        offset = self.histogram.offset
        counts, n_pixels = row[HISTOGRAM:], float(row[COUNT])
        if offset is None:
            scale, start = int(row[SCALE]), int(row[START])
            return histogram_quantile(low, high, scale, start, counts, n_pixels, level)
        return exact_quantile(counts, offset, n_pixels, level)


@dataclass(frozen=True, slots=True, kw_only=True)
class NormalizationStatistics:
    """The statistics of a dataset's inputs and targets, as computed together.

    Attributes
    ----------
    inputs : Statistics or None
        The statistics of the inputs; ``None`` when they were not computed.
    targets : Statistics or None
        The statistics of the targets; ``None`` when they were not computed.

    Examples
    --------
    >>> NormalizationStatistics().inputs is None
    True
    """

    inputs: Statistics | None = None
    targets: Statistics | None = None
