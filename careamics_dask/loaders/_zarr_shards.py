"""Inner chunks of sharded Zarr v3 arrays, one byte range each.

A shard holds many inner chunks and an index of where each lies (``offset,
nbytes`` pairs, at the shard's end or start, usually with a CRC32C checksum). A
patch needs a few inner chunks, not its whole shard: a :class:`ShardLayout` reads a
shard's index once (kept per process) and then each wanted inner chunk with one
positioned read (local files) or one byte-range request (remote stores, through
the store zarr opened), decoded on the calling thread by the inner codecs'
synchronous decoders. It applies where that is exact: a sharding codec
that is the array's only array-to-bytes step (no array-to-array codec before it),
inner codecs ``bytes`` plus bytes-to-bytes codecs that decode synchronously, and an
index encoded as ``bytes`` (little-endian) with an optional ``crc32c``. Anything
else keeps reading whole shards through the region reader.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from careamics_dask.cache import LRUCache

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt
    from zarr.codecs import ShardingCodec
    from zarr.types import AnyArray

__all__ = ["ShardLayout"]

_MISSING = np.uint64(2**64 - 1)
"""Offset and size of an inner chunk that was never written (the fill value)."""
_MAX_INDEXES = 4096
"""Shard indexes one layout keeps decoded (16 bytes per inner chunk each)."""


class ShardLayout:
    """Where the inner chunks of one local sharded array lie, and how to decode them.

    Build it with :meth:`for_array`, which returns None where it does not apply.

    Parameters
    ----------
    reads : LocalBytes or StoreBytes
        Reads byte ranges of the shards.
    array : zarr.Array
        The opened sharded array.
    sharding : zarr.codecs.ShardingCodec
        Its sharding codec.
    decode : callable
        Turns an inner chunk's stored bytes into its flat pixels.
    checksum : bool
        Whether the index ends with a CRC32C checksum.
    """

    def __init__(
        self,
        reads: LocalBytes | StoreBytes,
        array: AnyArray,
        sharding: ShardingCodec,
        decode: Callable[[bytes], npt.NDArray[Any]],
        *,
        checksum: bool,
    ) -> None:
        self._reads = reads
        self._prefix = f"{array.store_path.path}/" if array.store_path.path else ""
        self._encode_key = array.metadata.encode_chunk_key
        self.chunks = tuple(int(c) for c in sharding.chunk_shape)
        shards = tuple(int(s) for s in array.shards or ())
        self._per_shard = tuple(
            s // c for s, c in zip(shards, self.chunks, strict=True)
        )
        self._n_inner = math.prod(self._per_shard)
        self._checksum = checksum
        self._index_bytes = 16 * self._n_inner + (4 if checksum else 0)
        self._at_end = sharding.index_location.value == "end"
        self._decode = decode
        self._indexes: LRUCache[str, npt.NDArray[np.uint64] | None] = LRUCache(
            _MAX_INDEXES
        )
        # one fetch per shard index, even when threads want it at once
        self._fetching: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @classmethod
    def for_array(cls, array: AnyArray, root: str | None) -> ShardLayout | None:
        """Return the layout of a sharded array, or None.

        Parameters
        ----------
        array : zarr.Array
            An opened array.
        root : str or None
            The local store's root, ending with a separator; None: read through
            the array's own store (remote).

        Returns
        -------
        ShardLayout or None
            None for unsharded arrays and for codecs this path does not decode.
        """
        from zarr.codecs import BytesCodec, Crc32cCodec, ShardingCodec

        if array.shards is None or array.metadata.zarr_format != 3:
            return None
        codecs = array.metadata.codecs
        if len(codecs) != 1 or not isinstance(codecs[0], ShardingCodec):
            return None
        sharding = codecs[0]
        index = sharding.index_codecs
        if not index or not isinstance(index[0], BytesCodec):
            return None
        if index[0].endian is not None and index[0].endian.value != "little":
            return None
        checksum = len(index) == 2 and isinstance(index[1], Crc32cCodec)
        if len(index) > 1 + checksum:
            return None
        decode = _inner_decoder(array, sharding)
        if decode is None:
            return None
        reads: LocalBytes | StoreBytes = (
            StoreBytes(array.store_path.store) if root is None else LocalBytes(root)
        )
        return cls(reads, array, sharding, decode, checksum=checksum)

    def read(self, index: tuple[int, ...]) -> npt.NDArray[Any] | None:
        """Return inner chunk ``index`` (of the inner-chunk grid) as flat pixels.

        Parameters
        ----------
        index : tuple of int
            The inner chunk's position in the array's inner-chunk grid.

        Returns
        -------
        numpy.ndarray or None
            Its flat pixels, or None where the chunk (or its shard) was never
            written: the fill value.

        Raises
        ------
        ValueError
            When the shard index is truncated or its checksum does not match.
        """
        shard = tuple(i // n for i, n in zip(index, self._per_shard, strict=True))
        inner = tuple(i % n for i, n in zip(index, self._per_shard, strict=True))
        path = self._prefix + self._encode_key(shard)
        offsets = self._index(path)
        if offsets is None:
            return None
        slot = int(np.ravel_multi_index(inner, self._per_shard))
        offset, nbytes = offsets[slot]
        if offset == _MISSING and nbytes == _MISSING:
            return None
        data = self._reads.range(path, int(offset), int(nbytes))
        if len(data) != int(nbytes):
            raise ValueError(
                f"inner chunk {inner} of shard {path} is truncated: expected "
                f"{int(nbytes)} bytes at offset {int(offset)}, got {len(data)}"
            )
        return self._decode(data)

    def _index(self, path: str) -> npt.NDArray[np.uint64] | None:
        """Return a shard's ``(offset, nbytes)`` per inner chunk; None if missing."""
        if path in self._indexes:
            return self._indexes.get(path)
        with self._guard:
            lock = self._fetching.setdefault(path, threading.Lock())
        with lock:
            if path in self._indexes:  # another thread fetched it meanwhile
                return self._indexes.get(path)
            try:
                return self._fetch_index(path)
            finally:
                with self._guard:
                    self._fetching.pop(path, None)

    def _fetch_index(self, path: str) -> npt.NDArray[np.uint64] | None:
        raw = self._reads.index(path, self._index_bytes, at_end=self._at_end)
        if raw is None:
            self._indexes.replace(path, None)
            return None
        if len(raw) != self._index_bytes:
            raise ValueError(
                f"shard {path} is truncated: its index of {self._index_bytes} bytes "
                f"has {len(raw)}"
            )
        if self._checksum:
            import google_crc32c  # zarr's own checksum library

            body, stored = raw[:-4], raw[-4:]
            if np.uint32(google_crc32c.value(body)).tobytes() != stored:
                raise ValueError(f"the index checksum of shard {path} does not match")
            raw = body
        offsets = np.frombuffer(raw, dtype="<u8").reshape(self._n_inner, 2)
        self._indexes.replace(path, offsets)
        return offsets


class LocalBytes:
    """Byte ranges of shard files in a local store (positioned reads).

    Parameters
    ----------
    root : str
        The store's root, ending with a separator.
    """

    def __init__(self, root: str) -> None:
        self._root = root

    def index(self, key: str, nbytes: int, *, at_end: bool) -> bytes | None:
        """Return a shard's index bytes (its last or first ``nbytes``), or None."""
        try:
            with open(self._root + key, "rb", buffering=0) as file:
                size = os.fstat(file.fileno()).st_size
                start = max(0, size - nbytes) if at_end else 0
                return os.pread(file.fileno(), nbytes, start)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def range(self, key: str, offset: int, nbytes: int) -> bytes:
        """Return ``nbytes`` of a shard from ``offset``."""
        with open(self._root + key, "rb", buffering=0) as file:
            return os.pread(file.fileno(), nbytes, offset)


class StoreBytes:
    """Byte ranges of shards through a zarr store (remote: one request each).

    Parameters
    ----------
    store : zarr.abc.store.Store
        The array's store.
    """

    def __init__(self, store: Any) -> None:
        from zarr.core.buffer import default_buffer_prototype

        self._store = store
        self._prototype = default_buffer_prototype()

    def _get(self, key: str, byte_range: Any) -> bytes | None:
        from zarr.core.sync import sync

        found = sync(self._store.get(key, self._prototype, byte_range=byte_range))
        return None if found is None else found.to_bytes()

    def index(self, key: str, nbytes: int, *, at_end: bool) -> bytes | None:
        """Return a shard's index bytes (its last or first ``nbytes``), or None."""
        from zarr.abc.store import RangeByteRequest, SuffixByteRequest

        wanted = SuffixByteRequest(nbytes) if at_end else RangeByteRequest(0, nbytes)
        return self._get(key, wanted)

    def range(self, key: str, offset: int, nbytes: int) -> bytes:
        """Return ``nbytes`` of a shard from ``offset``."""
        from zarr.abc.store import RangeByteRequest

        data = self._get(key, RangeByteRequest(offset, offset + nbytes))
        if data is None:
            raise FileNotFoundError(f"shard {key} is gone from the store")
        return data


def _inner_decoder(
    array: AnyArray, sharding: ShardingCodec
) -> Callable[[bytes], npt.NDArray[Any]] | None:
    """Return ``stored bytes -> flat pixels`` for a shard's inner codecs, or None."""
    from zarr.abc.codec import ArrayBytesCodec, BytesBytesCodec, SupportsSyncCodec
    from zarr.codecs import BytesCodec, ZstdCodec
    from zarr.core.buffer import default_buffer_prototype

    codecs = sharding.codecs
    if not codecs or not isinstance(codecs[0], BytesCodec):
        return None  # an array-to-array codec first, or another array-to-bytes one
    compressors = codecs[1:]
    if not all(
        isinstance(c, BytesBytesCodec) and isinstance(c, SupportsSyncCodec)
        for c in compressors
    ):
        return None
    bytes_codec: ArrayBytesCodec = codecs[0]
    native = np.dtype(array.dtype)
    stored_dtype = native
    endian = cast("BytesCodec", bytes_codec).endian
    if endian is not None and native.itemsize > 1:
        stored_dtype = native.newbyteorder("<" if endian.value == "little" else ">")
    if len(compressors) <= 1 and all(isinstance(c, ZstdCodec) for c in compressors):
        zstd = cast("ZstdCodec", compressors[0])._zstd_codec if compressors else None

        def raw(data: bytes) -> npt.NDArray[Any]:
            pixels = np.frombuffer(
                zstd.decode(data) if zstd is not None else data, dtype=stored_dtype
            )
            return pixels if pixels.dtype == native else pixels.astype(native)

        return raw
    prototype = default_buffer_prototype()
    shard_spec = array.metadata.get_chunk_spec(
        (0,) * array.ndim, array._async_array.config, prototype
    )
    spec = dataclasses.replace(shard_spec, shape=tuple(sharding.chunk_shape))
    steps = [cast("Any", c) for c in compressors[::-1]]

    def generic(data: bytes) -> npt.NDArray[Any]:
        buffer = prototype.buffer.from_bytes(data)
        for codec in steps:
            buffer = codec._decode_sync(buffer, spec)
        pixels = buffer.as_numpy_array().view(stored_dtype)
        return pixels if pixels.dtype == native else pixels.astype(native)

    return generic
