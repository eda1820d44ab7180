"""Byte ranges of Zarr shards, and neighbouring ranges coalesced into one request.

Local shards are read with positioned reads, remote ones with range requests.

A remote store charges per request (a round trip, and client and server CPU), so
the inner chunks one batch wants from one shard are fetched together where their
bytes lie close: the gap between them is read and dropped, cheaper than another
request up to :data:`COALESCE_GAP`.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["COALESCE_GAP", "COALESCE_MAX", "LocalBytes", "StoreBytes", "coalesce"]

Request = tuple[str, int, int, list[tuple[int, int, int]]]
"""One range request: key, start, stop and its ``(offset, nbytes, position)`` parts."""

COALESCE_GAP = 1 << 20
"""Bytes between two wanted inner chunks of one shard that one request still spans
(object_store's default coalescing distance): reading them costs less than a second
round trip."""
COALESCE_MAX = 16 << 20
"""The most bytes one coalesced request reads."""


def coalesce(path: str, spans: list[tuple[int, int, int]]) -> list[Request]:
    """Merge sorted ``(offset, nbytes, position)`` spans of one shard into requests.

    Spans join the request before them while the gap is at most
    :data:`COALESCE_GAP` and the request stays within :data:`COALESCE_MAX` bytes.

    Parameters
    ----------
    path : str
        The shard's key.
    spans : list of tuple of int
        ``(offset, nbytes, position)`` of each wanted inner chunk, sorted by
        offset; ``position`` is passed through.

    Returns
    -------
    list of tuple
        ``(path, start, stop, parts)`` per request, ``parts`` the spans it holds.

    Examples
    --------
    >>> [r[1:3] for r in coalesce("c/0", [(0, 10, 0), (10, 5, 1), (1 << 30, 5, 2)])]
    [(0, 15), (1073741824, 1073741829)]
    """
    requests: list[Request] = []
    for offset, nbytes, position in spans:
        if requests:
            _, start, stop, parts = requests[-1]
            end = max(stop, offset + nbytes)
            if offset - stop <= COALESCE_GAP and end - start <= COALESCE_MAX:
                parts.append((offset, nbytes, position))
                requests[-1] = (path, start, end, parts)
                continue
        requests.append((path, offset, offset + nbytes, [(offset, nbytes, position)]))
    return requests


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
