"""Pictures of datasets: patches, where they come from, filters, histograms, tiles.

Every function returns a :class:`matplotlib.figure.Figure` that belongs to no
pyplot state (display it in a notebook, or ``figure.savefig(path)``), and reads
no more pixels than it draws: the patches shown, one block-averaged plane of an
image (:func:`read_overview`), or a bounded random sample of chunks
(:func:`sample_chunks`). Needs matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

from careamics_dask.plot._histogram import ChunkSample, plot_histogram, sample_chunks
from careamics_dask.plot._maps import plot_filter_map, plot_patch_origins
from careamics_dask.plot._overview import Overview, read_overview
from careamics_dask.plot._patches import plot_patches
from careamics_dask.plot._tiles import plot_images, plot_tile_layout

__all__ = [
    "ChunkSample",
    "Overview",
    "plot_filter_map",
    "plot_histogram",
    "plot_images",
    "plot_patch_origins",
    "plot_patches",
    "plot_tile_layout",
    "read_overview",
    "sample_chunks",
]
