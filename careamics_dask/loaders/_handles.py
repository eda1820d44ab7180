"""A per-process cache of opened files and stores, so tasks carry paths, not handles.

Readers sent to Dask workers hold only a description of their source (a path, an
array name). The first read in a process opens the source through
:func:`cached_open` and later reads reuse it, like xarray's ``CachingFileManager``.
The cache is bounded; evicted objects with a ``close`` method are closed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, TypeVar

from careamics_dask.cache import LRUCache

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

__all__ = ["cached_open", "clear_handle_cache", "handle_cache_size"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_OPEN = 64


def _close_evicted(key: Hashable, obj: object) -> None:
    logger.debug("closing cached handle %r", key)
    _close(obj)


_cache: LRUCache[Hashable, Any] = LRUCache(_MAX_OPEN, on_evict=_close_evicted)


def cached_open(key: Hashable, opener: Callable[[], T]) -> T:
    """Return the cached object for ``key``, opening it with ``opener`` if needed.

    Parameters
    ----------
    key : Hashable
        Identifies the source; include anything that makes an old handle stale
        (such as the file's modification time).
    opener : Callable[[], T]
        Opens the source; called at most once per key while it stays cached.

    Returns
    -------
    T
        The opened object.

    Examples
    --------
    >>> cached_open(("example", 1), lambda: [1, 2, 3])
    [1, 2, 3]
    >>> clear_handle_cache()
    """
    opened: T = _cache.get_or_create(key, opener)
    return opened


def _close(obj: object) -> None:
    close = getattr(obj, "close", None)
    if callable(close):
        try:
            close()
        except OSError as exc:  # a handle to a vanished file cannot be closed twice
            logger.debug("ignoring error while closing %r: %s", obj, exc)


def clear_handle_cache() -> None:
    """Close and forget every cached handle of this process.

    Examples
    --------
    >>> clear_handle_cache()
    >>> handle_cache_size()
    0
    """
    _cache.clear()


def handle_cache_size() -> int:
    """Return how many handles this process keeps open.

    Returns
    -------
    int
        Number of cached handles.
    """
    return len(_cache)
