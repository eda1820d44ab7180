"""Shared-memory slots: sized by the first batch, grown, unlinked, attached once."""

from __future__ import annotations

from multiprocessing import shared_memory
from pathlib import Path

import numpy as np
import pytest

from careamics_dask.feeding import _shared_slots
from careamics_dask.feeding._shared_slots import PREFIX, SharedSlots, build_into_slot

SHM = Path("/dev/shm")
RNG = np.random.default_rng(12)


def _slots_of(slots: SharedSlots) -> set[str]:
    return {p.name for p in SHM.glob(f"{PREFIX}{slots.tag}-*")}


def _arrays(n: int, target: bool) -> tuple[np.ndarray, np.ndarray | None]:
    x = RNG.random((n, 1, 8, 8), dtype=np.float32)
    return x, (x + 1 if target else None)


@pytest.mark.skipif(not SHM.is_dir(), reason="needs /dev/shm to list slots")
def test_slots_are_sized_by_the_first_batch_and_grow() -> None:
    slots = SharedSlots()
    try:
        assert slots.acquire() is None  # no size before the first batch
        first = build_into_slot(_arrays, None, 0, 4, True)
        assert first.inline is not None
        x, y = slots.collect(first, None)
        assert y is not None
        np.testing.assert_array_equal(y, x + 1)
        slot = slots.acquire()
        assert slot is not None
        assert slot.size >= 2 * 4 * 64 * 4
        made = build_into_slot(_arrays, slot.name, slot.size, 4, True)
        assert made.inline is None  # written to the slot
        x, y = slots.collect(made, slot)
        assert y is not None
        np.testing.assert_array_equal(y, x + 1)
        # a bigger batch does not fit: it comes inline, and the slot is replaced
        slot = slots.acquire()
        assert slot is not None
        small = slot.name
        big = build_into_slot(_arrays, slot.name, slot.size, 64, False)
        assert big.inline is not None
        x, y = slots.collect(big, slot)
        assert x.shape == (64, 1, 8, 8)
        assert y is None
        assert small not in _slots_of(slots)  # unlinked: too small now
        bigger = slots.acquire()
        assert bigger is not None
        assert bigger.size >= 64 * 64 * 4
        slots.collect(
            build_into_slot(_arrays, bigger.name, bigger.size, 64, False), bigger
        )
        assert _slots_of(slots) == {bigger.name}
    finally:
        slots.close()
    assert _slots_of(slots) == set()


def test_attached_slots_are_kept_and_closed_least_recently_used_first() -> None:
    made = [
        shared_memory.SharedMemory(
            name=f"{PREFIX}lru-{i}-{RNG.integers(10**9)}", create=True, size=64
        )
        for i in range(3)
    ]
    attached = _shared_slots._attached
    try:
        attached.resize(2)
        first = _shared_slots._attach(made[0].name)
        assert _shared_slots._attach(made[0].name) is first  # opened once
        _shared_slots._attach(made[1].name)
        _shared_slots._attach(made[2].name)  # drops the first, closing it
        assert made[0].name not in attached
        assert first.buf is None  # closed
        assert made[1].name in attached
        assert made[2].name in attached
    finally:
        attached.clear()
        attached.resize(_shared_slots._ATTACHED_MAX)
        for slot in made:
            slot.close()
            slot.unlink()
