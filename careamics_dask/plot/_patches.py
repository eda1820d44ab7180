"""A grid of sampled patches: input channels above target channels, one column each."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.graph.batch import Batch
from careamics_dask.plot._style import (
    CHANNEL_MAPS,
    bare,
    channel_labels,
    new_figure,
    stretch,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt
    from matplotlib.figure import Figure

    from careamics_dask.factory.dataset import CareamicsDataset
    from careamics_dask.patching import PatchTable

__all__ = ["plot_patches"]

logger = logging.getLogger(__name__)


def _channel_names(dataset: CareamicsDataset, *, target: bool) -> list[str]:
    extractor = dataset.targets if target else dataset.inputs
    if extractor is None:
        return []
    stack = extractor.image_stacks[0]
    names = channel_labels(stack)
    if not target and dataset.config.channels:
        names = [names[c] for c in dataset.config.channels]
    return names


def _choose(
    dataset: CareamicsDataset, n: int, seed: int | None
) -> npt.NDArray[np.int64]:
    total = len(dataset)
    n = min(n, total)
    if seed is None:  # evenly spread over the epoch, so every image shows
        return np.unique(np.linspace(0, total - 1, n).round().astype(np.int64))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=n, replace=False)).astype(np.int64)


def _labels(rows: PatchTable, many_stacks: bool) -> list[str]:
    labels = []
    for i in range(len(rows)):
        where = " ".join(
            f"{axis}{int(v)}"
            for axis, v in zip("zyx"[-rows.ndim :], rows.coords[i], strict=True)
        )
        stack = f"#{int(rows.data_idx[i])} " if many_stacks else ""
        labels.append(f"{stack}s{int(rows.sample_idx[i])} {where}")
    return labels


def _planes(patches: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``(n, C, Y, X)`` images of 2-D patches, middle Z planes of 3-D ones."""
    if patches.ndim == 5:
        return patches[:, :, patches.shape[2] // 2]
    return patches


def plot_patches(
    source: CareamicsDataset | Batch,
    *,
    indices: Sequence[int] | None = None,
    n: int = 8,
    epoch: int = 0,
    seed: int | None = None,
    channel_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Draw patches as a grid: one column per patch, input rows above target rows.

    Given a dataset, exactly the patches shown are built (read, normalized and
    augmented, as a batch task would), in this process; given a
    :class:`~careamics_dask.Batch` (e.g. from a stream), nothing is read. Each
    row has one contrast (0.5-99.8 percentiles of the row), so a dim patch looks
    dim. 3-D patches show their middle Z plane.

    Parameters
    ----------
    source : CareamicsDataset or Batch
        Where the patches come from.
    indices : sequence of int, optional
        Dataset indices (or rows of the batch) to show; default ``n`` of them,
        spread evenly (or drawn with ``seed``).
    n : int, default 8
        Patches shown when ``indices`` is not given.
    epoch : int, default 0
        The epoch whose patch table (and augmentations) a dataset uses.
    seed : int, optional
        Draw the patches at random with this seed instead of spreading them.
    channel_names : sequence of str, optional
        Names of the input channels (default: the stack's ``C`` coordinate, for a
        dataset; ``channel c`` for a batch).
    title : str, optional
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        One axis per patch and channel, titled with where the patch comes from.

    Raises
    ------
    ValueError
        When there is no patch to show or an index is out of range.

    Examples
    --------
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import create_dataset
    >>> config = DataConfig(mode="validating", data_type="array", axes="SYX",
    ...     patching={"name": "fixed_random", "patch_size": [8, 8]},
    ...     normalization={"name": "none"}, seed=1)
    >>> dataset = create_dataset(config, np.ones((2, 16, 16), "float32"), None)
    >>> figure = plot_patches(dataset, n=3)
    >>> len(figure.axes), figure.axes[0].get_ylabel()
    (3, 'input: channel 0')
    """
    if isinstance(source, Batch):
        chosen = np.arange(len(source)) if indices is None else np.asarray(indices)
        if chosen.size and not (chosen.min() >= 0 and chosen.max() < len(source)):
            raise ValueError(
                f"Patch rows out of range: expected 0 <= index < {len(source)}, got "
                f"{chosen.tolist()}."
            )
        chosen = chosen[:n] if indices is None else chosen
        rows = source.specs.take(chosen)
        inputs = source.input[chosen]
        targets = source.target[chosen] if source.target is not None else None
        names = list(channel_names or [f"channel {c}" for c in range(inputs.shape[1])])
        target_names = (
            [f"channel {c}" for c in range(targets.shape[1])]
            if (targets is not None)
            else []
        )
    else:
        from careamics_dask.graph.batch import build_batch

        dataset = source
        if len(dataset) == 0:
            raise ValueError("The dataset has no patches to show: expected at least 1.")
        chosen = (
            _choose(dataset, n, seed)
            if indices is None
            else np.asarray(indices, dtype=np.int64)
        )
        if chosen.size and not (chosen.min() >= 0 and chosen.max() < len(dataset)):
            raise ValueError(
                f"Patch indices out of range: expected 0 <= index < {len(dataset)}, "
                f"got {chosen.tolist()}."
            )
        rows = dataset.patch_table(epoch).take(chosen)
        inputs, targets = build_batch(dataset.plan, rows, chosen, epoch)
        names = list(channel_names or _channel_names(dataset, target=False))
        target_names = _channel_names(dataset, target=True)
        logger.debug("built %d patches to plot", len(chosen))
    if len(chosen) == 0:
        raise ValueError("No patch to show: expected at least one index.")
    many = len(np.unique(rows.data_idx)) > 1
    grid: list[tuple[str, npt.NDArray[np.float32], str]] = [
        (f"input: {name}", _planes(inputs)[:, c], CHANNEL_MAPS[c % len(CHANNEL_MAPS)])
        for c, name in enumerate(names)
    ]
    if targets is not None:
        grid += [
            (f"target: {name}", _planes(targets)[:, c], "gray")
            for c, name in enumerate(target_names)
        ]
    return _draw(grid, _labels(rows, many), title)


def _draw(
    grid: list[tuple[str, npt.NDArray[np.float32], str]],
    labels: list[str],
    title: str | None,
) -> Figure:
    columns = len(labels)
    figure = new_figure(1.5 * columns + 0.6, 1.6 * len(grid) + (0.4 if title else 0))
    axes: Any = figure.subplots(len(grid), columns, squeeze=False)
    for r, (name, images, cmap) in enumerate(grid):
        low, high = stretch(images)
        for c, label in enumerate(labels):
            axis = axes[r, c]
            axis.imshow(images[c], cmap=cmap, vmin=low, vmax=high)
            bare(axis)
            if r == 0:
                axis.set_title(label, fontsize=8)
            if c == 0:
                axis.set_ylabel(name, fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure
