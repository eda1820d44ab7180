"""One bounded, thread-safe least-recently-used cache for every per-process cache.

File handles, chunk decoders, TensorStore handles, reader geometries, decoded Dask
blocks, MicroSplit tables and shared-memory slots are all kept per worker process and
dropped least recently used first. They differ only in what bounds them (a count or
a byte budget) and in what happens to a dropped value (a handle is closed): both are
arguments of :class:`LRUCache`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

__all__ = ["LRUCache"]

K = TypeVar("K", bound="Hashable")
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """A mapping that forgets its least recently used entries beyond a bound.

    Parameters
    ----------
    max_size : int
        The bound: the number of entries, or with ``weigh`` the total weight.
    weigh : Callable[[V], int], optional
        The weight of a value (its bytes, say). Without it every entry weighs 1.
        The most recent entry is kept even when it alone is over the bound.
    on_evict : Callable[[K, V], None], optional
        Called, outside the lock, with every entry the bound drops or
        :meth:`clear` forgets (to close a handle, say).

    Examples
    --------
    >>> cache = LRUCache[str, int](2)
    >>> cache.get_or_create("a", lambda: 1), cache.get_or_create("b", lambda: 2)
    (1, 2)
    >>> cache.get("a")
    1
    >>> cache.put("c", 3)
    3
    >>> sorted(cache.keys())
    ['a', 'c']
    """

    def __init__(
        self,
        max_size: int,
        *,
        weigh: Callable[[V], int] | None = None,
        on_evict: Callable[[K, V], None] | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError(
                f"LRUCache bound must be positive: expected max_size >= 1, got "
                f"{max_size}."
            )
        self.max_size = int(max_size)
        self._weigh = weigh
        self._on_evict = on_evict
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._weight = 0
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    @property
    def weight(self) -> int:
        """The total weight held now (the entry count without ``weigh``)."""
        return self._weight if self._weigh is not None else len(self._entries)

    def keys(self) -> list[K]:
        """Return the keys, least recently used first.

        Returns
        -------
        list
            A snapshot of the keys.
        """
        with self._lock:
            return list(self._entries)

    def get(self, key: K, default: V | None = None) -> V | None:
        """Return the value of ``key`` (marking it recently used), or ``default``.

        Parameters
        ----------
        key : Hashable
            The key.
        default : optional
            Returned when ``key`` is not cached.

        Returns
        -------
        object
            The cached value or ``default``.
        """
        with self._lock:
            if key not in self._entries:
                return default
            self._entries.move_to_end(key)
            return self._entries[key]

    def put(self, key: K, value: V) -> V:
        """Cache ``value`` under ``key`` unless a value is there already.

        Parameters
        ----------
        key : Hashable
            The key.
        value : object
            The value.

        Returns
        -------
        object
            The value now cached: ``value``, or the one another thread put first
            (``value`` is then handed to ``on_evict``, so a handle is not leaked).
        """
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                kept = self._entries[key]
                dropped = [(key, value)] if kept is not value else []
            else:
                self._entries[key] = value
                self._weight += self._weight_of(value)
                kept = value
                dropped = self._shrink()
        self._evicted(dropped)
        return kept

    def replace(self, key: K, value: V) -> None:
        """Cache ``value`` under ``key``, dropping the value held there before.

        Parameters
        ----------
        key : Hashable
            The key.
        value : object
            The new value.
        """
        self.pop(key)
        self.put(key, value)

    def get_or_create(self, key: K, create: Callable[[], V]) -> V:
        """Return the value of ``key``, creating it (outside the lock) if missing.

        Parameters
        ----------
        key : Hashable
            The key.
        create : Callable[[], V]
            Makes the value; two threads may both call it for a new key, and only
            one value is kept (the other goes to ``on_evict``).

        Returns
        -------
        object
            The cached value.
        """
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        return self.put(key, create())

    def pop(self, key: K) -> V | None:
        """Forget ``key`` without calling ``on_evict``.

        Parameters
        ----------
        key : Hashable
            The key.

        Returns
        -------
        object or None
            The value that was cached, or None.
        """
        with self._lock:
            value = self._entries.pop(key, None)
            if value is not None:
                self._weight -= self._weight_of(value)
            return value

    def clear(self) -> None:
        """Forget every entry, handing each to ``on_evict``."""
        with self._lock:
            dropped = list(self._entries.items())
            self._entries.clear()
            self._weight = 0
        self._evicted(dropped)

    def resize(self, max_size: int) -> None:
        """Change the bound, dropping entries beyond the new one.

        Parameters
        ----------
        max_size : int
            The new bound.
        """
        with self._lock:
            self.max_size = max(1, int(max_size))
            dropped = self._shrink()
        self._evicted(dropped)

    def _weight_of(self, value: V) -> int:
        return int(self._weigh(value)) if self._weigh is not None else 1

    def _shrink(self) -> list[tuple[K, V]]:
        dropped: list[tuple[K, V]] = []
        while self.weight > self.max_size and len(self._entries) > 1:
            key, value = self._entries.popitem(last=False)
            self._weight -= self._weight_of(value)
            dropped.append((key, value))
        return dropped

    def _evicted(self, dropped: list[tuple[K, V]]) -> None:
        if self._on_evict is not None:
            for key, value in dropped:
                self._on_evict(key, value)
