"""Whole storage chunks of Zarr arrays, read and decoded without per-call overhead.

``zarr.Array.__getitem__`` costs about 0.4 ms per call on top of decoding (an
indexer, a round trip to zarr's event-loop thread, one ``asyncio.to_thread`` per
codec), which caps a patch reader at about 1,500 chunks/s per core where reading the
chunk file and decoding it take 0.2 ms. A :class:`ChunkDecoder` reads one whole
storage chunk through the store's synchronous ``get_sync`` and the codecs'
synchronous ``_decode_sync`` (zarr's ``SupportsGetSync`` and ``SupportsSyncCodec``
capabilities), on the calling thread. It applies only where that is exact: an
unsharded array read chunk by chunk, a store with synchronous reads, and codecs that
all decode synchronously with no array-to-array codec (v3), or a C-ordered numeric
v2 array. A sharded array in a local store is read by its inner chunks, each with
one byte range (:class:`~careamics_dask.loaders._zarr_shards.ShardLayout`), whatever
its Dask chunks are. Everything else keeps reading through the region reader.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from careamics_dask.cache import LRUCache
from careamics_dask.errors import SourceReadError
from careamics_dask.loaders._lazy import _bump_reads, format_region
from careamics_dask.loaders._zarr_codecs import raw_decoder, sync_decoder
from careamics_dask.loaders._zarr_shards import ShardLayout
from careamics_dask.loaders.capabilities import SupportsZarrArray

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy.typing as npt
    from zarr.abc.store import SupportsGetSync
    from zarr.core.buffer import Buffer
    from zarr.types import AnyArray

    from careamics_dask.loaders._lazy import RegionReader
    from careamics_dask.loaders.capabilities import Runner

__all__ = ["ChunkDecoder", "zarr_array_of"]

logger = logging.getLogger(__name__)

_MAX_KNOWN = 64
_MAX_KEYS = 1 << 16
"""Chunk keys a decoder remembers (its store paths, built once each)."""
_known: LRUCache[tuple[int, tuple[int, ...]], tuple[AnyArray, ChunkDecoder | None]] = (
    LRUCache(_MAX_KNOWN)
)
"""Decoders (or None) by opened array, per process: the checks run once per array."""


def zarr_array_of(reader: RegionReader) -> AnyArray | None:
    """Return the opened zarr array behind a Zarr region reader (None for others).

    Parameters
    ----------
    reader : RegionReader
        Any region reader.

    Returns
    -------
    zarr.Array or None
        The array the reader's own reads use, where it has one.
    """
    if not isinstance(reader, SupportsZarrArray):
        return None
    return reader.open_zarr_array()


class ChunkDecoder:
    """Read whole storage chunks of one Zarr array synchronously.

    Build it with :meth:`for_reader`, which returns None where this path does not
    apply.

    Parameters
    ----------
    reader : RegionReader
        The region reader (for messages and the chunk grid).
    array : zarr.Array
        The opened array.
    store : zarr.abc.store.SupportsGetSync
        The array's store, which reads synchronously.
    decode : callable
        Turns a chunk's stored bytes into a flat NumPy array.
    shards : ShardLayout, optional
        The inner-chunk layout of a sharded array: chunks are then its inner
        chunks.

    Attributes
    ----------
    chunks : tuple of int
        The chunk grid :meth:`read` indexes: the storage chunk, or the inner
        chunk of a sharded array (finer than the reader's Dask chunks).
    """

    def __init__(
        self,
        reader: RegionReader,
        array: AnyArray,
        store: SupportsGetSync,
        decode: Callable[[Buffer], npt.NDArray[Any]],
        shards: ShardLayout | None = None,
    ) -> None:
        from zarr.core.buffer import default_buffer_prototype

        self.reader = reader
        self._store = store
        self._prefix = f"{array.store_path.path}/" if array.store_path.path else ""
        self._root = _local_root(store)
        # local files of a plain zstd (or uncompressed) v3 array: bytes in, pixels out
        self._raw = raw_decoder(array) if self._root is not None else None
        self._keys: dict[tuple[int, ...], str] = {}
        self._encode_key = array.metadata.encode_chunk_key
        self._decode = decode
        self._prototype = default_buffer_prototype()
        self._shards = shards
        self._chunk_shape = tuple(int(c) for c in array.chunks)  # inner, if sharded
        self.chunks = self._chunk_shape
        # index of the last chunk along each axis, where chunks may be cropped
        self._last = tuple(
            -(-s // c) - 1 for c, s in zip(self._chunk_shape, reader.shape, strict=True)
        )
        self._dtype = np.dtype(reader.dtype)
        fill = array.metadata.fill_value
        self._fill = 0 if fill is None else fill

    @classmethod
    def for_reader(cls, reader: RegionReader) -> ChunkDecoder | None:
        """Return a decoder for a Zarr region reader, or None where it cannot apply.

        Parameters
        ----------
        reader : RegionReader
            Any region reader.

        Returns
        -------
        ChunkDecoder or None
            None for non-Zarr readers, sharded arrays outside a local store, read
            units other than the storage chunk (unsharded arrays), stores without
            synchronous reads, and codecs without synchronous decoding.
        """
        try:
            array = zarr_array_of(reader)
        except Exception:  # the region reader will raise a proper error
            return None
        if array is None:
            return None
        key = (id(array), reader.chunks)
        known = _known.get(key)
        if known is not None and known[0] is array:
            return known[1]
        decoder = cls._build(reader, array)
        _known.replace(key, (array, decoder))
        return decoder

    @classmethod
    def _build(cls, reader: RegionReader, array: AnyArray) -> ChunkDecoder | None:
        from zarr.abc.store import SupportsGetSync

        store = array.store_path.store
        if array.shards is not None:
            # local files read directly; a remote store through its own requests
            root = _local_root(store)
            remote = bool(getattr(reader, "over_network", False))
            if root is None and not remote:
                return None
            shards = ShardLayout.for_array(array, root)
            if shards is None:
                return None
            return cls(
                reader, array, cast("SupportsGetSync", store), _never_called, shards
            )
        if not isinstance(store, SupportsGetSync):
            return None
        if tuple(array.chunks) != reader.chunks:
            return None
        decode = sync_decoder(array)
        if decode is None:
            return None
        return cls(reader, array, store, decode)

    def read(self, index: tuple[int, ...]) -> npt.NDArray[Any]:
        """Return storage chunk ``index``, cropped to the array's bounds.

        Parameters
        ----------
        index : tuple of int
            The chunk's position in the chunk grid.

        Returns
        -------
        numpy.ndarray
            The chunk's pixels (a missing chunk is the fill value).

        Raises
        ------
        SourceReadError
            When the chunk cannot be read or decoded, naming the source, the array
            and the region.
        """
        _bump_reads()
        try:
            if self._shards is not None:
                full = self._inner(self._shards.read(index))
            else:
                full = self._read_full(self._key(index))
        except Exception as exc:
            raise self._failed(index, exc) from exc
        return self._finish(index, full)

    def read_many(
        self, indexes: Sequence[tuple[int, ...]], run: Runner
    ) -> list[npt.NDArray[Any]]:
        """Return several chunks; a sharded array's neighbours in one request each.

        Parameters
        ----------
        indexes : sequence of tuple of int
            Chunks, by their position in the chunk grid.
        run : callable
            ``run(function, items)`` applies ``function`` to each item and returns
            the results in order, on threads where the caller has them.

        Returns
        -------
        list of numpy.ndarray
            The chunks' pixels, in order, as :meth:`read` returns them.

        Raises
        ------
        SourceReadError
            When a chunk cannot be read or decoded (naming the first of the
            chunks asked for, for a shard's index).
        """
        if self._shards is None or len(indexes) <= 1:
            return run(self.read, indexes)
        for _ in indexes:
            _bump_reads()
        try:
            flats = self._shards.read_many(indexes, run)
        except Exception as exc:
            raise self._failed(indexes[0], exc) from exc
        return [
            self._finish(index, self._inner(flat))
            for index, flat in zip(indexes, flats, strict=True)
        ]

    def _key(self, index: tuple[int, ...]) -> str:
        key = self._keys.get(index)
        if key is None:
            key = self._prefix + self._encode_key(index)
            if len(self._keys) < _MAX_KEYS:
                self._keys[index] = key
        return key

    def _inner(self, flat: npt.NDArray[Any] | None) -> npt.NDArray[Any]:
        """Shape an inner chunk's flat pixels (None: the fill value)."""
        if flat is None:
            return np.full(self._chunk_shape, self._fill, dtype=self._dtype)
        return flat.reshape(self._chunk_shape)

    def _failed(self, index: tuple[int, ...], exc: Exception) -> SourceReadError:
        """Return the error of a chunk that could not be read, naming the fix."""
        reader = self.reader
        region = tuple(
            slice(i * c, min((i + 1) * c, s))
            for i, c, s in zip(index, self._chunk_shape, reader.shape, strict=True)
        )
        text = format_region(region)
        fix = (
            "check that the server is reachable; for slow or throttling servers "
            "raise the retries and timeouts through storage_options, e.g. for "
            "s3:// {'config_kwargs': {'retries': {'max_attempts': 10, 'mode': "
            "'adaptive'}, 'read_timeout': 120}}."
            if getattr(reader, "over_network", False)
            else "check the source with the library that wrote it, or regenerate it."
        )
        return SourceReadError(
            f"Failed to read region {text} of {reader.describe()}: "
            f"{type(exc).__name__}: {exc}. The data may be corrupt, truncated "
            f"or no longer reachable; {fix}",
            source=reader.source,
            array=reader.array,
            region=text,
        )

    def _finish(
        self, index: tuple[int, ...], full: npt.NDArray[Any]
    ) -> npt.NDArray[Any]:
        """Crop a chunk at the array's edge and give it the reader's dtype."""
        if any(map(_at_edge, index, self._last)):  # the array's last chunks
            crop = tuple(
                slice(0, min(c, s - i * c))
                for i, c, s in zip(
                    index, self._chunk_shape, self.reader.shape, strict=True
                )
            )
            full = full[crop]
        return full if full.dtype == self._dtype else full.astype(self._dtype)

    def _read_full(self, key: str) -> npt.NDArray[Any]:
        """Read and decode one whole chunk (the fill value when it is missing)."""
        if self._root is not None:
            # a plain local store: its files, without LocalStore's path objects
            data = _read_local_bytes(self._root + key)
            if data is None:
                return np.full(self._chunk_shape, self._fill, dtype=self._dtype)
            if self._raw is not None:
                return self._raw(data).reshape(self._chunk_shape)
            return self._decode(self._prototype.buffer.from_bytes(data)).reshape(
                self._chunk_shape
            )
        stored = self._store.get_sync(key, prototype=self._prototype)
        if stored is None:
            return np.full(self._chunk_shape, self._fill, dtype=self._dtype)
        return self._decode(stored).reshape(self._chunk_shape)


def _never_called(stored: Buffer) -> npt.NDArray[Any]:
    """Stand in for a sharded array's decoder: its layout decodes inner chunks."""
    raise AssertionError("a sharded array's chunks are decoded by its ShardLayout")


def _at_edge(index: int, last: int) -> bool:
    return index >= last


def _local_root(store: Any) -> str | None:
    """Return ``root/`` of a plain local store (files read directly), else None."""
    from zarr.storage import LocalStore

    if type(store) is not LocalStore:
        return None
    return f"{store.root}{os.sep}"


def _read_local_bytes(path: str) -> bytes | None:
    """Read a chunk file of a local store; None when it is missing.

    The same bytes ``LocalStore.get_sync`` returns, without its path objects: a
    third of the per-chunk cost outside decoding.
    """
    try:
        with open(path, "rb", buffering=0) as file:
            data: bytes = file.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return data
