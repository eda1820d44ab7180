"""Marks on the demo's images: scale bars from the pixel size."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PixelSize", "scale_bar"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class PixelSize:
    """The physical size of one pixel, for scale bars.

    Attributes
    ----------
    size : float
        Size of one pixel along X, in ``unit``.
    unit : str
        The unit, e.g. ``"micrometer"`` (drawn as ``µm``).
    """

    size: float
    unit: str

    @property
    def symbol(self) -> str:
        """The unit's short form (``µm`` for micrometer)."""
        short = {"micrometer": "µm", "nanometer": "nm", "millimeter": "mm"}
        return short.get(self.unit, self.unit)


def _nice_length(limit: float) -> float:
    """Return 1, 2 or 5 times a power of ten, at most ``limit`` (and > 0)."""
    if limit <= 0:
        return 0.0
    power = 10.0 ** np.floor(np.log10(limit))
    return float(max(m for m in (1.0, 2.0, 5.0) if m * power <= limit) * power)


def scale_bar(axis: Any, pixel: PixelSize, width_px: float, *, scale: int = 1) -> float:
    """Draw a scale bar of a round length (about a quarter of the width).

    Parameters
    ----------
    axis : matplotlib.axes.Axes
        An image axis (pixel coordinates).
    pixel : PixelSize
        The size of one image pixel.
    width_px : float
        The width of what is shown, in displayed pixels.
    scale : int, default 1
        Image pixels per displayed pixel (downsampled overviews).

    Returns
    -------
    float
        The bar's length in ``pixel.unit`` (0 when none fits).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from matplotlib.figure import Figure
    >>> axis = Figure().add_subplot()
    >>> _ = axis.imshow(np.zeros((64, 64)))
    >>> scale_bar(axis, PixelSize(size=0.1, unit="micrometer"), 64.0)
    1.0
    """
    from matplotlib.patches import Rectangle

    per_shown = pixel.size * scale
    length = _nice_length(0.3 * width_px * per_shown)
    if length == 0:
        return 0.0
    bar = length / per_shown
    x0, y0 = 0.06 * width_px, 0.9 * width_px
    axis.add_patch(
        Rectangle((x0, y0), bar, 0.03 * width_px, color="white", linewidth=0)
    )
    axis.text(
        x0 + bar / 2,
        y0 - 0.02 * width_px,
        f"{length:g} {pixel.symbol}",
        color="white",
        ha="center",
        va="bottom",
        fontsize=7,
    )
    return length
