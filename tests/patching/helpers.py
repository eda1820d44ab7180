"""Coverage counting for patch tables, vectorized with difference arrays."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from careamics_dask.patching.table import PatchTable


def pixel_coverage(
    tables: Sequence[PatchTable], shapes: Sequence[Sequence[int]]
) -> dict[tuple[int, int], np.ndarray]:
    """Count, per (data_idx, sample_idx) and pixel, the patches covering it."""
    result: dict[tuple[int, int], np.ndarray] = {}
    for data_idx, shape in enumerate(shapes):
        spatial = np.array(shape[2:])
        for sample_idx in range(shape[0]):
            diff = np.zeros(spatial + 1, dtype=np.int64)
            for table in tables:
                rows = (table.data_idx == data_idx) & (table.sample_idx == sample_idx)
                start = np.minimum(table.coords[rows], spatial)
                stop = np.minimum(table.coords[rows] + table.patch_size[rows], spatial)
                for corner in itertools.product((0, 1), repeat=len(spatial)):
                    index = np.where(np.array(corner, bool), stop, start)
                    sign = (-1) ** sum(corner)
                    np.add.at(diff, tuple(index.T), sign)
            for axis in range(len(spatial)):
                diff = np.cumsum(diff, axis=axis)
            result[(data_idx, sample_idx)] = diff[tuple(slice(0, s) for s in spatial)]
    return result


def overlaps_any(table: PatchTable, boxes: PatchTable) -> np.ndarray:
    """Whether each patch of ``table`` overlaps a patch of ``boxes`` (same sample)."""
    result = np.zeros(len(table), dtype=bool)
    for i in range(len(boxes)):
        same = (table.data_idx == boxes.data_idx[i]) & (
            table.sample_idx == boxes.sample_idx[i]
        )
        low = np.maximum(table.coords, boxes.coords[i])
        high = np.minimum(
            table.coords + table.patch_size, boxes.coords[i] + boxes.patch_size[i]
        )
        result |= same & (low < high).all(axis=1)
    return result
