"""Inner chunks of sharded Zarr v3 arrays, one byte range each.

A shard holds many inner chunks and an index of where each lies (``offset,
nbytes`` pairs, at the shard's end or start, usually with a CRC32C checksum). A
patch needs a few inner chunks, not its whole shard: a :class:`ShardLayout` reads a
shard's index once (kept per process) and then each wanted inner chunk with one
positioned read (local files) or one byte-range request (remote stores, through
the store zarr opened), decoded on the calling thread by the inner codecs'
synchronous decoders; :meth:`ShardLayout.read_many` fetches the inner chunks one
batch wants from a shard with as few requests as their bytes allow
(:func:`~careamics_dask.loaders._shard_bytes.coalesce`). It applies where that
is exact: a sharding codec that is the array's only array-to-bytes step (no
array-to-array codec before it), inner codecs ``bytes`` plus bytes-to-bytes codecs
that decode synchronously, and an index encoded as ``bytes`` (little-endian) with
an optional ``crc32c``. Anything else keeps reading whole shards through the region
reader.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.cache import LRUCache
from careamics_dask.loaders._shard_bytes import LocalBytes, StoreBytes, coalesce
from careamics_dask.loaders._zarr_codecs import inner_decoder

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy.typing as npt
    from zarr.codecs import ShardingCodec
    from zarr.types import AnyArray

    from careamics_dask.loaders.capabilities import Runner

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
        decode = inner_decoder(array, sharding)
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
        path, slot = self._locate(index)
        offsets = self._index(path)
        if offsets is None:
            return None
        offset, nbytes = offsets[slot]
        if offset == _MISSING and nbytes == _MISSING:
            return None
        data = self._reads.range(path, int(offset), int(nbytes))
        if len(data) != int(nbytes):
            raise ValueError(
                f"inner chunk {index} (shard {path}) is truncated: expected "
                f"{int(nbytes)} bytes at offset {int(offset)}, got {len(data)}"
            )
        return self._decode(data)

    def read_many(
        self, indexes: Sequence[tuple[int, ...]], run: Runner
    ) -> list[npt.NDArray[Any] | None]:
        """Return several inner chunks, neighbours of one shard in one request.

        Parameters
        ----------
        indexes : sequence of tuple of int
            Inner chunks, by their position in the inner-chunk grid.
        run : callable
            ``run(function, items)`` applies ``function`` to each item and returns
            the results in order (on threads, where the caller has them): shard
            indexes are fetched, and then the coalesced ranges, through it.

        Returns
        -------
        list of numpy.ndarray or None
            Flat pixels per index, in order (None: the fill value).

        Raises
        ------
        ValueError
            When a shard index is truncated or its checksum does not match, or an
            inner chunk is truncated.
        """
        wanted: dict[str, list[tuple[int, int]]] = {}
        for position, index in enumerate(indexes):
            path, slot = self._locate(index)
            wanted.setdefault(path, []).append((position, slot))
        paths = list(wanted)
        found = dict(zip(paths, run(self._index, paths), strict=True))
        out: list[npt.NDArray[Any] | None] = [None] * len(indexes)
        requests: list[tuple[str, int, int, list[tuple[int, int, int]]]] = []
        for path, members in wanted.items():
            offsets = found[path]
            if offsets is None:
                continue  # the shard was never written
            spans = sorted(
                (int(offsets[slot][0]), int(offsets[slot][1]), position)
                for position, slot in members
                if not (offsets[slot][0] == _MISSING and offsets[slot][1] == _MISSING)
            )
            requests.extend(coalesce(path, spans))

        def fetch(
            request: tuple[str, int, int, list[tuple[int, int, int]]],
        ) -> list[tuple[int, npt.NDArray[Any]]]:
            path, start, stop, parts = request
            data = self._reads.range(path, start, stop - start)
            if len(data) != stop - start:
                raise ValueError(
                    f"shard {path} is truncated: expected {stop - start} bytes at "
                    f"offset {start}, got {len(data)}"
                )
            view = memoryview(data)
            return [
                (position, self._decode(bytes(view[lo - start : lo - start + n])))
                for lo, n, position in parts
            ]

        for decoded in run(fetch, requests):
            for position, pixels in decoded:
                out[position] = pixels
        return out

    def _locate(self, index: tuple[int, ...]) -> tuple[str, int]:
        """Return the shard key and the index slot of an inner chunk."""
        shard = tuple(i // n for i, n in zip(index, self._per_shard, strict=True))
        inner = tuple(i % n for i, n in zip(index, self._per_shard, strict=True))
        path = self._prefix + self._encode_key(shard)
        return path, int(np.ravel_multi_index(inner, self._per_shard))

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
