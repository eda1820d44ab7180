"""Read zero-padded patches of image stacks inside tasks, each storage chunk once.

:class:`PatchReader` serves the patches of one batch: it works out which storage
chunks the batch touches, reads each of them once (several at a time), and cuts the
patches out, zero-padding where a patch leaves its image as the reference's
``pad_patch`` does. It dispatches each stack to one read path: boxes submitted
asynchronously (:mod:`~careamics_dask.graph.reading.box_reads`), storage chunks
(:mod:`~careamics_dask.graph.reading.chunk_reads`), or whole cached Dask blocks
(:mod:`~careamics_dask.graph.reading.block_cache`) and NumPy data.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np

from careamics_dask.graph.reading.block_cache import read_from_blocks
from careamics_dask.graph.reading.box_reads import BoxReads
from careamics_dask.graph.reading.chunk_reads import ChunkReads
from careamics_dask.graph.reading.sources import clip_box, pad_patch
from careamics_dask.loaders import CHUNK_CACHE_BYTES

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from careamics_dask.graph.reading.box_reads import PendingBox, PendingKey
    from careamics_dask.graph.reading.chunk_reads import ChunkKey
    from careamics_dask.graph.reading.geometry import Geometry
    from careamics_dask.graph.reading.sources import StackSource
    from careamics_dask.loaders import BoxReader, ChunkReader, SupportsRegionRead

__all__ = ["PatchReader"]


class PatchReader(BoxReads, ChunkReads):
    """Reads the patches of one batch, each storage chunk once.

    Parameters
    ----------
    sources : Sequence[StackSource]
        The image stacks, indexed by a patch's ``data_idx``.
    threads : int, default 4
        How many storage chunks are read at the same time through region readers
        (Zarr chunks decoded by a :class:`~careamics_dask.loaders.ChunkReader` are
        read on the calling thread: file reads and zstd decoding release the GIL,
        so batch tasks running in parallel threads already use the cores, and a
        pool per batch would only add overhead).
    cache_bytes : int, optional
        Byte budget of this process's cache of whole Dask blocks (sources without a
        region reader); unchanged when None.
    channels : Sequence[int], optional
        The only channels the caller will keep: storage chunks holding none of them
        are not read (regions then hold undefined values in the other channels).
        All channels by default.
    backend : {"auto", "tensorstore", "zarr"}, default "auto"
        How boxes of local Zarr arrays are read: ``auto`` reads them through
        TensorStore where it is installed and applies
        (:mod:`careamics_dask.graph.reading.box_reads`), ``zarr`` always through
        zarr-python chunk by chunk; the pixels are the same.
    chunk_cache_bytes : int, default 64 MiB
        This process's budget for chunks TensorStore keeps decoded.
    """

    def __init__(
        self,
        sources: Sequence[StackSource],
        *,
        threads: int = 4,
        cache_bytes: int | None = None,
        channels: Sequence[int] | None = None,
        backend: str = "auto",
        chunk_cache_bytes: int = CHUNK_CACHE_BYTES,
    ) -> None:
        self.sources = list(sources)
        self.threads = max(1, int(threads))
        self.cache_bytes = cache_bytes
        self.channels = None if channels is None else frozenset(map(int, channels))
        self.backend = backend
        self.chunk_cache_bytes = int(chunk_cache_bytes)
        self._chunks: dict[ChunkKey, npt.NDArray[Any]] = {}
        self._geometries: dict[int, Geometry] = {}
        self._decoders: dict[int, ChunkReader | None] = {}
        self._box_readers: dict[int, BoxReader | None] = {}
        # boxes submitted to TensorStore: (data_idx, sample_idx, bounds) -> read
        self._pending: dict[PendingKey, PendingBox] = {}
        # per stack, the chunks its boxes read (counted where reads are counted)
        self._box_chunks: defaultdict[int, set[tuple[int, ...]]] = defaultdict(set)

    def prefetch(
        self,
        data_idx: npt.NDArray[np.int64],
        sample_idx: npt.NDArray[np.int64],
        coords: npt.NDArray[np.int64],
        patch_size: npt.NDArray[np.int64],
    ) -> int:
        """Read every storage chunk the given patches touch, concurrently.

        Parameters
        ----------
        data_idx, sample_idx : numpy.ndarray
            Stack and sample of each patch, ``(N,)``.
        coords, patch_size : numpy.ndarray
            Start and size of each patch, ``(N, ndim)``.

        Returns
        -------
        int
            The number of chunks read.
        """
        low, high = self.clipped(data_idx, coords, patch_size)
        return self.prefetch_bounds(data_idx, sample_idx, low, high)

    def clipped(
        self,
        data_idx: npt.NDArray[np.int64],
        coords: npt.NDArray[np.int64],
        patch_size: npt.NDArray[np.int64],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Clip patches to their images: starts and stops, ``(N, ndim)`` each.

        Parameters
        ----------
        data_idx : numpy.ndarray
            Stack of each patch, ``(N,)``.
        coords, patch_size : numpy.ndarray
            Start and size of each patch, ``(N, ndim)``.

        Returns
        -------
        tuple of numpy.ndarray
            The in-image ``start`` and ``stop`` of each patch (equal where a patch
            lies outside its image).
        """
        coords = np.asarray(coords, dtype=np.int64)
        if len(coords) == 0:
            return coords, coords
        shapes = np.array([s.spatial_shape for s in self.sources], dtype=np.int64)
        spatial = shapes[np.asarray(data_idx, dtype=np.int64)]
        low = np.clip(coords, 0, spatial)
        high = np.clip(coords + np.asarray(patch_size, dtype=np.int64), 0, spatial)
        return low, high

    def prefetch_bounds(
        self,
        data_idx: npt.NDArray[np.int64],
        sample_idx: npt.NDArray[np.int64],
        low: npt.NDArray[np.int64],
        high: npt.NDArray[np.int64],
    ) -> int:
        """Read every storage chunk the given clipped boxes touch, concurrently.

        Parameters
        ----------
        data_idx, sample_idx : numpy.ndarray
            Stack and sample of each box, ``(N,)``.
        low, high : numpy.ndarray
            In-image start and stop of each box, ``(N, ndim)`` (from :meth:`clipped`).

        Returns
        -------
        int
            The number of chunks read.
        """
        wanted: dict[ChunkKey, tuple[SupportsRegionRead, tuple[slice, ...]]] = {}
        submitted = 0
        for d, s, lo, hi in zip(
            data_idx.tolist(),
            sample_idx.tolist(),
            low.tolist(),
            high.tolist(),
            strict=True,
        ):
            binding = self.sources[d].binding
            if binding is None:
                continue
            bounds = tuple(zip(lo, hi, strict=True))
            geometry = self._geometry(d, binding)
            boxes = self._boxes(d, binding)
            if boxes is not None:
                submitted += self._submit(d, s, bounds, boxes, geometry)
                continue
            _, touched = geometry.box(s, bounds)
            for index, region in touched:
                if not geometry.holds_any(index, self.channels):
                    continue
                if (d, index) not in self._chunks:
                    wanted[(d, index)] = (binding.reader, region)
        if not wanted:
            return submitted
        return self._read_chunks(wanted) + submitted

    def region(
        self, data_idx: int, sample_idx: int, bounds: tuple[tuple[int, int], ...]
    ) -> npt.NDArray[Any]:
        """Return all channels of a clipped region, ``C (Z) Y X``, source dtype.

        Parameters
        ----------
        data_idx : int
            The stack.
        sample_idx : int
            The sample along ``S``.
        bounds : tuple of (int, int)
            ``(start, stop)`` per spatial axis, inside the image.

        Returns
        -------
        numpy.ndarray
            The pixels.
        """
        source = self.sources[data_idx]
        spatial = tuple(slice(a, b) for a, b in bounds)
        if isinstance(source.data, da.Array):
            return read_from_blocks(
                source.data, sample_idx, bounds, budget=self.cache_bytes
            )
        if source.binding is None:
            return np.asarray(source.data[(sample_idx, slice(None), *spatial)])
        pending = self._pending.get((data_idx, sample_idx, bounds))
        if pending is not None:
            return self._geometry(data_idx, source.binding).canonical(pending.result())
        return self._assemble(data_idx, source.binding, sample_idx, bounds)

    def patch(
        self,
        data_idx: int,
        sample_idx: int,
        coords: Sequence[int],
        patch_size: Sequence[int],
        channels: Sequence[int] | None = None,
    ) -> npt.NDArray[np.float32]:
        """Return one zero-padded float32 patch, ``C (Z) Y X``.

        Parameters
        ----------
        data_idx : int
            The stack.
        sample_idx : int
            The sample along ``S``.
        coords : Sequence[int]
            Patch start (may be negative or beyond the image).
        patch_size : Sequence[int]
            Patch size.
        channels : Sequence[int], optional
            Channels to keep, in order; all when None.

        Returns
        -------
        numpy.ndarray
            The patch.
        """
        source = self.sources[data_idx]
        bounds = clip_box(coords, patch_size, source.spatial_shape)
        if any(a == b for a, b in bounds):
            n = source.n_channels if channels is None else len(channels)
            return np.zeros((n, *patch_size), dtype=np.float32)
        block = self.region(data_idx, sample_idx, bounds)
        if channels is not None:
            block = block[list(channels)]
        return pad_patch(coords, patch_size, block)
