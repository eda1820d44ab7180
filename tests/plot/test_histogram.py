"""Histograms from a bounded sample of chunks, statistics marked."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dask
import numpy as np
import pytest

import careamics_dask as cd
from careamics_dask.plot import (
    plot_histogram,
    sample_chunks,
)
from careamics_dask.testing import count_region_reads
from tests.plot.helpers import TOTAL_CHUNKS, titles

if TYPE_CHECKING:
    from pathlib import Path

    from careamics_dask.factory.dataset import CareamicsDataset


def test_histogram_marks_the_statistics(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, _ = datasets
    figure = plot_histogram(train, max_pixels=8 * 128 * 128)
    assert titles(figure) == ["nuclei", "puncta"]
    means = train.config.normalization.input_means  # type: ignore[union-attr]
    assert means is not None
    for axis, mean in zip(figure.axes, means, strict=True):
        lines = [
            line
            for line in axis.get_lines()
            if str(line.get_label()).startswith("mean")
        ]
        starts = [float(np.asarray(line.get_xdata())[0]) for line in lines]
        assert starts == [pytest.approx(mean)]
    assert f"from 8 of {TOTAL_CHUNKS} chunks" in figure.get_suptitle()


def test_histogram_reads_a_bounded_sample(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, _ = datasets
    with count_region_reads() as reads, dask.config.set(scheduler="sync"):
        figure = plot_histogram(train, max_pixels=10 * 128 * 128)
    assert reads.count == 10
    assert "from 10 of" in figure.get_suptitle()


def test_chunk_sample_covers_every_channel_within_the_budget(store: Path) -> None:
    image = cd.open_image(store, axes="")
    with count_region_reads() as reads, dask.config.set(scheduler="sync"):
        sample = sample_chunks([image], [2, 0], max_pixels=3 * 128 * 128, seed=4)
    assert reads.count == sample.n_chunks == 3
    assert sample.total_chunks == TOTAL_CHUNKS
    assert all(p.size >= 128 * 128 for p in sample.pixels)
    assert sum(p.size for p in sample.pixels) == 3 * 128 * 128
