"""The one LRU cache behind every per-process cache."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from careamics_dask.cache import LRUCache


def test_count_bound_drops_least_recently_used() -> None:
    evicted: list[tuple[str, int]] = []
    cache = LRUCache[str, int](2, on_evict=lambda k, v: evicted.append((k, v)))
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.keys() == ["a", "c"]
    assert evicted == [("b", 2)]
    assert cache.get("b") is None
    assert cache.get("b", 7) == 7


def test_weight_bound_keeps_the_newest_even_when_over() -> None:
    cache = LRUCache[int, np.ndarray](100, weigh=lambda a: a.nbytes)
    cache.put(0, np.zeros(10, np.uint8))
    cache.put(1, np.zeros(80, np.uint8))
    assert cache.weight == 90
    cache.put(2, np.zeros(50, np.uint8))
    assert cache.keys() == [2]
    assert cache.weight == 50
    cache.put(3, np.zeros(500, np.uint8))  # alone over the bound: still kept
    assert cache.keys() == [3]
    assert cache.weight == 500


def test_put_keeps_the_first_value_and_hands_back_the_second() -> None:
    evicted: list[object] = []
    cache = LRUCache[str, object](4, on_evict=lambda k, v: evicted.append(v))
    first, second = object(), object()
    assert cache.put("k", first) is first
    assert cache.put("k", second) is first
    assert evicted == [second]


def test_get_or_create_creates_once() -> None:
    calls: list[int] = []
    cache = LRUCache[str, int](4)

    def make() -> int:
        calls.append(1)
        return 5

    assert cache.get_or_create("x", make) == 5
    assert cache.get_or_create("x", make) == 5
    assert len(calls) == 1


def test_clear_pop_replace_and_resize() -> None:
    evicted: list[str] = []
    cache = LRUCache[str, int](3, on_evict=lambda k, v: evicted.append(k))
    for i, key in enumerate("abc"):
        cache.put(key, i)
    assert cache.pop("a") == 0
    assert evicted == []  # pop does not evict
    cache.replace("b", 10)
    assert cache.get("b") == 10
    cache.resize(1)
    assert len(cache) == 1
    assert evicted == ["c"]
    cache.clear()
    assert len(cache) == 0
    assert evicted == ["c", "b"]


def test_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_size >= 1"):
        LRUCache[str, int](0)


def test_threads_see_one_value_per_key() -> None:
    cache = LRUCache[int, object](1000)
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def work() -> None:
        for key in range(200):
            value = cache.get_or_create(key, object)
            with lock:
                seen.append((key, id(value)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    by_key: dict[int, set[int]] = {}
    for key, ident in seen:
        by_key.setdefault(key, set()).add(ident)
    assert all(len(ids) == 1 for ids in by_key.values())
    assert len(cache) == 200
