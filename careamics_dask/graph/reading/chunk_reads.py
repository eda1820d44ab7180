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
    from collections.abc import Callable, Sequence

    import numpy.typing as npt

    from careamics_dask.graph.reading.geometry import Region
    from careamics_dask.loaders import ReaderBinding, SupportsRegionRead
    from careamics_dask.loaders.capabilities import Runner

__all__ = ["ChunkKey", "ChunkReads"]

logger = logging.getLogger(__name__)

ChunkKey = tuple[int, tuple[int, ...]]
"""A storage chunk of a batch: the stack's ``data_idx`` and the chunk's index."""


def _in_turn(function: Any, items: Sequence[Any]) -> list[Any]:
    """Apply ``function`` to each item on this thread (a :data:`Runner`)."""
    return [function(item) for item in items]


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
        remote: dict[int, list[ChunkKey]] = {}
        threaded: list[ChunkKey] = []
        for key in wanted:
            binding = self.sources[key[0]].binding
            has_decoder = (
                binding is not None and self._decoder(key[0], binding) is not None
            )
            if not has_decoder:
                threaded.append(key)
            elif self.sources[key[0]].over_network:
                # decoders of remote arrays wait on the network: on threads, and
                # with neighbours of one shard in one request
                remote.setdefault(key[0], []).append(key)
            else:
                decoded.append(key)
        for key in decoded:
            decoder = self._decoders[key[0]]
            if decoder is not None:  # always, by construction
                self._chunks[key] = decoder.read(key[1])

        def region(key: ChunkKey) -> npt.NDArray[Any]:
            reader, box = wanted[key]
            return reader[box]

        if self.threads == 1 or (not remote and len(threaded) <= 1):
            self._read_with(_in_turn, remote, threaded, region)
        else:
            with ThreadPoolExecutor(self.threads) as pool:

                def on_threads(function: Any, items: Sequence[Any]) -> list[Any]:
                    if len(items) <= 1:
                        return _in_turn(function, items)
                    return list(pool.map(function, items))

                self._read_with(on_threads, remote, threaded, region)
        logger.debug("read %d storage chunks", len(wanted))
        return len(wanted)

    def _read_with(
        self,
        run: Runner,
        remote: dict[int, list[ChunkKey]],
        threaded: list[ChunkKey],
        region: Callable[[ChunkKey], npt.NDArray[Any]],
    ) -> None:
        """Read remote decoders' chunks and region reads through ``run``."""
        for data_idx, keys in remote.items():
            decoder = self._decoders[data_idx]
            if decoder is not None:  # always, by construction
                chunks = decoder.read_many([key[1] for key in keys], run)
                self._chunks.update(zip(keys, chunks, strict=True))
        self._chunks.update(zip(threaded, run(region, threaded), strict=True))

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
