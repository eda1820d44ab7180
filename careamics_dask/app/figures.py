"""The demo figure: sample patches, and where training and validation patches lie."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from careamics_dask.app.figure_marks import scale_bar

if TYPE_CHECKING:
    from collections.abc import Sequence

    from careamics_dask.app.figure_marks import PixelSize
    from careamics_dask.factory.dataset import CareamicsDataset

__all__ = [
    "PatchOrigins",
    "find_patch_origins",
    "plot_demo_figure",
]

logger = logging.getLogger(__name__)

FIGURE_SIZE = (16.0, 10.0)
"""Inches; with :data:`DPI` the PNG is 1600 x 1000 pixels."""
DPI = 100
_CHANNEL_MAPS = ("magma", "viridis", "cividis", "inferno")


@dataclass(frozen=True, slots=True, kw_only=True)
class PatchOrigins:
    """Where one image's training and validation patches come from.

    Attributes
    ----------
    overview : numpy.ndarray
        The image's first channel, downsampled by ``scale``, ``(h, w)``.
    scale : int
        Downsampling factor of ``overview`` and ``coverage``.
    coverage : numpy.ndarray
        How many training patches of ``epochs`` epochs cover each pixel of the
        overview, ``(h, w)``.
    patch_size : tuple of int
        The ``(Y, X)`` patch size.
    val_starts : numpy.ndarray
        ``(m, 2)`` starts of the validation patches in the image.
    epochs : int
        Epochs summed in ``coverage``.
    data_idx, sample_idx : int
        Which image stack and sample this is.
    """

    overview: npt.NDArray[np.float32]
    scale: int
    coverage: npt.NDArray[np.int64]
    patch_size: tuple[int, int]
    val_starts: npt.NDArray[np.int64]
    epochs: int
    data_idx: int = 0
    sample_idx: int = 0

    @property
    def label(self) -> str:
        """Which image this is, e.g. ``"image 0, sample 3"``."""
        return f"image {self.data_idx}, sample {self.sample_idx}"


def _busiest_sample(val: CareamicsDataset | None) -> tuple[int, int]:
    """Return (data_idx, sample_idx) holding the most validation patches."""
    if val is None or len(val) == 0:
        return 0, 0
    table = val.patch_table(0)
    pairs, counts = np.unique(
        np.column_stack([table.data_idx, table.sample_idx]), axis=0, return_counts=True
    )
    best = pairs[int(np.argmax(counts))]
    return int(best[0]), int(best[1])


def find_patch_origins(
    train: CareamicsDataset,
    val: CareamicsDataset | None = None,
    *,
    epochs: int = 4,
    max_side: int = 1024,
) -> PatchOrigins:
    """Map the training patches of a few epochs and the validation patches.

    The image shown is the one holding the most validation patches. Only its first
    channel is read, downsampled to at most ``max_side`` pixels a side.

    Parameters
    ----------
    train : CareamicsDataset
        The training dataset (2-D patches).
    val : CareamicsDataset, optional
        The validation dataset over the same images.
    epochs : int, default 4
        Training epochs whose tables are summed.
    max_side : int, default 1024
        Largest side of the overview.

    Returns
    -------
    PatchOrigins
        The maps.

    Raises
    ------
    ValueError
        For 3-D patches.

    Examples
    --------
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import create_train_dataset, TrainValData
    >>> config = DataConfig(mode="training", data_type="array", axes="SYX",
    ...     patching={"name": "stratified", "patch_size": [8, 8]},
    ...     normalization={"name": "none"}, seed=1)
    >>> data = TrainValData(np.ones((2, 32, 32), "float32"), None)
    >>> origins = find_patch_origins(create_train_dataset(config, data), epochs=2)
    >>> origins.coverage.shape, int(origins.coverage.sum())  # 2 epochs x 32**2
    ((32, 32), 2048)
    """
    size = train.patch_table(0).patch_size
    if size.shape[1] != 2:
        raise ValueError(
            f"Patch origins are drawn for 2-D patches: expected 2 spatial axes, got "
            f"{size.shape[1]}. Pass a dataset of 2-D images."
        )
    data_idx, sample_idx = _busiest_sample(val)
    stack = train.inputs.image_stacks[data_idx]
    height, width = (int(v) for v in stack.shape[-2:])
    scale = max(1, -(-max(height, width) // max_side))
    shape = (-(-height // scale), -(-width // scale))
    # corners of every patch on the overview grid; two cumulative sums of the
    # +1/-1 corner marks count the patches over each pixel
    marks = np.zeros((shape[0] + 1, shape[1] + 1), np.int64)
    for epoch in range(epochs):
        table = train.patch_table(epoch)
        rows = (table.data_idx == data_idx) & (table.sample_idx == sample_idx)
        low = table.coords[rows] // scale
        high = -(-(table.coords[rows] + table.patch_size[rows]) // scale)
        np.add.at(marks, (low[:, 0], low[:, 1]), 1)
        np.add.at(marks, (low[:, 0], high[:, 1]), -1)
        np.add.at(marks, (high[:, 0], low[:, 1]), -1)
        np.add.at(marks, (high[:, 0], high[:, 1]), 1)
    coverage = marks.cumsum(0).cumsum(1)[: shape[0], : shape[1]]
    val_starts = np.zeros((0, 2), np.int64)
    if val is not None:
        table = val.patch_table(0)
        rows = (table.data_idx == data_idx) & (table.sample_idx == sample_idx)
        val_starts = np.asarray(table.coords[rows], np.int64)
    plane = stack.data[sample_idx, 0, ::scale, ::scale]
    overview = np.asarray(getattr(plane, "compute", lambda: plane)(), np.float32)
    return PatchOrigins(
        overview=overview,
        scale=scale,
        coverage=coverage,
        patch_size=(int(size[0, 0]), int(size[0, 1])),
        val_starts=val_starts,
        epochs=epochs,
        data_idx=data_idx,
        sample_idx=sample_idx,
    )


def _stretch(image: npt.NDArray[Any]) -> tuple[float, float]:
    low, high = np.percentile(image, [0.5, 99.8])
    return float(low), float(max(high, low + 1e-6))


def _outline(
    axis: Any, starts: npt.NDArray[np.int64], cell: Sequence[int], scale: float
) -> None:
    from matplotlib.patches import Rectangle

    for y, x in starts:
        axis.add_patch(
            Rectangle(
                (x / scale - 0.5, y / scale - 0.5),
                cell[1] / scale,
                cell[0] / scale,
                fill=False,
                edgecolor="#00e5ff",
                linewidth=1.2,
            )
        )


def _patch_rows(
    figure: Any,
    area: Any,
    rows: list[tuple[str, npt.NDArray[np.float32], str]],
    labels: Sequence[str],
    pixel: PixelSize | None,
) -> None:
    columns = len(labels)
    grid = area.subgridspec(
        len(rows),
        columns + 1,
        wspace=0.05,
        hspace=0.12,
        width_ratios=[1.0] * columns + [0.08],
    )
    for r, (name, images, cmap) in enumerate(rows):
        low, high = _stretch(images)  # one scale per row: empty patches look empty
        shown: Any = None
        for c, label in enumerate(labels):
            axis = figure.add_subplot(grid[r, c])
            shown = axis.imshow(images[c], cmap=cmap, vmin=low, vmax=high)
            axis.set_xticks([])
            axis.set_yticks([])
            if r == 0:
                axis.set_title(label, fontsize=8)
            if c == 0:
                axis.set_ylabel(name, fontsize=9)
                if pixel is not None and r == 0:
                    scale_bar(axis, pixel, float(images.shape[-1]))
        colorbar = figure.colorbar(shown, cax=figure.add_subplot(grid[r, columns]))
        colorbar.ax.tick_params(labelsize=7)
        colorbar.set_label("normalized", fontsize=7)


def _notes(figure: Any, area: Any, notes: Sequence[str]) -> None:
    axis = figure.add_subplot(area)
    axis.axis("off")
    text = "\n\n".join(notes)
    axis.text(0.0, 1.0, text, va="top", ha="left", fontsize=10, wrap=True)


def _origin_maps(
    figure: Any,
    area: Any,
    origins: PatchOrigins,
    notes: Sequence[str],
    pixel: PixelSize | None,
) -> None:
    left, right, aside = area.subgridspec(
        1, 3, wspace=0.12, width_ratios=[1.0, 1.15, 0.85]
    )
    _notes(figure, aside, notes)
    axis = figure.add_subplot(left)
    low, high = _stretch(origins.overview)
    image = axis.imshow(origins.overview, cmap="gray", vmin=low, vmax=high)
    _outline(axis, origins.val_starts, origins.patch_size, origins.scale)
    if pixel is not None:
        width = float(origins.overview.shape[-1])
        scale_bar(axis, pixel, width, scale=origins.scale)
    intensity = figure.colorbar(image, ax=axis, fraction=0.046, pad=0.02)
    intensity.set_label("intensity (counts)", fontsize=9)
    axis.set_title(
        f"{origins.label}, channel 0 (1:{origins.scale}),\n"
        f"{len(origins.val_starts)} validation patches outlined",
        fontsize=10,
    )
    axis.set_xticks([])
    axis.set_yticks([])
    axis = figure.add_subplot(right)
    shown = axis.imshow(origins.coverage, cmap="viridis", interpolation="nearest")
    _outline(axis, origins.val_starts, origins.patch_size, origins.scale)
    axis.set_title(
        f"training patches covering each pixel, {origins.epochs} epochs: "
        "background drawn rarely,\nvalidation patches (outlined) never",
        fontsize=10,
    )
    axis.set_xticks([])
    axis.set_yticks([])
    colorbar = figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.02)
    colorbar.set_label("training patches", fontsize=9)


def plot_demo_figure(
    path: str | Path,
    *,
    inputs: npt.NDArray[np.float32],
    labels: Sequence[str],
    channel_names: Sequence[str],
    origins: PatchOrigins,
    title: str,
    targets: npt.NDArray[np.float32] | None = None,
    notes: Sequence[str] = (),
    pixel: PixelSize | None = None,
) -> Path:
    """Draw sample patches and the patch-origin maps into a PNG.

    Every image has an intensity colorbar (one per row of patches, in normalized
    units; counts for the overview) and, given ``pixel``, a scale bar.

    Parameters
    ----------
    path : str or pathlib.Path
        The PNG to write (1600 x 1000 pixels).
    inputs : numpy.ndarray
        ``(n, C, Y, X)`` input patches to show, one column each.
    labels : sequence of str
        One label per patch (e.g. where it comes from).
    channel_names : sequence of str
        Names of the input channels.
    origins : PatchOrigins
        The maps of :func:`find_patch_origins`.
    title : str
        The figure's title.
    targets : numpy.ndarray, optional
        ``(n, C', Y, X)`` target patches, drawn under the inputs.
    notes : sequence of str, default ()
        Paragraphs printed beside the maps (what was run, and how fast).
    pixel : PixelSize, optional
        The pixel size: the patches and the overview get scale bars.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        When ``labels`` and ``inputs`` disagree in length.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> origins = PatchOrigins(overview=np.ones((8, 8), np.float32), scale=1,
    ...     coverage=np.ones((8, 8), np.int64), patch_size=(4, 4),
    ...     val_starts=np.array([[0, 4]]), epochs=1)
    >>> out = plot_demo_figure(pathlib.Path(tempfile.mkdtemp()) / "f.png",
    ...     inputs=np.ones((2, 1, 4, 4), np.float32), labels=["a", "b"],
    ...     channel_names=["c0"], origins=origins, title="demo")
    >>> out.read_bytes()[1:4]
    b'PNG'
    """
    import matplotlib as mpl

    mpl.use("Agg", force=False)
    from matplotlib.figure import Figure

    if len(labels) != len(inputs):
        raise ValueError(
            f"Patch labels must match the patches: expected {len(inputs)} labels, "
            f"got {len(labels)}."
        )
    rows = [
        (f"input: {name}", inputs[:, c], _CHANNEL_MAPS[c % len(_CHANNEL_MAPS)])
        for c, name in enumerate(channel_names)
    ]
    if targets is not None:
        rows += [
            (f"target {c}", targets[:, c], "gray") for c in range(targets.shape[1])
        ]
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    outer = figure.add_gridspec(
        2,
        1,
        height_ratios=[0.9, 1.6],
        hspace=0.18,
        left=0.04,
        right=0.97,
        top=0.9,
        bottom=0.03,
    )
    _patch_rows(figure, outer[0], rows, labels, pixel)
    _origin_maps(figure, outer[1], origins, notes, pixel)
    figure.suptitle(title, fontsize=12)
    target = Path(path)
    figure.savefig(target, dpi=DPI)
    logger.info("wrote the demo figure to %s", target)
    return target
