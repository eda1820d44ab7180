"""Check inputs of statistics reductions: kinds, quantile levels, stacks, weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import dask.array as da
import numpy as np
import numpy.typing as npt

from careamics_dask.graph.reading import source_blocks

if TYPE_CHECKING:
    from collections.abc import Sequence

    import xarray as xr

__all__ = [
    "NO_DATA_MESSAGE",
    "RegionWeights",
    "StatisticsKind",
    "check_kind",
    "resolve_levels",
    "stack_pixels",
]

StatisticsKind = Literal["mean_std", "min_max", "quantile"]
"""The statistics a reduction computes (the normalization names that need any)."""

NO_DATA_MESSAGE = "No patches found to compute mean/std statistics."
"""The reference's error for statistics over no data (all three kinds)."""

_DIMS = (("S", "C", "Y", "X"), ("S", "C", "Z", "Y", "X"))
_BLOCK_BYTES = 64 * 2**20
"""Float64 bytes per block when NumPy-backed stacks are cut into Dask blocks."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionWeights:
    """Sampling weights of a stack's grid cells (e.g. background-filter weights).

    A pixel's weight is the weight of the cell ``pixel // cell_size`` that holds it;
    pixels past the grid take the nearest cell. Weight 0 leaves pixels out. This
    approximates how often random patches drawn with these region weights cover
    each pixel (see :mod:`careamics_dask.graph.statistics` for the exact coverage).

    Attributes
    ----------
    values : numpy.ndarray
        ``(S, *grid_shape)`` non-negative finite weights, one grid per sample.
    cell_size : tuple of int
        Cell size along the spatial axes (the patch size).

    Examples
    --------
    >>> weights = RegionWeights(values=np.ones((1, 2, 2)), cell_size=(32, 32))
    >>> weights.values.shape, weights.cell_size
    ((1, 2, 2), (32, 32))
    """

    values: npt.NDArray[np.float64]
    cell_size: tuple[int, ...]


def check_kind(kind: str) -> StatisticsKind:
    """Return ``kind`` if it names statistics, else raise.

    Parameters
    ----------
    kind : str
        The kind to check.

    Returns
    -------
    str
        The same kind.

    Raises
    ------
    ValueError
        When it is not one of ``"mean_std"``, ``"min_max"``, ``"quantile"``.

    Examples
    --------
    >>> check_kind("quantile")
    'quantile'
    """
    kinds: tuple[StatisticsKind, ...] = get_args(StatisticsKind)
    for known in kinds:
        if kind == known:
            return known
    raise ValueError(
        f"Statistics kind unknown: expected one of {list(kinds)}, got {kind!r}. "
        "Normalization 'none' needs no statistics."
    )


def _broadcast_levels(
    name: str, levels: Sequence[float], per_channel: bool, n_channels: int
) -> tuple[float, ...]:
    values = tuple(float(level) for level in levels)
    if not per_channel:
        if len(values) != 1:
            raise ValueError(
                'Global statistics (`per_channel="False"`) must be provided as '
                f"single-element lists (got {list(values)})."
            )
        return values
    if len(values) == 1:
        return values * n_channels
    if len(values) != n_channels:
        raise ValueError(
            f"Number of {name} ({len(values)}) and number of channels ({n_channels}) "
            "do not match."
        )
    return values


def resolve_levels(
    kind: StatisticsKind,
    per_channel: bool,
    n_channels: int,
    lower: Sequence[float] | None,
    upper: Sequence[float] | None,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Check quantile levels and give one per result value (the reference's rule).

    Parameters
    ----------
    kind : str
        The statistics kind; levels matter for ``"quantile"`` only.
    per_channel : bool
        One result per channel (levels broadcast) or one pooled result.
    n_channels : int
        Number of selected channels.
    lower, upper : sequence of float or None
        Lower levels in ``[0, 1)`` and upper levels in ``(0, 1]``; ``None`` for
        0.01 and 0.99.

    Returns
    -------
    tuple of (tuple of float, tuple of float)
        Lower and upper levels, ``n_channels`` each (1 when pooled); empty unless
        ``kind == "quantile"``.

    Raises
    ------
    ValueError
        When a level is out of range, a lower level is not below its upper level,
        or the lists cannot be broadcast to the channels.

    Examples
    --------
    >>> resolve_levels("quantile", True, 2, [0.05], None)
    ((0.05, 0.05), (0.99, 0.99))
    """
    if kind != "quantile":
        return (), ()
    lows = _broadcast_levels(
        "lower_quantiles", [0.01] if lower is None else lower, per_channel, n_channels
    )
    highs = _broadcast_levels(
        "upper_quantiles", [0.99] if upper is None else upper, per_channel, n_channels
    )
    for index, (low, high) in enumerate(zip(lows, highs, strict=True)):
        if not 0.0 <= low < high <= 1.0:
            raise ValueError(
                f"Quantile levels invalid at index {index}: expected 0 <= lower < "
                f"upper <= 1, got lower {low} and upper {high}. Pick levels such as "
                "0.01 and 0.99."
            )
    return lows, highs


def _check_weights(
    weights: RegionWeights, stack: xr.DataArray, index: int
) -> RegionWeights:
    values = np.asarray(weights.values, dtype=np.float64)
    n_spatial = stack.ndim - 2
    cell_size = tuple(int(size) for size in weights.cell_size)
    if (
        values.ndim != n_spatial + 1
        or values.shape[0] != stack.shape[0]
        or 0 in values.shape
        or len(cell_size) != n_spatial
        or min(cell_size) < 1
    ):
        raise ValueError(
            f"Region weights do not match stack {index}: expected values of shape "
            f"({stack.shape[0]}, *grid) with {n_spatial} non-empty grid axes and "
            f"{n_spatial} positive cell sizes, got values {values.shape} and cell "
            f"size {cell_size}. Give one RegionWeights per stack, or None."
        )
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError(
            f"Region weights invalid for stack {index}: expected finite values >= 0, "
            f"got values from {np.min(values)} to {np.max(values)}."
        )
    return RegionWeights(values=values, cell_size=cell_size)


def _as_dask(stack: xr.DataArray) -> da.Array:
    data = stack.data
    if isinstance(data, da.Array):
        return data
    array = np.asarray(data)
    chunks = da.core.normalize_chunks(
        "auto", array.shape, limit=_BLOCK_BYTES, dtype=np.float64
    )
    wrapped: da.Array = da.from_array(array, chunks=chunks, name=False)
    return wrapped


def _check_stack(stack: xr.DataArray, index: int, ndim: int) -> None:
    dims = tuple(stack.dims)
    if dims not in _DIMS or len(dims) != ndim:
        expected = _DIMS[ndim - 4] if ndim in (4, 5) else " or ".join(map(str, _DIMS))
        raise ValueError(
            f"Stack {index} dims invalid: expected {expected} like stack 0, got "
            f"{dims}. Open stacks with careamics_dask.loaders."
        )


def stack_pixels(
    stacks: Sequence[xr.DataArray],
    channels: Sequence[int] | None,
    weights: Sequence[RegionWeights | None] | None,
) -> list[tuple[da.Array, RegionWeights | None]]:
    """Check stacks, channels and weights; return each stack's selected Dask pixels.

    Parameters
    ----------
    stacks : sequence of xarray.DataArray
        Canonical stacks, all 2-D or all 3-D.
    channels : sequence of int or None
        Channels to select, in order; all by default.
    weights : sequence of RegionWeights or None, or None
        One entry per stack, or ``None`` for uniform weights everywhere.

    Returns
    -------
    list of (dask.array.Array, RegionWeights or None)
        Lazy ``(S, C', *spatial)`` pixels with the selected channels, and weights.

    Raises
    ------
    ValueError
        With no stacks, dims that differ, channel counts that differ (no selection),
        channels out of range, or weights that do not match.

    Examples
    --------
    >>> import xarray as xr
    >>> stack = xr.DataArray(np.zeros((1, 3, 4, 4)), dims=list("SCYX"))
    >>> stack_pixels([stack], [2, 0], None)[0][0].shape
    (1, 2, 4, 4)
    """
    if len(stacks) == 0:
        raise ValueError(NO_DATA_MESSAGE)
    if weights is not None and len(weights) != len(stacks):
        raise ValueError(
            f"Region weights count invalid: expected one per stack ({len(stacks)}), "
            f"got {len(weights)}. Use None for stacks with uniform weights."
        )
    ndim = stacks[0].ndim
    counts = {int(stack.shape[1]) for stack in stacks}
    if channels is None and len(counts) > 1:
        raise ValueError(
            f"Stack channels differ: expected the same number of channels in every "
            f"stack, got {sorted(counts)}. Select common channels with `channels`."
        )
    selection = None if channels is None else [int(c) for c in channels]
    if selection is not None and (
        not selection or min(selection) < 0 or max(selection) >= min(counts)
    ):
        raise ValueError(
            f"Channel indices out of range: expected 0 <= channel < {min(counts)}, "
            f"got {selection}. Pick channels that every stack has."
        )
    result = []
    for index, stack in enumerate(stacks):
        _check_stack(stack, index, ndim)
        # a loader's stack: large blocks read from the source, one task each
        data = source_blocks(stack, selection)
        if data is None:
            data = _as_dask(stack)
            if selection is not None and selection != list(range(stack.shape[1])):
                data = data[:, selection]
        entry = None if weights is None else weights[index]
        checked = None if entry is None else _check_weights(entry, stack, index)
        result.append((data, checked))
    return result
