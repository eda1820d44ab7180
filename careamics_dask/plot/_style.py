"""Shared drawing helpers: figures without pyplot, contrast stretch, colours."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt
    import xarray as xr
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


__all__ = [
    "TRAINING",
    "VALIDATION",
    "bare",
    "channel_labels",
    "new_figure",
    "stretch",
]

TRAINING = "#ffd400"
"""Training patches (yellow)."""
VALIDATION = "#00e5ff"
"""Validation patches (cyan)."""
EXCLUDED = "#ff3b30"
"""Grid cells excluded from training (red)."""
LOW_WEIGHT = "#3d6bff"
"""Grid cells a background filter weighted down (blue)."""
ZERO_WEIGHT = "#d63bff"
"""Grid cells of weight 0 (magenta)."""
CHANNEL_MAPS = ("magma", "viridis", "cividis", "inferno")
"""Colour maps of input channels, in turn."""


def new_figure(width: float, height: float) -> Figure:
    """Return a figure that belongs to no pyplot state (nothing to close).

    Parameters
    ----------
    width, height : float
        Size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        A figure with a constrained layout.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def stretch(image: npt.NDArray[Any]) -> tuple[float, float]:
    """Return display limits: the 0.5 and 99.8 percentiles of the finite pixels.

    Parameters
    ----------
    image : numpy.ndarray
        Any pixels.

    Returns
    -------
    tuple of float
        ``(low, high)`` with ``high > low``.

    Examples
    --------
    >>> stretch(np.arange(1001.0))
    (5.0, 998.0)
    >>> stretch(np.zeros(4))
    (0.0, 1e-06)
    """
    finite = np.asarray(image, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(finite, [0.5, 99.8])
    return float(low), float(max(high, low + 1e-6))


def channel_labels(stack: xr.DataArray) -> list[str]:
    """Return the names of a stack's channels (``channel c`` where unnamed).

    Parameters
    ----------
    stack : xarray.DataArray
        An image stack ``S C (Z) Y X``.

    Returns
    -------
    list of str
        One name per channel; numeric labels become ``channel <label>``.

    Examples
    --------
    >>> import xarray as xr
    >>> stack = xr.DataArray(np.ones((1, 2, 2, 2)), dims=("S", "C", "Y", "X"),
    ...                      coords={"C": ["0", "dapi"]})
    >>> channel_labels(stack)
    ['channel 0', 'dapi']
    """
    if "C" not in stack.coords:
        return [f"channel {c}" for c in range(int(stack.shape[1]))]
    names = [str(v) for v in stack.coords["C"].values]
    return [f"channel {name}" if name.isdigit() else name for name in names]


def bare(axis: Axes) -> None:
    """Remove an image axis's ticks (keep its frame and labels).

    Parameters
    ----------
    axis : matplotlib.axes.Axes
        The axis.
    """
    axis.set_xticks([])
    axis.set_yticks([])
