"""The storage-chunk read path: chunks read once per batch, then cut into patches.

Stacks with a region reader that no box reader serves are read storage chunk by
storage chunk: through the reader's :class:`~careamics_dask.loaders.ChunkReader`
where it offers one (local Zarr chunks decoded on the calling thread), else through
the region reader itself, several chunks at a time on threads. Each chunk is read
once per batch and kept until the batch's patches are cut from it.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.graph.reading.bindings import BindingCaches

if TYPE_CHECKING:
    import numpy.typing as npt

    from careamics_dask.graph.reading.geometry import Region
    from careamics_dask.loaders import ReaderBinding, SupportsRegionRead

__all__ = ["ChunkKey", "ChunkReads"]

logger = logging.getLogger(__name__)

ChunkKey = tuple[int, tuple[int, ...]]
"""A storage chunk of a batch: the stack's ``data_idx`` and the chunk's index."""


class ChunkReads(BindingCaches):
    """The storage-chunk read path of the patch reader.

    Attributes
    ----------
    threads : int
        How many storage chunks are read at the same time through region readers.
    """

    threads: int
    _chunks: dict[ChunkKey, npt.NDArray[Any]]

    def _read_chunks(
        self, wanted: dict[ChunkKey, tuple[SupportsRegionRead, tuple[slice, ...]]]
    ) -> int:
        """Read the wanted storage chunks of a batch; return how many."""
        decoded: list[ChunkKey] = []
        threaded: list[ChunkKey] = []
        for key in wanted:
            binding = self.sources[key[0]].binding
            has_decoder = (
                binding is not None and self._decoder(key[0], binding) is not None
            )
            # decoders of remote arrays wait on the network: on threads too
            remote = has_decoder and self.sources[key[0]].over_network
            (decoded if has_decoder and not remote else threaded).append(key)
        for key in decoded:
            decoder = self._decoders[key[0]]
            if decoder is not None:  # always, by construction
                self._chunks[key] = decoder.read(key[1])

        def read(key: ChunkKey) -> npt.NDArray[Any]:
            decoder = self._decoders.get(key[0])
            if decoder is not None:
                return decoder.read(key[1])
            reader, region = wanted[key]
            return reader[region]

        if self.threads == 1 or len(threaded) <= 1:
            results = [read(k) for k in threaded]
        else:
            with ThreadPoolExecutor(min(self.threads, len(threaded))) as pool:
                results = list(pool.map(read, threaded))
        self._chunks.update(zip(threaded, results, strict=True))
        logger.debug("read %d storage chunks", len(wanted))
        return len(wanted)

    def _chunk(
        self, data_idx: int, binding: ReaderBinding, key: ChunkKey, region: Region
    ) -> npt.NDArray[Any]:
        """Return a storage chunk, reading it now if the prefetch did not."""
        chunk = self._chunks.get(key)
        if chunk is None:
            decoder = self._decoder(data_idx, binding)
            if decoder is not None:
                chunk = decoder.read(key[1])
            else:
                chunk = binding.reader[region]
            self._chunks[key] = chunk
        return chunk

    def _assemble(
        self,
        data_idx: int,
        binding: ReaderBinding,
        sample_idx: int,
        bounds: tuple[tuple[int, int], ...],
    ) -> npt.NDArray[Any]:
        geometry = self._geometry(data_idx, binding)
        regions, touched = geometry.box(sample_idx, bounds)
        if len(touched) == 1:  # inside one chunk: a view, no copy
            index, chunk_region = touched[0]
            chunk = self._chunk(data_idx, binding, (data_idx, index), chunk_region)
            view = tuple(
                slice(lo - piece.start, hi - piece.start)
                for (lo, hi), piece in zip(regions, chunk_region, strict=True)
            )
            return geometry.canonical(chunk[view])
        out = np.empty(tuple(r[1] - r[0] for r in regions), dtype=binding.reader.dtype)
        for index, chunk_region in touched:
            if not geometry.holds_any(index, self.channels):
                continue  # channels the caller drops: left undefined
            chunk = self._chunk(data_idx, binding, (data_idx, index), chunk_region)
            src, dst = [], []
            for (lo, hi), piece in zip(regions, chunk_region, strict=True):
                start, stop = max(lo, piece.start), min(hi, piece.stop)
                src.append(slice(start - piece.start, stop - piece.start))
                dst.append(slice(start - lo, stop - lo))
            out[tuple(dst)] = chunk[tuple(src)]
        return geometry.canonical(out)
