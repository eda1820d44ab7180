"""Inner chunks of sharded Zarr v3 arrays on local disk, one byte range each.

A shard holds many inner chunks and an index of where each lies (``offset,
nbytes`` pairs, at the shard's end or start, usually with a CRC32C checksum). A
patch needs a few inner chunks, not its whole shard: a :class:`ShardLayout` reads a
shard's index once (kept per process) and then each wanted inner chunk with one
positioned read, decoded on the calling thread by the inner codecs' synchronous
decoders. It applies where that is exact: a plain local store, a sharding codec
that is the array's only array-to-bytes step (no array-to-array codec before it),
inner codecs ``bytes`` plus bytes-to-bytes codecs that decode synchronously, and an
index encoded as ``bytes`` (little-endian) with an optional ``crc32c``. Anything
else keeps reading whole shards through the region reader.
"""

from __future__ import annotations

import dataclasses
import math
import os
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
    root : str
        The local store's root, ending with a separator.
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
        root: str,
        array: AnyArray,
        sharding: ShardingCodec,
        decode: Callable[[bytes], npt.NDArray[Any]],
        *,
        checksum: bool,
    ) -> None:
        self._root = root
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

    @classmethod
    def for_array(cls, array: AnyArray, root: str) -> ShardLayout | None:
        """Return the layout of a sharded array in a local store, or None.

        Parameters
        ----------
        array : zarr.Array
            An opened array.
        root : str
            The local store's root, ending with a separator.

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
        return cls(root, array, sharding, decode, checksum=checksum)

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
        path = self._root + self._prefix + self._encode_key(shard)
        offsets = self._index(path)
        if offsets is None:
            return None
        slot = int(np.ravel_multi_index(inner, self._per_shard))
        offset, nbytes = offsets[slot]
        if offset == _MISSING and nbytes == _MISSING:
            return None
        with open(path, "rb", buffering=0) as file:
            data = os.pread(file.fileno(), int(nbytes), int(offset))
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
        try:
            with open(path, "rb", buffering=0) as file:
                size = os.fstat(file.fileno()).st_size
                start = size - self._index_bytes if self._at_end else 0
                if start < 0:
                    raise ValueError(
                        f"shard {path} is truncated: {size} bytes, shorter than its "
                        f"index of {self._index_bytes} bytes"
                    )
                raw = os.pread(file.fileno(), self._index_bytes, start)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            self._indexes.replace(path, None)
            return None
        if self._checksum:
            import google_crc32c  # zarr's own checksum library

            body, stored = raw[:-4], raw[-4:]
            if np.uint32(google_crc32c.value(body)).tobytes() != stored:
                raise ValueError(f"the index checksum of shard {path} does not match")
            raw = body
        offsets = np.frombuffer(raw, dtype="<u8").reshape(self._n_inner, 2)
        self._indexes.replace(path, offsets)
        return offsets


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
