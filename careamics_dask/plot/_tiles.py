"""The tile layout of tiled prediction, and images side by side."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.colors import to_rgba

from careamics_dask.plot._grid import plane_rows
from careamics_dask.plot._maps import rectangles
from careamics_dask.plot._overview import Overview, read_overview, show_overview
from careamics_dask.plot._style import bare, new_figure

if TYPE_CHECKING:
    from collections.abc import Mapping

    import xarray as xr
    from matplotlib.figure import Figure

    from careamics_dask.factory.dataset import CareamicsDataset

__all__ = ["plot_images", "plot_tile_layout"]

logger = logging.getLogger(__name__)

_TILE_COLOURS = ("#ffd400", "#00e5ff", "#ff7f0e", "#d63bff")
"""Tiles alternate by row and column parity, so neighbours differ."""


def plot_tile_layout(
    dataset: CareamicsDataset,
    *,
    data_idx: int = 0,
    sample_idx: int = 0,
    channel: int = 0,
    z: int | None = None,
    overview: Overview | None = None,
    show_image: bool = True,
    max_side: int = 1024,
) -> Figure:
    """Draw how a prediction dataset tiles an image, and where each crop is stitched.

    Tiles are shaded in four alternating colours (neighbours differ, so their
    overlaps show); the dashed white grid is where the kept crops meet in the
    stitched output. Tiles come from the patch table; only the image under them is
    read (one block-averaged plane), and nothing with ``show_image=False``.

    Parameters
    ----------
    dataset : CareamicsDataset
        A prediction dataset with tiled patching (``create_pred_dataset``).
    data_idx, sample_idx : int, default 0
        The image shown.
    channel : int, default 0
        The channel under the tiles.
    z : int, optional
        The Z plane of 3-D data (default: the middle one).
    overview : Overview, optional
        A plane read before, reused as is.
    show_image : bool, default True
        Draw the image under the tiles.
    max_side : int, default 1024
        Largest side of the overview read.

    Returns
    -------
    matplotlib.figure.Figure
        One axis titled with the tile count, tile size and overlap.

    Raises
    ------
    ValueError
        When the dataset is not tiled.

    Examples
    --------
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import PredData, create_pred_dataset
    >>> config = DataConfig(mode="predicting", data_type="array", axes="YX",
    ...     patching={"name": "tiled", "patch_size": [16, 16], "overlaps": [4, 4]},
    ...     normalization={"name": "none"})
    >>> dataset = create_pred_dataset(config, PredData(np.ones((40, 30), "float32")))
    >>> plot_tile_layout(dataset).axes[0].get_title()
    '9 tiles of 16x16 px, overlap 4x4 px; crops meet on the dashed lines'
    """
    table = dataset.patch_table(0)
    if not table.is_tiled or table.stitch_coords is None or table.crop_size is None:
        raise ValueError(
            "Tile layouts are drawn for tiled prediction: expected a dataset with "
            f"tiled patching, got {dataset.config.patching.name!r}. Build it with "
            "create_pred_dataset and patching={'name': 'tiled', ...}."
        )
    shape = dataset.input_shapes[data_idx]
    if len(shape) == 5 and z is None:
        z = int(shape[2]) // 2
    figure = new_figure(8.0, 7.0)
    axis = figure.add_subplot()
    height, width = int(shape[-2]), int(shape[-1])
    if show_image:
        plane = overview or read_overview(
            dataset.inputs.image_stacks[data_idx],
            sample=sample_idx,
            channel=(dataset.config.channels or [channel])[0]
            if dataset.config.channels
            else channel,
            z=z,
            max_side=max_side,
        )
        show_overview(axis, plane)
    else:
        axis.set_facecolor("#202020")
        axis.set_xlim(-0.5, width - 0.5)
        axis.set_ylim(height - 0.5, -0.5)
        axis.set_aspect("equal")
    rows = plane_rows(table, data_idx, sample_idx, z)
    starts = table.coords[rows][:, -2:]
    sizes = table.patch_size[rows][:, -2:]
    # parity of the tile's rank along Y and X picks its colour; translucent
    # faces add up where tiles overlap
    ranks = [np.unique(starts[:, a], return_inverse=True)[1] for a in (0, 1)]
    colours = [
        _TILE_COLOURS[int(2 * (ry % 2) + rx % 2)] for ry, rx in zip(*ranks, strict=True)
    ]
    rectangles(
        axis,
        starts,
        sizes,
        color=colours,
        fill=[to_rgba(c, 0.16) for c in colours],
        linewidth=1.0,
        alpha=0.9,
    )
    stitch = table.stitch_coords[rows][:, -2:]
    crops = table.crop_size[rows][:, -2:]
    rectangles(axis, stitch, crops, color="#ffffff", linewidth=0.9, linestyle="--")
    overlaps = getattr(dataset.config.patching, "overlaps", None) or []
    size = (
        "x".join(str(int(v)) for v in table.patch_size[0][-2:]) if len(table) else "-"
    )
    overlap = "x".join(str(int(v)) for v in overlaps[-2:]) or "0"
    axis.set_title(
        f"{int(rows.sum())} tiles of {size} px, overlap {overlap} px; "
        "crops meet on the dashed lines",
        fontsize=10,
    )
    return figure


def plot_images(
    images: Mapping[str, xr.DataArray | Overview],
    *,
    sample: int = 0,
    channel: int = 0,
    z: int | None = None,
    max_side: int = 1024,
    cmap: str = "gray",
) -> Figure:
    """Draw planes of several stacks side by side (e.g. an input and its prediction).

    Each stack gives one block-averaged plane (:func:`read_overview`): only that
    plane's chunks are read. Each panel has its own contrast.

    Parameters
    ----------
    images : mapping of str to xarray.DataArray or Overview
        Titles and stacks (``S C (Z) Y X``, e.g. from
        :func:`~careamics_dask.open_image`) or planes read before.
    sample, channel : int, default 0
        The plane of every stack.
    z : int, optional
        The Z plane of 3-D stacks (default: the middle one).
    max_side : int, default 1024
        Largest side of each overview.
    cmap : str, default "gray"
        The colour map.

    Returns
    -------
    matplotlib.figure.Figure
        One axis per image, titled with its name and plane.

    Raises
    ------
    ValueError
        When ``images`` is empty.

    Examples
    --------
    >>> import xarray as xr
    >>> stack = xr.DataArray(np.ones((1, 1, 20, 20)), dims=("S", "C", "Y", "X"))
    >>> figure = plot_images({"input": stack, "output": stack})
    >>> [axis.get_title().splitlines()[0] for axis in figure.axes]
    ['input', 'output']
    """
    if not images:
        raise ValueError("No image to draw: expected at least one named stack.")
    figure = new_figure(5.0 * len(images), 5.2)
    axes: Any = figure.subplots(1, len(images), squeeze=False)[0]
    for axis, (name, image) in zip(axes, images.items(), strict=True):
        plane = (
            image
            if isinstance(image, Overview)
            else read_overview(
                image, sample=sample, channel=channel, z=z, max_side=max_side
            )
        )
        show_overview(axis, plane, cmap=cmap)
        bare(axis)
        axis.set_xlabel("")
        axis.set_ylabel("")
        axis.set_title(f"{name}\n{plane.label} (1:{plane.scale})", fontsize=9)
    return figure
