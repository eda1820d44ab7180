"""Conformance suites and laziness oracles for loader authors (needs pytest)."""

from __future__ import annotations

from careamics_dask.testing.laziness import (
    open_file_descriptors,
    raise_if_dask_computes,
)
from careamics_dask.testing.loaders import LoaderCase, LoaderTests

__all__ = [
    "LoaderCase",
    "LoaderTests",
    "open_file_descriptors",
    "raise_if_dask_computes",
]
