"""Conformance suites and laziness oracles for loader authors (needs pytest).

:func:`count_region_reads` is the one hook that counts source reads: every loader's
readers (region reads, storage chunks, TensorStore boxes) report to it.
"""

from __future__ import annotations

from careamics_dask.loaders import count_region_reads
from careamics_dask.testing.laziness import (
    open_file_descriptors,
    raise_if_dask_computes,
)
from careamics_dask.testing.loaders import LoaderCase, LoaderTests

__all__ = [
    "LoaderCase",
    "LoaderTests",
    "count_region_reads",
    "open_file_descriptors",
    "raise_if_dask_computes",
]
