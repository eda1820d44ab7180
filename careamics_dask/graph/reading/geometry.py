"""How a canonical sample and spatial box map onto one source's axes and chunks.

A :class:`Geometry` is computed once per reader binding (and kept across batches by
:mod:`careamics_dask.graph.reading.bindings`), so that cutting a patch costs no axes
parsing: it turns a sample and a spatial box into regions in the source's own axes,
lists the storage chunks they touch, and reorders what is read to ``C (Z) Y X``.
"""

from __future__ import annotations

import itertools
import math
from operator import getitem
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

    from careamics_dask.loaders import ReaderBinding

__all__ = ["Geometry", "Region"]

Region = tuple[slice, ...]

_MAX_BOXES = 4096
_MAX_AXIS_SLICES = 1 << 16


class _AxisSlices:
    """``slices[i]``: the region of chunk ``i`` along one axis (a list when short)."""

    __slots__ = ("_chunk", "_length", "_table")

    def __init__(self, chunk: int, length: int) -> None:
        self._chunk, self._length = int(chunk), int(length)
        n = -(-self._length // self._chunk) if self._chunk else 0
        self._table = (
            [self._slice(i) for i in range(n)] if n <= _MAX_AXIS_SLICES else None
        )

    def _slice(self, i: int) -> slice:
        return slice(i * self._chunk, min((i + 1) * self._chunk, self._length))

    def __getitem__(self, i: int) -> slice:
        table = self._table
        return table[i] if table is not None else self._slice(i)


class Geometry:
    """How a canonical sample and spatial box map onto one source's axes and chunks.

    Computed once per stack and batch, so that cutting a patch costs no axes
    parsing; the chunks of each box are remembered for the patch that follows its
    prefetch.

    Parameters
    ----------
    binding : ReaderBinding
        The source's reader, axes and shape.
    chunks : tuple of int, optional
        The chunk grid reads use (default: the reader's chunks).

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.loaders import open_image, reader_binding
    >>> import zarr
    >>> store = zarr.create_array({}, shape=(2, 8, 8), chunks=(1, 4, 4), dtype="u1")
    >>> binding = reader_binding(open_image(store, "SYX"))
    >>> Geometry(binding).box(1, ((2, 6), (0, 4)))[0]
    [(1, 2), (2, 6), (0, 4)]
    """

    __slots__ = (
        "_boxes",
        "_channel_axis",
        "_chunk_slices",
        "_chunks",
        "_order",
        "_roles",
        "_shape",
        "_spatial",
        "_t",
    )

    def __init__(
        self, binding: ReaderBinding, chunks: tuple[int, ...] | None = None
    ) -> None:
        axes = binding.axes
        self._shape = binding.shape
        self._chunks = binding.reader.chunks if chunks is None else chunks
        spatial = [a for a in "ZYX" if a in axes]
        # per source axis: a sample axis letter, "C", or the index of a spatial axis
        self._roles: list[str | int] = [
            spatial.index(a) if a in spatial else a for a in axes
        ]
        # the merged sample index is s * T + t when both S and T are present
        sizes = dict(zip(axes, binding.shape, strict=True))
        self._t = sizes["T"] if "S" in sizes and "T" in sizes else 0
        # source axes in canonical order: S, T, C, Z, Y, X
        self._order = [axes.index(a) for a in "STCZYX" if a in axes]
        self._spatial = len(spatial)
        self._boxes: dict[
            tuple[int, tuple[tuple[int, int], ...]],
            tuple[list[tuple[int, int]], list[tuple[tuple[int, ...], Region]]],
        ] = {}
        # the region of chunk i along each source axis, built once
        self._chunk_slices = [
            _AxisSlices(c, n) for c, n in zip(self._chunks, self._shape, strict=True)
        ]
        self._channel_axis = axes.index("C") if "C" in axes else None

    @property
    def channel_axis(self) -> int | None:
        """The source axis of channels, or None."""
        return self._channel_axis

    @property
    def in_canonical_order(self) -> bool:
        """Whether the source axes are ``S C (Z) Y X`` already (any may be absent).

        A sample axis ``S`` or ``T`` (not both) comes first, then ``C``, then the
        spatial axes: a box read from the source is its canonical region.
        """
        return self._t == 0 and self._order == sorted(self._order)

    def direct_index(
        self, channels: frozenset[int] | None
    ) -> tuple[list[str], list[tuple[int, int] | list[int]]]:
        """Return the sample axes and the channel entry of a canonical-order box.

        Parameters
        ----------
        channels : frozenset of int or None
            The channels the caller keeps (None: all).

        Returns
        -------
        tuple of (list, list)
            The sample axis letters before ``C``, and ``[]`` (no channel axis),
            ``[(0, C)]`` or ``[kept channels]``.
        """
        prefix = [r for r in self._roles if r in ("S", "T")]
        axis = self._channel_axis
        if axis is None:
            return prefix, []
        kept = self.kept_channels(channels)
        return prefix, [(0, self._shape[axis]) if kept is None else kept]

    def kept_channels(self, channels: frozenset[int] | None) -> list[int] | None:
        """Return the sorted channels to read where they are fewer than all, else None.

        Parameters
        ----------
        channels : frozenset of int or None
            The channels the caller keeps (None: all).

        Returns
        -------
        list of int or None
            None when every channel is read (or the source has no channel axis).
        """
        axis = self._channel_axis
        if axis is None or channels is None:
            return None
        size = self._shape[axis]
        kept = sorted(c for c in channels if c < size)
        return kept if len(kept) < size else None

    def holds_any(
        self, index: tuple[int, ...], channels: frozenset[int] | None
    ) -> bool:
        """Return whether storage chunk ``index`` holds any of ``channels``."""
        axis = self._channel_axis
        if channels is None or axis is None:
            return True
        size = self._chunks[axis]
        start = index[axis] * size
        return any(start <= c < start + size for c in channels)

    def regions(
        self, sample_idx: int, bounds: tuple[tuple[int, int], ...]
    ) -> list[tuple[int, int]]:
        """Return ``(start, stop)`` per source axis of a sample's spatial box."""
        regions = []
        for role, size in zip(self._roles, self._shape, strict=True):
            if isinstance(role, int):
                regions.append(bounds[role])
            elif role == "C":
                regions.append((0, size))
            else:
                index = sample_idx
                if self._t:
                    index = (
                        sample_idx // self._t if role == "S" else sample_idx % self._t
                    )
                regions.append((index, index + 1))
        return regions

    def box(
        self, sample_idx: int, bounds: tuple[tuple[int, int], ...]
    ) -> tuple[list[tuple[int, int]], list[tuple[tuple[int, ...], Region]]]:
        """Return a box's regions and the chunks it touches (index and region)."""
        key = (sample_idx, bounds)
        found = self._boxes.get(key)
        if found is not None:
            return found
        regions = self.regions(sample_idx, bounds)
        ranges = [
            range(lo // c, (hi - 1) // c + 1) if hi > lo else range(0)
            for (lo, hi), c in zip(regions, self._chunks, strict=True)
        ]
        slices = self._chunk_slices
        touched = [
            (index, tuple(map(getitem, slices, index)))
            for index in itertools.product(*ranges)
        ]
        if len(self._boxes) >= _MAX_BOXES:
            self._boxes.clear()
        self._boxes[key] = (regions, touched)
        return regions, touched

    def canonical(self, region: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Reorder a one-sample region in source axes to ``C (Z) Y X``."""
        moved = np.transpose(region, self._order)
        channels = math.prod(moved.shape[: moved.ndim - self._spatial])
        return moved.reshape((channels, *moved.shape[moved.ndim - self._spatial :]))
