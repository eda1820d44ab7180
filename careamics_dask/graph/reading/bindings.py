"""What is kept per reader binding across batches: geometries and fast readers.

A worker unpickles a plan once and keeps it, so its bindings, and what is kept for
them (chunk readers, TensorStore box readers, geometries and the chunk regions they
remember), serve every batch. Each is built once per binding and kept in a bounded
per-process cache; :class:`BindingCaches` keeps them once more per patch reader, so
that a batch asks each cache once per stack, never per patch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from careamics_dask.cache import LRUCache
from careamics_dask.graph.reading.geometry import Geometry
from careamics_dask.loaders import box_reader_of, chunk_reader_of, read_chunks_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from careamics_dask.graph.reading.sources import StackSource
    from careamics_dask.loaders import BoxReader, ChunkReader, ReaderBinding

__all__ = ["BindingCaches", "box_reader_for", "chunk_reader_for", "geometry_for"]

_MAX_BINDINGS = 64

_Kept = LRUCache[int, tuple["ReaderBinding", Any]]
_geometries: _Kept = LRUCache(_MAX_BINDINGS)
_chunk_readers: _Kept = LRUCache(_MAX_BINDINGS)
_box_readers: _Kept = LRUCache(_MAX_BINDINGS)


def _kept(
    cache: _Kept, binding: ReaderBinding, build: Callable[[ReaderBinding], Any]
) -> Any:
    """Return ``build(binding)``, built once per binding and kept in ``cache``.

    The cache holds the binding itself, so its ``id`` is not reused while the entry
    lives.
    """
    key = id(binding)
    found = cache.get(key)
    if found is not None and found[0] is binding:
        return found[1]
    value = build(binding)
    cache.replace(key, (binding, value))
    return value


def chunk_reader_for(binding: ReaderBinding) -> ChunkReader | None:
    """Return the chunk reader of a binding (or None), kept across batches.

    Parameters
    ----------
    binding : ReaderBinding
        A stack's reader binding.

    Returns
    -------
    ChunkReader or None
        What :func:`careamics_dask.loaders.chunk_reader_of` gives for its reader.
    """
    reader: ChunkReader | None = _kept(
        _chunk_readers, binding, lambda b: chunk_reader_of(b.reader)
    )
    return reader


def box_reader_for(
    binding: ReaderBinding, backend: str, cache_bytes: int
) -> BoxReader | None:
    """Return the box reader of a binding (or None), kept across batches.

    Parameters
    ----------
    binding : ReaderBinding
        A stack's reader binding.
    backend : {"auto", "tensorstore", "zarr"}
        The batching backend.
    cache_bytes : int
        This process's budget for decoded chunks.

    Returns
    -------
    BoxReader or None
        What :func:`careamics_dask.loaders.box_reader_of` gives for its reader.
    """
    by_setting: dict[tuple[str, int], BoxReader | None] = _kept(
        _box_readers, binding, lambda b: {}
    )
    setting = (backend, cache_bytes)
    if setting not in by_setting:
        by_setting[setting] = box_reader_of(
            binding.reader, backend=backend, cache_bytes=cache_bytes
        )
    return by_setting[setting]


def geometry_for(
    binding: ReaderBinding, chunks: tuple[int, ...] | None = None
) -> Geometry:
    """Return the geometry of a binding, kept across batches in this process.

    Parameters
    ----------
    binding : ReaderBinding
        A stack's reader binding.
    chunks : tuple of int, optional
        The chunk grid reads use, where it is not the reader's (a chunk reader's
        inner chunks of a sharded array).

    Returns
    -------
    Geometry
        Its geometry.
    """
    by_grid: dict[tuple[int, ...] | None, Geometry] = _kept(
        _geometries, binding, lambda b: {}
    )
    geometry = by_grid.get(chunks)
    if geometry is None:
        geometry = by_grid[chunks] = Geometry(binding, chunks)
    return geometry


class BindingCaches:
    """The per-stack state every read path of a patch reader shares.

    Attributes
    ----------
    sources : list of StackSource
        The image stacks, indexed by a patch's ``data_idx``.
    channels : frozenset of int or None
        The only channels the caller keeps (None: all).
    backend : str
        The batching backend.
    chunk_cache_bytes : int
        This process's budget for chunks TensorStore keeps decoded.
    """

    sources: list[StackSource]
    channels: frozenset[int] | None
    backend: str
    chunk_cache_bytes: int
    _geometries: dict[int, Geometry]
    _decoders: dict[int, ChunkReader | None]
    _box_readers: dict[int, BoxReader | None]

    def _boxes(self, data_idx: int, binding: ReaderBinding) -> BoxReader | None:
        if data_idx not in self._box_readers:
            self._box_readers[data_idx] = box_reader_for(
                binding, self.backend, self.chunk_cache_bytes
            )
        return self._box_readers[data_idx]

    def _geometry(self, data_idx: int, binding: ReaderBinding) -> Geometry:
        geometry = self._geometries.get(data_idx)
        if geometry is None:
            decoder = self._decoder(data_idx, binding)
            grid = read_chunks_of(binding.reader) if decoder is None else decoder.chunks
            geometry = self._geometries[data_idx] = geometry_for(binding, grid)
        return geometry

    def _decoder(self, data_idx: int, binding: ReaderBinding) -> ChunkReader | None:
        if data_idx not in self._decoders:
            self._decoders[data_idx] = chunk_reader_for(binding)
        return self._decoders[data_idx]
