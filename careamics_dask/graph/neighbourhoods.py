"""Neighbouring patches of a batch that are cheaper to read as one shared region."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from careamics_dask.patching import PatchTable

__all__ = ["neighbourhoods"]

_MIN_NEIGHBOURS = 4
"""Patches of one sample a shared region is worth reading for."""


def neighbourhoods(
    rows: PatchTable,
    low: npt.NDArray[np.int64],
    high: npt.NDArray[np.int64],
    size: npt.NDArray[np.int64],
    chunks: Sequence[Sequence[int]] | None = None,
) -> tuple[
    list[tuple[int, int, npt.NDArray[np.intp], Any, Any]], npt.NDArray[np.bool_]
]:
    """Find patches that are cheaper to cut together from one shared region.

    Patches of the same sample, all inside their image, are read as one region (their
    bounding box) and cut out of it in one vectorized copy, instead of one region
    each, when the box holds at most twice their own pixels, or when it reads no
    storage chunk they do not touch anyway and copies at most 16 times their pixels
    (chunk-aware batches, mostly).

    Parameters
    ----------
    rows : PatchTable
        The batch's rows.
    low, high : numpy.ndarray
        Each patch clipped to its image, ``(N, ndim)``.
    size : numpy.ndarray
        The patch size.
    chunks : sequence of sequence of int, optional
        Storage chunk size along the spatial axes of each stack; without it only
        the first rule applies.

    Returns
    -------
    tuple of (list, numpy.ndarray)
        ``(data_idx, sample_idx, members, box_low, box_high)`` per group, and which
        rows belong to a group.
    """
    grouped = np.zeros(len(rows), dtype=np.bool_)
    groups: list[tuple[int, int, npt.NDArray[np.intp], Any, Any]] = []
    if len(rows) < _MIN_NEIGHBOURS:
        return groups, grouped
    inside = np.all(
        (low == rows.coords) & (high == rows.coords + rows.patch_size), axis=1
    )
    key = rows.data_idx * (int(rows.sample_idx.max()) + 1) + rows.sample_idx
    order = np.argsort(key, kind="stable")
    sorted_keys = key[order]
    # where the sorted keys change: the first row of each sample's group
    starts = np.flatnonzero(np.diff(sorted_keys)) + 1
    if np.diff(starts, prepend=0, append=len(rows)).max() < _MIN_NEIGHBOURS:
        return groups, grouped  # no sample has enough patches (uniform batches)
    volume = int(np.prod(size))
    for members in np.split(order, starts):
        members = members[inside[members]]
        if len(members) < _MIN_NEIGHBOURS:
            continue
        lo, hi = low[members].min(axis=0), high[members].max(axis=0)
        first = int(members[0])
        box = int(np.prod(hi - lo))
        if box > 2 * len(members) * volume and not (
            chunks is not None
            and box <= 16 * len(members) * volume
            and _no_extra_chunks(
                low[members], high[members], lo, hi, chunks[rows.data_idx[first]]
            )
        ):
            continue
        groups.append(
            (int(rows.data_idx[first]), int(rows.sample_idx[first]), members, lo, hi)
        )
        grouped[members] = True
    return groups, grouped


def _no_extra_chunks(
    low: npt.NDArray[np.int64],
    high: npt.NDArray[np.int64],
    box_low: npt.NDArray[np.int64],
    box_high: npt.NDArray[np.int64],
    chunk: Sequence[int],
) -> bool:
    """Return whether the patches touch every storage chunk their box touches."""
    size = np.asarray(chunk, dtype=np.int64)
    first = box_low // size
    touched = np.zeros(tuple((box_high - 1) // size - first + 1), dtype=np.bool_)
    starts = (low // size - first).tolist()
    stops = ((high - 1) // size - first + 1).tolist()
    for a, b in zip(starts, stops, strict=True):
        touched[tuple(slice(i, j) for i, j in zip(a, b, strict=True))] = True
    return bool(touched.all())
