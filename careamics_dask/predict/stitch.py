"""Stitching: crop predicted tiles and assemble them into whole output chunks.

Each tile is cropped by its ``crop_coords`` / ``crop_size`` and placed at its
``stitch_coords`` (the reference's ``stitch_prediction``), but not into a whole image
in memory: into *bands*, the rows of output chunks that share their chunk index on
every spatial axis but the last (``X``). A band counts, per chunk, the pixels placed
in it; a chunk is complete when that count reaches its size, because the crops of a
tile table partition every image
(:func:`~careamics_dask.predict.coverage.check_tiles_partition`). Complete chunks come
out as :class:`Region` objects (runs of consecutive chunks of one band), each
written once, whole, by one writer: no two writes ever touch the same chunk, and
nothing is read back. A band is freed when all its chunks are out, so memory holds
the bands the current tiles touch, not the image.

Longer than 400 lines: the band bookkeeping and the regions it emits are one
algorithm (a chunk is complete when its band says so).
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from careamics_dask.patching import PatchTable

__all__ = ["ChunkGrid", "ImageStitcher", "Region", "crop_tile", "tile_columns"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkGrid:
    """The regular chunk grid over the spatial axes ``(Z,) Y, X`` of one image.

    Attributes
    ----------
    shape : tuple of int
        The spatial shape.
    chunks : tuple of int
        The chunk size per axis (at most the axis length).

    Examples
    --------
    >>> grid = ChunkGrid.create((100, 70), (32, 32))
    >>> grid.counts, grid.extent(0, 3), grid.extent(1, 2)
    ((4, 3), 4, 6)
    """

    shape: tuple[int, ...]
    chunks: tuple[int, ...]

    @classmethod
    def create(cls, shape: Sequence[int], chunks: Sequence[int]) -> ChunkGrid:
        """Build a grid; chunks larger than an axis shrink to it.

        Parameters
        ----------
        shape : Sequence[int]
            The spatial shape.
        chunks : Sequence[int]
            The chunk size per axis.

        Returns
        -------
        ChunkGrid
            The grid.

        Raises
        ------
        ValueError
            When the lengths differ or a chunk size is not positive.
        """
        if len(shape) != len(chunks) or any(int(c) < 1 for c in chunks):
            raise ValueError(
                f"Output chunks must give one positive size per spatial axis: "
                f"expected {len(shape)} sizes >= 1 for shape {tuple(shape)}, got "
                f"{tuple(chunks)}."
            )
        return cls(
            shape=tuple(int(s) for s in shape),
            chunks=tuple(
                max(1, min(int(c), int(s))) for c, s in zip(chunks, shape, strict=True)
            ),
        )

    @property
    def counts(self) -> tuple[int, ...]:
        """Chunks per axis."""
        return tuple(
            math.ceil(s / c) for s, c in zip(self.shape, self.chunks, strict=True)
        )

    def extent(self, axis: int, index: int) -> int:
        """Return the length of chunk ``index`` along ``axis`` (edges are shorter).

        Parameters
        ----------
        axis : int
            The spatial axis.
        index : int
            The chunk index along it.

        Returns
        -------
        int
            The chunk's length.
        """
        chunk = self.chunks[axis]
        return min(chunk, self.shape[axis] - index * chunk)

    def span(self, start: Sequence[int], size: Sequence[int]) -> list[range]:
        """Return the chunk indices a box touches, per axis.

        Parameters
        ----------
        start : Sequence[int]
            The box's start per axis.
        size : Sequence[int]
            Its size per axis (positive).

        Returns
        -------
        list of range
            One range of chunk indices per axis.
        """
        return [
            range(int(a) // c, (int(a) + int(n) - 1) // c + 1)
            for a, n, c in zip(start, size, self.chunks, strict=True)
        ]


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    """Consecutive complete chunks of one band, ready to be written once.

    Attributes
    ----------
    data_idx : int
        The image stack.
    sample : int
        The sample (merged ``S``/``T`` index).
    band : tuple of int
        Chunk index on every spatial axis but the last.
    last : tuple of int
        Chunk indices ``[first, stop)`` along the last axis.
    start : tuple of int
        Where the region starts in the image, per spatial axis.
    data : numpy.ndarray
        ``(C, (Z), Y, X)`` float32 pixels (a view of the band).
    """

    data_idx: int
    sample: int
    band: tuple[int, ...]
    last: tuple[int, int]
    start: tuple[int, ...]
    data: npt.NDArray[np.float32]


@dataclass(slots=True)
class _Band:
    buffer: npt.NDArray[np.float32]
    start: tuple[int, ...]
    expected: npt.NDArray[np.int64]
    filled: npt.NDArray[np.int64]
    closed: npt.NDArray[np.bool_]
    touched: bool = field(default=False)


class ImageStitcher:
    """Assemble the cropped tiles of one image stack into complete chunks.

    Parameters
    ----------
    data_idx : int
        The image stack (copied into every :class:`Region`).
    grid : ChunkGrid
        The output chunk grid of the stack's spatial axes.
    n_channels : int
        Output channels.
    done : numpy.ndarray, optional
        ``(S, *grid.counts)`` booleans: chunks already written by an earlier run,
        which are never written again.

    Examples
    --------
    >>> stitcher = ImageStitcher(0, ChunkGrid.create((4, 6), (2, 4)), 1)
    >>> stitcher.place(0, (0, 0), np.ones((1, 4, 6), np.float32))
    >>> [(r.band, r.last, r.data.shape) for r in stitcher.completed()]
    [((0,), (0, 2), (1, 2, 6)), ((1,), (0, 2), (1, 2, 6))]
    >>> stitcher.open_bands
    0
    """

    def __init__(
        self,
        data_idx: int,
        grid: ChunkGrid,
        n_channels: int,
        done: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        self.data_idx = int(data_idx)
        self.grid = grid
        self.n_channels = int(n_channels)
        self.done = done
        self._bands: dict[tuple[int, ...], _Band] = {}
        last = len(grid.shape) - 1
        self._last_extent = np.array(
            [grid.extent(last, k) for k in range(grid.counts[last])], dtype=np.int64
        )

    @property
    def open_bands(self) -> int:
        """Bands with chunks not yet complete."""
        return len(self._bands)

    @property
    def nbytes(self) -> int:
        """Bytes held by open bands."""
        return sum(band.buffer.nbytes for band in self._bands.values())

    def _band(
        self, sample: int, index: tuple[int, ...], last: npt.NDArray[np.int64]
    ) -> _Band | None:
        """Return the band of a chunk row, or None when chunks ``last`` are out."""
        key = (sample, *index)
        band = self._bands.get(key)
        if band is None:
            closed = np.zeros(len(self._last_extent), dtype=np.bool_)
            if self.done is not None:
                closed |= self.done[key]
            if closed[last].all():
                return None
            grid = self.grid
            lead = [grid.extent(axis, k) for axis, k in enumerate(index)]
            band = _Band(
                buffer=np.zeros(
                    (self.n_channels, *lead, grid.shape[-1]), dtype=np.float32
                ),
                start=tuple(k * c for k, c in zip(index, grid.chunks, strict=False)),
                expected=self._last_extent * math.prod(lead),
                filled=np.zeros(len(self._last_extent), dtype=np.int64),
                closed=closed,
            )
            self._bands[key] = band
        return None if band.closed[last].all() else band

    def place(
        self, sample: int, start: Sequence[int], crop: npt.NDArray[np.float32]
    ) -> None:
        """Place one cropped tile ``(C, (Z), Y, X)`` at ``start`` of a sample.

        Parameters
        ----------
        sample : int
            The sample.
        start : Sequence[int]
            The crop's ``stitch_coords``.
        crop : numpy.ndarray
            The cropped tile.

        Raises
        ------
        ValueError
            When the crop has another channel count or leaves the image.
        """
        size = crop.shape[1:]
        if crop.shape[0] != self.n_channels or any(
            a < 0 or a + n > s
            for a, n, s in zip(start, size, self.grid.shape, strict=True)
        ):
            raise ValueError(
                f"A crop of shape {crop.shape} at {tuple(start)} does not fit image "
                f"{self.data_idx} of {self.n_channels} channels and spatial shape "
                f"{self.grid.shape}. Every model output must keep the channel count "
                "of the first batch."
            )
        spans = self.grid.span(start, size)
        x0, x1 = int(start[-1]), int(start[-1]) + int(size[-1])
        ks = np.arange(spans[-1].start, spans[-1].stop)
        chunk = self.grid.chunks[-1]
        widths = np.minimum(x1, (ks + 1) * chunk) - np.maximum(x0, ks * chunk)
        for index in itertools.product(*spans[:-1]):
            band = self._band(sample, index, ks)
            if band is None:
                continue
            source: list[slice] = [slice(None)]
            target: list[slice] = [slice(None)]
            volume = 1
            for axis, k in enumerate(index):
                lo = max(int(start[axis]), band.start[axis])
                hi = min(
                    int(start[axis]) + int(size[axis]),
                    band.start[axis] + self.grid.extent(axis, k),
                )
                source.append(slice(lo - int(start[axis]), hi - int(start[axis])))
                target.append(slice(lo - band.start[axis], hi - band.start[axis]))
                volume *= hi - lo
            band.buffer[(*target, slice(x0, x1))] = crop[(*source, slice(None))]
            band.filled[ks] += volume * widths
            band.touched = True

    def completed(self) -> list[Region]:
        """Return the chunks completed since the last call, as regions.

        Returns
        -------
        list of Region
            Runs of consecutive complete chunks, each returned once; bands whose
            chunks are all out are released.
        """
        regions: list[Region] = []
        chunk = self.grid.chunks[-1]
        for key in [k for k, band in self._bands.items() if band.touched]:
            band = self._bands[key]
            band.touched = False
            ready = (band.filled == band.expected) & ~band.closed
            if ready.any():
                edges = np.flatnonzero(np.diff(np.concatenate(([0], ready, [0]))))
                for first, stop in zip(edges[::2], edges[1::2], strict=True):
                    x0 = int(first) * chunk
                    x1 = min(int(stop) * chunk, self.grid.shape[-1])
                    regions.append(
                        Region(
                            data_idx=self.data_idx,
                            sample=key[0],
                            band=key[1:],
                            last=(int(first), int(stop)),
                            start=(*band.start, x0),
                            data=band.buffer[..., x0:x1],
                        )
                    )
                band.closed |= ready
            if band.closed.all():
                del self._bands[key]
        return regions


def tile_columns(
    rows: PatchTable,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return the crop starts, crop sizes and stitch starts of table rows.

    Whole-image rows (no tile columns) keep the whole patch at the origin.

    Parameters
    ----------
    rows : PatchTable
        Rows of a tiled or whole-image table.

    Returns
    -------
    crop_coords, crop_size, stitch_coords : numpy.ndarray
        ``(N, ndim)`` int64 each.

    Examples
    --------
    >>> from careamics_dask.patching import PatchTable
    >>> rows = PatchTable.from_columns(
    ...     data_idx=[0], sample_idx=[0], coords=[[0, 0]], patch_size=[5, 7])
    >>> [c.tolist() for c in tile_columns(rows)]
    [[[0, 0]], [[5, 7]], [[0, 0]]]
    """
    coords, size, stitch = rows.crop_coords, rows.crop_size, rows.stitch_coords
    if coords is not None and size is not None and stitch is not None:
        return coords, size, stitch
    zeros = np.zeros_like(rows.coords)
    return zeros, np.array(rows.patch_size, dtype=np.int64), zeros


def crop_tile(
    tile: npt.NDArray[np.float32], crop_coords: Sequence[int], crop_size: Sequence[int]
) -> npt.NDArray[np.float32]:
    """Return the kept part of a predicted tile ``(C, (Z), Y, X)`` (a view).

    Parameters
    ----------
    tile : numpy.ndarray
        The predicted tile.
    crop_coords : Sequence[int]
        Start of the crop within the tile, per spatial axis.
    crop_size : Sequence[int]
        Size of the crop, per spatial axis.

    Returns
    -------
    numpy.ndarray
        The crop.

    Examples
    --------
    >>> crop_tile(np.arange(16.0).reshape(1, 4, 4), (1, 2), (2, 2)).tolist()
    [[[6.0, 7.0], [10.0, 11.0]]]
    """
    return tile[
        (
            slice(None),
            *(
                slice(int(a), int(a) + int(n))
                for a, n in zip(crop_coords, crop_size, strict=True)
            ),
        )
    ]
