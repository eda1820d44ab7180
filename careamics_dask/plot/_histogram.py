"""Intensity histograms from a bounded random sample of storage chunks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
from dask.base import compute

from careamics_dask.plot._style import channel_labels, new_figure

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt
    import xarray as xr
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from careamics_dask.factory.dataset import CareamicsDataset

__all__ = ["ChunkSample", "plot_histogram", "sample_chunks"]

logger = logging.getLogger(__name__)

_MARK = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkSample:
    """Pixels of randomly chosen chunks, per channel.

    Attributes
    ----------
    pixels : list of numpy.ndarray
        The sampled pixels of every channel (flat).
    n_chunks : int
        Chunks read.
    total_chunks : int
        Chunks of all the stacks.
    """

    pixels: list[npt.NDArray[np.float64]]
    n_chunks: int
    total_chunks: int


def sample_chunks(
    stacks: Sequence[xr.DataArray],
    channels: Sequence[int],
    *,
    max_pixels: int = 2**23,
    seed: int = 0,
) -> ChunkSample:
    """Read random whole chunks of some stacks until a pixel budget is spent.

    Chunks are drawn uniformly over every stack, sample and plane, in turn for
    each group of channels stored together, so every channel gets pixels; at
    least one chunk per group is read, however large.

    Parameters
    ----------
    stacks : sequence of xarray.DataArray
        Image stacks ``S C (Z) Y X``, Dask-backed (NumPy-backed ones are wrapped).
    channels : sequence of int
        The channels to keep, in this order.
    max_pixels : int, default 2**23
        Pixels read at most (besides the first chunk of each channel group).
    seed : int, default 0
        Seed of the draw.

    Returns
    -------
    ChunkSample
        The pixels, and how many chunks were read of how many.

    Examples
    --------
    >>> import dask.array as da, xarray as xr
    >>> stack = xr.DataArray(da.ones((4, 2, 64, 64), chunks=(1, 1, 32, 32)),
    ...                      dims=("S", "C", "Y", "X"))
    >>> sample = sample_chunks([stack], [1], max_pixels=3 * 32 * 32)
    >>> sample.n_chunks, sample.total_chunks, sample.pixels[0].size
    (3, 32, 3072)
    """
    import dask.array as da

    arrays: list[da.Array] = []
    blocks, sizes, groups = [], [], []
    total = 0
    for k, stack in enumerate(stacks):
        data: Any = stack.data
        array = data if isinstance(data, da.Array) else da.from_array(data)
        arrays.append(array)
        index = np.indices(array.numblocks).reshape(array.ndim, -1).T
        size = np.ones(len(index), np.int64)
        for axis, chunks in enumerate(array.chunks):
            size *= np.asarray(chunks, np.int64)[index[:, axis]]
        # only chunks that hold a wanted channel are candidates
        bounds = np.cumsum((0, *array.chunks[1]))
        wanted = np.array(
            [any(lo <= c < hi for c in channels) for lo, hi in pairwise(bounds)]
        )
        total += len(index)
        keep = wanted[index[:, 1]]
        blocks.append(np.column_stack([np.full(int(keep.sum()), k), index[keep]]))
        sizes.append(size[keep])
        groups.append(index[keep, 1])
    every = np.concatenate(blocks)
    size = np.concatenate(sizes)
    group = np.concatenate(groups)
    order = np.random.default_rng(seed).permutation(len(every))
    # one chunk of every channel group first, then chunks while the budget lasts
    _, firsts = np.unique(group[order], return_index=True)
    picked = np.zeros(len(every), bool)
    picked[order[firsts]] = True
    spent = int(size[picked].sum())
    rest = order[~picked[order]]
    within = spent + np.cumsum(size[rest]) <= max_pixels
    picked[rest[within]] = True
    chosen = np.flatnonzero(picked)
    values = compute(
        *[
            arrays[int(every[i, 0])].blocks[tuple(int(v) for v in every[i, 1:])]
            for i in chosen
        ]
    )
    per_channel: dict[int, list[npt.NDArray[np.float64]]] = {c: [] for c in channels}
    for i, block in zip(chosen, values, strict=True):
        array = arrays[int(every[i, 0])]
        start = int(sum(array.chunks[1][: int(every[i, 2])]))
        for offset in range(block.shape[1]):
            if start + offset in per_channel:
                per_channel[start + offset].append(
                    np.asarray(block[:, offset], np.float64).ravel()
                )
    pixels = [
        np.concatenate(per_channel[c]) if per_channel[c] else np.zeros(0)
        for c in channels
    ]
    logger.debug("sampled %d of %d chunks", len(chosen), total)
    return ChunkSample(pixels=pixels, n_chunks=len(chosen), total_chunks=total)


def _statistics(config: Any, target: bool) -> list[tuple[str, list[float]]]:
    """Return the normalization's values as ``(label, per-channel values)`` pairs."""
    side = "target" if target else "input"
    name = str(config.name)
    fields = {
        "mean_std": [("mean", f"{side}_means"), ("std", f"{side}_stds")],
        "min_max": [("min", f"{side}_mins"), ("max", f"{side}_maxes")],
        "quantile": [
            ("lower quantile", f"{side}_lower_quantile_values"),
            ("upper quantile", f"{side}_upper_quantile_values"),
        ],
    }.get(name, [])
    found = []
    for label, field in fields:
        values = getattr(config, field, None)
        if values is not None:
            found.append((label, [float(v) for v in values]))
    return found


def _per_channel(values: list[float], channel: int) -> float:
    return values[channel] if len(values) > 1 else values[0]


def _mark(axis: Axes, statistics: list[tuple[str, list[float]]], channel: int) -> None:
    named = {label: _per_channel(values, channel) for label, values in statistics}
    if "mean" in named and "std" in named:
        mean, std = named["mean"], named["std"]
        axis.axvspan(
            mean - std,
            mean + std,
            color=_MARK[1],
            alpha=0.15,
            label=f"mean ± std = {mean:.4g} ± {std:.4g}",
        )
        axis.axvline(mean, color=_MARK[0], linewidth=1.5, label=f"mean {mean:.4g}")
        return
    for i, (label, value) in enumerate(named.items()):
        axis.axvline(
            value,
            color=_MARK[i % len(_MARK)],
            linewidth=1.5,
            linestyle="--",
            label=f"{label} {value:.4g}",
        )


def plot_histogram(
    dataset: CareamicsDataset,
    *,
    target: bool = False,
    max_pixels: int = 2**23,
    bins: int = 256,
    seed: int = 0,
    log: bool = True,
) -> Figure:
    """Draw each channel's intensity histogram with the normalization marked.

    The histogram comes from a bounded random sample of whole storage chunks
    (:func:`sample_chunks`, at most ``max_pixels`` pixels), never from the whole
    data; the statistics marked are the dataset's (mean and one standard
    deviation, minimum and maximum, or the quantile values), in raw intensities.

    Parameters
    ----------
    dataset : CareamicsDataset
        The dataset; its selected channels are drawn.
    target : bool, default False
        Draw the targets and their statistics instead.
    max_pixels : int, default 2**23
        Pixels sampled at most (8 Mi: 16 MiB of ``uint16``).
    bins : int, default 256
        Histogram bins.
    seed : int, default 0
        Seed of the chunk draw.
    log : bool, default True
        Logarithmic counts.

    Returns
    -------
    matplotlib.figure.Figure
        One axis per channel, titled with the channel name.

    Raises
    ------
    ValueError
        When ``target`` is asked of a dataset without targets.

    Examples
    --------
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import create_train_dataset, TrainValData
    >>> config = DataConfig(mode="training", data_type="array", axes="SYX",
    ...     patching={"name": "random", "patch_size": [8, 8]},
    ...     normalization={"name": "mean_std"}, seed=1)
    >>> images = np.random.default_rng(0).random((2, 32, 32), dtype=np.float32)
    >>> train = create_train_dataset(config, TrainValData(images, None))
    >>> figure = plot_histogram(train)
    >>> figure.axes[0].get_title()
    'channel 0'
    """
    extractor = dataset.targets if target else dataset.inputs
    if extractor is None:
        raise ValueError(
            "This dataset has no targets: expected target=False. Build the dataset "
            "with target data to draw target histograms."
        )
    stacks = extractor.image_stacks
    n_channels = int(stacks[0].shape[1])
    channels = (
        list(dataset.config.channels)
        if dataset.config.channels and not target
        else list(range(n_channels))
    )
    sample = sample_chunks(stacks, channels, max_pixels=max_pixels, seed=seed)
    statistics = _statistics(dataset.config.normalization, target)
    names = channel_labels(stacks[0])
    figure = new_figure(4.2 * len(channels) + 0.5, 3.6)
    axes: Any = figure.subplots(1, len(channels), squeeze=False)[0]
    for i, (channel, pixels) in enumerate(zip(channels, sample.pixels, strict=True)):
        axis = axes[i]
        axis.hist(pixels, bins=bins, color="#555555", histtype="stepfilled", log=log)
        _mark(axis, statistics, i)
        axis.set_title(names[channel], fontsize=9)
        axis.set_xlabel("intensity", fontsize=8)
        axis.tick_params(labelsize=7)
        if statistics:
            axis.legend(fontsize=7, frameon=False)
    axes[0].set_ylabel("pixels" + (" (log)" if log else ""), fontsize=8)
    kind = "target" if target else "input"
    figure.suptitle(
        f"{kind} intensities: {sum(p.size for p in sample.pixels):,} pixels from "
        f"{sample.n_chunks} of {sample.total_chunks} chunks; "
        f"{dataset.config.normalization.name} normalization",
        fontsize=10,
    )
    return figure
