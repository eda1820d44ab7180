"""The asynchronous box read path: whole boxes submitted at once, then waited for.

Stacks whose region reader offers a :class:`~careamics_dask.loaders.BoxReader`
(TensorStore for local Zarr arrays) are read box by box: a batch submits every box
it needs before waiting for any, so their chunks decode in parallel outside the GIL.
Boxes of stacks in canonical axis order go straight into the batch
(:meth:`BoxReads.submit_direct`, :meth:`BoxReads.place_direct`); the others are
kept as :class:`PendingBox` reads that :meth:`PatchReader.region` reorders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.graph.reading.bindings import BindingCaches

if TYPE_CHECKING:
    from collections import defaultdict
    from collections.abc import Sequence

    import numpy.typing as npt

    from careamics_dask.graph.reading.geometry import Geometry
    from careamics_dask.loaders import Box, BoxReader

__all__ = ["BoxReads", "DirectBox", "PendingBox", "PendingKey"]

PendingKey = tuple[int, int, tuple[tuple[int, int], ...]]
"""A box submitted by a batch: ``(data_idx, sample_idx, bounds)``."""


@dataclass(frozen=True, slots=True)
class DirectBox:
    """A patch box read through TensorStore for :meth:`PatchReader.place_direct`."""

    row: int
    boxes: BoxReader
    future: Any
    box: Box
    low: list[int]
    high: list[int]


class PendingBox:
    """A box submitted to TensorStore, and its pixels once they have arrived.

    ``channels`` is ``(axis, size, kept)`` where only the ``kept`` channels were
    read: the box is then widened to all ``size`` channels, the others undefined.
    """

    __slots__ = ("_box", "_boxes", "_channels", "_data", "_future")

    def __init__(
        self,
        boxes: BoxReader,
        future: Any,
        box: Box,
        channels: tuple[int, int, list[int]] | None,
    ) -> None:
        self._boxes, self._future, self._box = boxes, future, box
        self._channels = channels
        self._data: npt.NDArray[Any] | None = None

    def result(self) -> npt.NDArray[Any]:
        """Return the box in source axes."""
        if self._data is None:
            data = self._boxes.result(self._future, self._box)
            if self._channels is not None:
                axis, size, kept = self._channels
                whole = np.empty(
                    (*data.shape[:axis], size, *data.shape[axis + 1 :]), data.dtype
                )
                where: list[slice | list[int]] = [slice(None)] * data.ndim
                where[axis] = kept
                whole[tuple(where)] = data
                data = whole
            self._data = data
        return self._data


class BoxReads(BindingCaches):
    """The box read path of :class:`~careamics_dask.graph.reading.PatchReader`."""

    _pending: dict[PendingKey, PendingBox]
    _box_chunks: defaultdict[int, set[tuple[int, ...]]]

    def _submit(
        self,
        data_idx: int,
        sample_idx: int,
        bounds: tuple[tuple[int, int], ...],
        boxes: BoxReader,
        geometry: Geometry,
    ) -> int:
        """Start reading one box through TensorStore (once); return 1 if started."""
        key = (data_idx, sample_idx, bounds)
        if key in self._pending or any(a >= b for a, b in bounds):
            return 0
        regions = geometry.regions(sample_idx, bounds)
        axis = geometry.channel_axis
        index: list[tuple[int, int] | list[int]] = list(regions)
        widen = None
        kept = geometry.kept_channels(self.channels)
        if axis is not None and kept is not None:  # only the channels kept
            index[axis] = kept
            widen = (axis, regions[axis][1], kept)
        box = tuple(index)
        future = boxes.submit(box, self._box_chunks[data_idx])
        self._pending[key] = PendingBox(boxes, future, box, widen)
        return 1

    def submit_direct(
        self,
        rows: npt.NDArray[np.intp],
        data_idx: npt.NDArray[np.int64],
        sample_idx: npt.NDArray[np.int64],
        low: npt.NDArray[np.int64],
        high: npt.NDArray[np.int64],
    ) -> tuple[list[DirectBox], npt.NDArray[np.bool_]]:
        """Start reading whole patch boxes through TensorStore, with no per-box setup.

        For stacks read through TensorStore whose source axes are already in
        canonical order (``S C (Z) Y X`` with any of them absent), the common case:
        each box is one read whose result is its ``C (Z) Y X`` pixels. Patches of
        other stacks are left to :meth:`prefetch_bounds` and :meth:`region`.

        Parameters
        ----------
        rows : numpy.ndarray
            The caller's row number of each box, ``(N,)``.
        data_idx, sample_idx : numpy.ndarray
            Stack and sample of each box, ``(N,)``.
        low, high : numpy.ndarray
            In-image start and stop of each box, ``(N, ndim)``; boxes must not be
            empty.

        Returns
        -------
        tuple of (list, numpy.ndarray)
            The reads started, for :meth:`place_direct`, and which boxes they cover.
        """
        started: list[DirectBox] = []
        covered = np.zeros(len(rows), dtype=np.bool_)
        if not len(rows):
            return started, covered
        first = int(data_idx[0])
        stacks = [first] if (data_idx == first).all() else np.unique(data_idx).tolist()
        for d in stacks:
            binding = self.sources[d].binding
            if binding is None:
                continue
            boxes = self._boxes(d, binding)
            geometry = self._geometry(d, binding)
            if boxes is None or not geometry.in_canonical_order:
                continue
            mine = np.flatnonzero(data_idx == d)
            covered[mine] = True
            prefix, channels = geometry.direct_index(self.channels)
            seen = self._box_chunks[d]
            for row, s, lo, hi in zip(
                rows[mine].tolist(),
                sample_idx[mine].tolist(),
                low[mine].tolist(),
                high[mine].tolist(),
                strict=True,
            ):
                box = (
                    *((s, s + 1) for _ in prefix),
                    *channels,
                    *zip(lo, hi, strict=True),
                )
                started.append(
                    DirectBox(row, boxes, boxes.submit(box, seen), box, lo, hi)
                )
        return started, covered

    def place_direct(
        self,
        started: list[DirectBox],
        out: npt.NDArray[np.float32],
        coords: npt.NDArray[np.int64],
        selection: Sequence[int] | None,
    ) -> None:
        """Wait for reads of :meth:`submit_direct` and place them in their patches.

        Parameters
        ----------
        started : list
            What :meth:`submit_direct` returned.
        out : numpy.ndarray
            The batch ``(N, C, (Z), Y, X)``, zero where patches leave their images.
        coords : numpy.ndarray
            Start of each of the caller's rows, ``(N, ndim)`` (may be negative).
        selection : Sequence[int] or None
            The channels to keep, in order (the reader's ``channels``).
        """
        order = None
        if selection is not None:
            kept = sorted(set(selection))
            order = [kept.index(c) for c in selection]
            if order == list(range(len(kept))):
                order = None
        size = out.shape[2:]
        starts = coords.tolist()
        for read in started:
            data = read.boxes.result(read.future, read.box)
            spatial = data.shape[data.ndim - len(size) :]
            data = data.reshape(-1, *spatial)
            if order is not None:
                data = data[order]
            start = starts[read.row]
            if spatial == size and start == read.low:
                out[read.row] = data
                continue
            place: tuple[int | slice, ...] = (
                read.row,
                slice(None),
                *(
                    slice(a - c, b - c)
                    for a, b, c in zip(read.low, read.high, start, strict=True)
                ),
            )
            out[place] = data
