"""Where patches come from, and the background filter's region weights.

Longer than 400 lines: the two figures (patch origins, filter maps) share the
grid-cell overlay and its legend, which are drawn by the same helpers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.colors import to_rgba

from careamics_dask.plot._grid import busiest_sample, plane_rows, sample_grid
from careamics_dask.plot._overview import read_overview, show_overview
from careamics_dask.plot._style import (
    EXCLUDED,
    LOW_WEIGHT,
    TRAINING,
    VALIDATION,
    ZERO_WEIGHT,
    new_figure,
)

if TYPE_CHECKING:
    import numpy.typing as npt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from careamics_dask.factory.dataset import CareamicsDataset
    from careamics_dask.plot._grid import SampleGrid
    from careamics_dask.plot._overview import Overview

__all__ = ["plot_filter_map", "plot_patch_origins", "rectangles"]

logger = logging.getLogger(__name__)


def rectangles(
    axis: Axes,
    starts: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
    *,
    color: str | list[Any],
    linewidth: float,
    alpha: float = 1.0,
    fill: str | list[Any] = "none",
    linestyle: str = "solid",
    label: str | None = None,
) -> Any:
    """Outline ``(y, x)`` rectangles as one artist (thousands stay fast).

    Parameters
    ----------
    axis : matplotlib.axes.Axes
        The axis, in image pixel coordinates.
    starts, sizes : numpy.ndarray
        ``(n, 2)`` corners and sizes.
    color : str or list
        One edge colour, or one per rectangle.
    linewidth : float
        Line width in points.
    alpha : float, default 1.0
        Opacity of the edges.
    fill : str or list, default "none"
        Face colour(s), with their own alpha (e.g. RGBA tuples).
    linestyle : str, default "solid"
        Edge line style.
    label : str, optional
        The legend label.

    Returns
    -------
    matplotlib.collections.PolyCollection
        The artist.
    """
    from matplotlib.collections import PolyCollection

    y0 = starts[:, 0] - 0.5
    x0 = starts[:, 1] - 0.5
    y1, x1 = y0 + sizes[:, 0], x0 + sizes[:, 1]
    corners = np.stack(
        [
            np.column_stack([x0, y0]),
            np.column_stack([x1, y0]),
            np.column_stack([x1, y1]),
            np.column_stack([x0, y1]),
        ],
        axis=1,
    )
    collection = PolyCollection(
        list(corners),
        facecolors=fill,
        edgecolors=[
            to_rgba(c, alpha) for c in ([color] if isinstance(color, str) else color)
        ],
        linewidths=linewidth,
        linestyles=linestyle,
        label=label,
    )
    axis.add_collection(collection)
    return collection


def _cells_overlay(grid: SampleGrid) -> npt.NDArray[np.float64]:
    """RGBA cells: held out in red, weight 0 in magenta, weighted down in blue."""
    overlay = np.zeros((*grid.weights.shape, 4))
    low = (grid.weights < 1) & (grid.weights > 0) & ~grid.excluded
    overlay[low] = to_rgba(LOW_WEIGHT, 0.35)
    overlay[(grid.weights <= 0) & ~grid.excluded] = to_rgba(ZERO_WEIGHT, 0.45)
    overlay[grid.excluded] = to_rgba(EXCLUDED, 0.4)
    return overlay


def _overview_for(
    dataset: CareamicsDataset,
    data_idx: int,
    sample_idx: int,
    channel: int,
    z: int | None,
    max_side: int,
    overview: Overview | None,
) -> Overview:
    if overview is not None:
        if overview.sample != sample_idx:
            raise ValueError(
                f"The overview shows another sample: expected sample {sample_idx}, "
                f"got {overview.sample}. Read it with read_overview(..., "
                f"sample={sample_idx})."
            )
        return overview
    stack = dataset.inputs.image_stacks[data_idx]
    if dataset.config.channels:
        channel = dataset.config.channels[channel]
    return read_overview(
        stack, sample=sample_idx, channel=channel, z=z, max_side=max_side
    )


def _legend(figure: Figure, entries: list[tuple[str, str, bool]]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [
        Patch(facecolor=to_rgba(color, 0.5), edgecolor=color, label=label)
        if filled
        else Line2D([], [], color=color, linewidth=1.5, label=label)
        for label, color, filled in entries
    ]
    figure.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)


def plot_patch_origins(
    train: CareamicsDataset,
    val: CareamicsDataset | None = None,
    *,
    data_idx: int | None = None,
    sample_idx: int | None = None,
    channel: int = 0,
    z: int | None = None,
    epochs: int = 1,
    overview: Overview | None = None,
    max_side: int = 1024,
) -> Figure:
    """Outline where training and validation patches come from, over one image.

    Training patches of ``epochs`` epochs are outlined in yellow, validation
    patches in cyan; for stratified patching, grid cells taken out of training
    for validation are shaded red, cells a background filter weighted down are
    tinted blue and cells of weight 0 (never drawn) are magenta. The image is a
    block-averaged overview of one channel (:func:`read_overview`): only that
    plane's chunks are read, and none when ``overview`` is given.

    Parameters
    ----------
    train : CareamicsDataset
        The training dataset.
    val : CareamicsDataset, optional
        The validation dataset over the same images.
    data_idx, sample_idx : int, optional
        The image shown; default: the one with the most validation patches.
    channel : int, default 0
        The channel shown (among the dataset's selected channels).
    z : int, optional
        The Z plane of 3-D data (default: the middle one); patches meeting it are
        drawn.
    epochs : int, default 1
        Training epochs whose patches are outlined.
    overview : Overview, optional
        A plane read before (by :func:`read_overview`), reused as is.
    max_side : int, default 1024
        Largest side of the overview read.

    Returns
    -------
    matplotlib.figure.Figure
        One axis, titled with the image and the patch counts, and a legend.

    Raises
    ------
    ValueError
        When ``overview`` shows another sample or ``epochs < 1``.

    Examples
    --------
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import create_val_split_datasets
    >>> from careamics_dask.factory import TrainValSplitData
    >>> config = DataConfig(mode="training", data_type="array", axes="SYX",
    ...     patching={"name": "stratified", "patch_size": [8, 8]},
    ...     normalization={"name": "none"}, seed=1)
    >>> images = np.random.default_rng(0).random((2, 32, 32), dtype=np.float32)
    >>> train, val = create_val_split_datasets(config,
    ...     TrainValSplitData(images, n_val_patches=2))
    >>> figure = plot_patch_origins(train, val)
    >>> len(figure.axes[0].collections)  # training, validation outlines
    2
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    val_table = val.patch_table(0) if val is not None else None
    if data_idx is None or sample_idx is None:
        best = busiest_sample(val_table)
        data_idx = best[0] if data_idx is None else data_idx
        sample_idx = best[1] if sample_idx is None else sample_idx
    shown = _overview_for(train, data_idx, sample_idx, channel, z, max_side, overview)
    figure = new_figure(8.5, 6.5)
    axis = figure.add_subplot()
    show_overview(axis, shown)
    legend: list[tuple[str, str, bool]] = []
    grid = sample_grid(train, data_idx, sample_idx, shown.z)
    if grid is not None and grid.weights.size:
        axis.imshow(_cells_overlay(grid), extent=grid.extent, interpolation="nearest")
        n_excluded = int(grid.excluded.sum())
        n_zero = int(((grid.weights <= 0) & ~grid.excluded).sum())
        n_low = int(((grid.weights > 0) & (grid.weights < 1) & ~grid.excluded).sum())
        if n_excluded:
            legend.append(
                (f"cells held out for validation ({n_excluded})", EXCLUDED, True)
            )
        if n_low:
            legend.append((f"cells weighted down ({n_low})", LOW_WEIGHT, True))
        if n_zero:
            legend.append(
                (f"cells of weight 0, never drawn ({n_zero})", ZERO_WEIGHT, True)
            )
    n_train = 0
    for epoch in range(epochs):
        table = train.patch_table(epoch)
        rows = plane_rows(table, data_idx, sample_idx, shown.z)
        starts, sizes = table.coords[rows][:, -2:], table.patch_size[rows][:, -2:]
        n_train += len(starts)
        rectangles(axis, starts, sizes, color=TRAINING, linewidth=0.6, alpha=0.7)
    legend.insert(
        0, (f"training patches ({n_train}, {epochs} epoch(s))", TRAINING, False)
    )
    n_val = 0
    if val_table is not None:
        rows = plane_rows(val_table, data_idx, sample_idx, shown.z)
        n_val = int(rows.sum())
        rectangles(
            axis,
            val_table.coords[rows][:, -2:],
            val_table.patch_size[rows][:, -2:],
            color=VALIDATION,
            linewidth=1.4,
        )
        legend.insert(1, (f"validation patches ({n_val})", VALIDATION, False))
    _legend(figure, legend)
    stack = f"image {data_idx}, " if len(train.input_shapes) > 1 else ""
    axis.set_title(
        f"Where patches come from: {stack}{shown.label} (1:{shown.scale})",
        fontsize=10,
    )
    logger.debug("drew %d training and %d validation patches", n_train, n_val)
    return figure


def plot_filter_map(
    dataset: CareamicsDataset,
    *,
    data_idx: int = 0,
    sample_idx: int = 0,
    channel: int | None = None,
    z: int | None = None,
    overview: Overview | None = None,
    show_image: bool = True,
    max_side: int = 1024,
) -> Figure:
    """Draw the background filter's region weights as an image, beside the image.

    Each stratified grid cell (one patch size) is coloured by its weight: how
    often it is drawn relative to a foreground cell (1), as set by the dataset's
    ``patch_filter``. Cells held out for validation are hatched. The weights are
    already in the patch table; only the image beside them is read (one
    block-averaged plane), and nothing with ``show_image=False``.

    Parameters
    ----------
    dataset : CareamicsDataset
        A dataset with stratified patching (a training dataset).
    data_idx, sample_idx : int, default 0
        The image shown.
    channel : int, optional
        The channel shown beside the map (default: the filter's reference channel).
    z : int, optional
        The Z plane of 3-D data (default: the middle one).
    overview : Overview, optional
        A plane read before, reused as is.
    show_image : bool, default True
        Draw the image beside the map.
    max_side : int, default 1024
        Largest side of the overview read.

    Returns
    -------
    matplotlib.figure.Figure
        The weight map (with a colour bar) and, by default, the image with the
        down-weighted cells shaded.

    Raises
    ------
    ValueError
        When the dataset's patching has no grid regions (not stratified).

    Examples
    --------
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import create_train_dataset, TrainValData
    >>> config = DataConfig(mode="training", data_type="array", axes="SYX",
    ...     patching={"name": "stratified", "patch_size": [8, 8]},
    ...     patch_filter={"name": "max", "threshold": 0.5},
    ...     normalization={"name": "none"}, seed=1)
    >>> images = np.zeros((1, 32, 32), "float32"); images[0, :16] = 1
    >>> train = create_train_dataset(config, TrainValData(images, None))
    >>> figure = plot_filter_map(train, show_image=False)
    >>> figure.axes[0].images[0].get_array().min()
    np.float64(0.1)
    """
    filter_config = dataset.config.patch_filter
    if channel is None:
        channel = int(getattr(filter_config, "ref_channel", 0) or 0)
    depth_z = z
    if dataset.input_shapes[data_idx][2:] and len(dataset.input_shapes[data_idx]) == 5:
        depth_z = int(dataset.input_shapes[data_idx][2]) // 2 if z is None else z
    grid = sample_grid(dataset, data_idx, sample_idx, depth_z)
    if grid is None:
        raise ValueError(
            "Filter maps show stratified grid regions: expected a dataset with "
            f"stratified patching, got {dataset.config.patching.name!r}. Draw the "
            "training dataset of create_train_dataset / create_val_split_datasets."
        )
    figure = new_figure(12.0 if show_image else 6.5, 5.5)
    axes: list[Axes] = list(
        figure.subplots(1, 2 if show_image else 1, squeeze=False)[0]
    )
    weights = np.ma.masked_array(grid.weights, grid.excluded)
    shown = axes[0].imshow(
        weights,
        cmap="viridis",
        vmin=0.0,
        vmax=1.0,
        extent=grid.extent,
        interpolation="nearest",
    )
    _hatch_excluded(axes[0], grid)
    colorbar = figure.colorbar(shown, ax=axes[0], fraction=0.046, pad=0.02)
    colorbar.set_label("region weight (relative sampling rate)", fontsize=8)
    axes[0].set_xlabel("X (pixels)", fontsize=8)
    axes[0].set_ylabel("Y (pixels)", fontsize=8)
    axes[0].tick_params(labelsize=7)
    n_low = int(((grid.weights < 1) & ~grid.excluded).sum())
    n_held = int(grid.excluded.sum())
    axes[0].set_title(
        f"{_describe_filter(filter_config)}\n{n_low} of {grid.weights.size} cells "
        "weighted down"
        + (f", {n_held} held out (hatched)" if n_held else "")
        + (f", z cell {grid.z_cell}" if grid.z_cell is not None else ""),
        fontsize=9,
    )
    if show_image:
        plane = _overview_for(
            dataset, data_idx, sample_idx, channel, depth_z, max_side, overview
        )
        show_overview(axes[1], plane)
        axes[1].imshow(
            _cells_overlay(grid), extent=grid.extent, interpolation="nearest"
        )
        axes[1].set_title(
            f"{plane.label} (1:{plane.scale}); weighted down in blue, held out in red",
            fontsize=9,
        )
    figure.suptitle(
        f"Background filter, image {data_idx}, sample {sample_idx}", fontsize=10
    )
    return figure


def _hatch_excluded(axis: Axes, grid: SampleGrid) -> None:
    from matplotlib.patches import Rectangle

    for gy, gx in np.argwhere(grid.excluded):
        axis.add_patch(
            Rectangle(
                (gx * grid.cell[1] - 0.5, gy * grid.cell[0] - 0.5),
                grid.cell[1],
                grid.cell[0],
                fill=False,
                hatch="///",
                edgecolor=EXCLUDED,
                linewidth=0.0,
                label="held out for validation",
            )
        )


def _describe_filter(config: Any) -> str:
    if config is None:
        return "no background filter: every cell weight 1"
    name = str(config.name)
    details = {
        "max": f"max < {getattr(config, 'threshold', '?')}",
        "mean_std": f"mean < {getattr(config, 'mean_threshold', '?')}"
        + (
            f" or std < {config.std_threshold}"
            if getattr(config, "std_threshold", None) is not None
            else ""
        ),
        "shannon": f"entropy < {getattr(config, 'threshold', '?')}",
        "mask": "outside the mask",
    }.get(name, name)
    return (
        f"{name} filter: {details} on channel {config.ref_channel}, "
        f"drawn with probability {config.filtered_patch_prob:g}"
    )
