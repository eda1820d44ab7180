"""Fixtures of the plot tests: a demo store on disk and datasets over it."""

from __future__ import annotations

from tests.plot.helpers import datasets, prediction, store

__all__ = ["datasets", "prediction", "store"]
