"""Overviews: one block-averaged plane, read once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dask
import numpy as np

import careamics_dask as cd
from careamics_dask.plot import (
    read_overview,
)
from careamics_dask.testing import count_region_reads
from tests.plot.helpers import CHUNKS_PER_PLANE

if TYPE_CHECKING:
    from pathlib import Path


def test_overview_reads_one_plane_once(store: Path) -> None:
    image = cd.open_image(store, axes="")
    with count_region_reads() as reads, dask.config.set(scheduler="sync"):
        overview = read_overview(image, sample=2, channel=1, max_side=200)
    assert reads.count == CHUNKS_PER_PLANE  # of TOTAL_CHUNKS in the store
    assert overview.scale == 6
    assert overview.image.shape == (170, 170)
    expected = np.asarray(image[2, 1, :1020, :1020], np.float32)
    np.testing.assert_allclose(
        overview.image, expected.reshape(170, 6, 170, 6).mean(axis=(1, 3)), rtol=1e-5
    )
    assert overview.label == "sample 2, membranes"
