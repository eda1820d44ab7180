"""Patch grids: a row per channel, inputs beside targets, only the chunks under them read."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

import careamics_dask as cd
from careamics_dask.plot import (
    plot_patches,
)
from careamics_dask.testing import count_region_reads, raise_if_dask_computes
from tests.plot.helpers import TOTAL_CHUNKS, pixels

if TYPE_CHECKING:
    from careamics_dask.factory.dataset import CareamicsDataset


def test_patches_grid_has_a_row_per_channel_and_a_column_per_patch(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, _ = datasets
    figure = plot_patches(train, indices=[0, 5, 9], title="three")
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 2 * 3
    assert [a.get_ylabel() for a in figure.axes[::3]] == [
        "input: nuclei",
        "input: puncta",
    ]
    table = train.patch_table(0)
    y, x = table.coords[5]
    assert figure.axes[1].get_title() == f"s{table.sample_idx[5]} y{y} x{x}"
    assert all(len(a.images) == 1 for a in figure.axes)
    assert pixels(figure.axes[0]).shape == (64, 64)
    assert figure.get_suptitle() == "three"


def test_patches_of_a_batch_show_inputs_beside_targets() -> None:
    config = cd.DataConfig(
        mode="training",
        data_type="array",
        axes="SYX",
        patching={"name": "random", "patch_size": [8, 8]},
        normalization={"name": "none"},
        batch_size=4,
        seed=1,
    )
    images = np.random.default_rng(0).random((2, 32, 32), dtype=np.float32)
    train = cd.create_train_dataset(config, cd.TrainValData(images, None, images * 2))
    batch = train.batch(0)
    with raise_if_dask_computes():
        figure = plot_patches(batch, n=3)
    assert [a.get_ylabel() for a in figure.axes[::3]] == [
        "input: channel 0",
        "target: channel 0",
    ]
    assert batch.target is not None
    np.testing.assert_array_equal(pixels(figure.axes[3 + 1]), batch.target[1, 0])


def test_patches_read_only_the_chunks_under_them(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, _ = datasets
    table = train.patch_table(0)
    chunks = set()
    for row in (0, 7):
        y, x = table.coords[row]
        for cy in range(y // 128, (y + 63) // 128 + 1):
            for cx in range(x // 128, (x + 63) // 128 + 1):
                chunks.add((table.sample_idx[row], cy, cx))
    with count_region_reads() as reads:
        plot_patches(train, indices=[0, 7])
    # the dataset keeps channels 0 and 2 (chunks hold one channel each): each chunk
    # under a patch is read once per kept channel, nothing else
    assert reads.count == 2 * len(chunks)
    assert reads.count < TOTAL_CHUNKS // 10
