"""Figure style: pyplot-free figures, display limits, channel names, bare axes."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib import pyplot as plt

from careamics_dask.plot._style import bare, channel_labels, new_figure, stretch


def test_new_figure_belongs_to_no_pyplot_state() -> None:
    before = plt.get_fignums()
    figure = new_figure(4, 3)
    assert plt.get_fignums() == before
    assert tuple(figure.get_size_inches()) == (4, 3)
    assert figure.get_layout_engine() is not None


def test_stretch_ignores_non_finite_pixels() -> None:
    image = np.arange(1001.0)
    image[::10] = np.nan
    image[5] = np.inf
    low, high = stretch(image)
    finite = image[np.isfinite(image)]
    assert low == pytest.approx(np.percentile(finite, 0.5))
    assert high == pytest.approx(np.percentile(finite, 99.8))
    assert stretch(np.full(3, np.nan)) == (0.0, 1.0)
    low, high = stretch(np.full(5, 7.0))
    assert high > low == 7.0


def test_channel_labels_name_unnamed_channels() -> None:
    named = xr.DataArray(
        np.ones((1, 3, 2, 2)),
        dims=("S", "C", "Y", "X"),
        coords={"C": ["dapi", "1", "gfp"]},
    )
    assert channel_labels(named) == ["dapi", "channel 1", "gfp"]
    unnamed = xr.DataArray(np.ones((1, 2, 2, 2)), dims=("S", "C", "Y", "X"))
    assert channel_labels(unnamed) == ["channel 0", "channel 1"]


def test_bare_removes_ticks_but_keeps_labels() -> None:
    axis = new_figure(2, 2).add_subplot()
    axis.set_ylabel("input")
    bare(axis)
    assert list(axis.get_xticks()) == []
    assert list(axis.get_yticks()) == []
    assert axis.get_ylabel() == "input"
