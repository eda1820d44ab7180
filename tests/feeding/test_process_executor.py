"""Local batch processes: batches through shared-memory slots, errors, clean exits."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from careamics_dask.errors import SourceReadError
from careamics_dask.feeding import BatchStream
from careamics_dask.feeding._shared_slots import PREFIX, SharedSlots, build_into_slot
from careamics_dask.feeding.process_executor import LocalProcesses
from tests.feeding.helpers import (
    corrupt_chunk_dataset,
    signature,
    small_train_dataset,
)

SHM = Path("/dev/shm")
RNG = np.random.default_rng(12)
IMAGES = RNG.integers(0, 3000, (3, 96, 96)).astype(np.uint16)


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


def _stream_slots() -> set[str]:
    return {p.name for p in SHM.glob(f"{PREFIX}*")} if SHM.is_dir() else set()


def test_processes_give_the_threads_batches_and_leave_nothing_behind() -> None:
    dataset = small_train_dataset(21, image_seed=12)
    before = _stream_slots()
    threads = signature(list(BatchStream(dataset, epochs=3, local="threads")))
    processes = BatchStream(dataset, epochs=3, prefetch=4, local="processes")
    assert signature(list(processes)) == threads
    assert _stream_slots() == before
    assert not [p for p in multiprocessing.active_children() if "careamics" in p.name]


def test_closing_early_stops_the_processes() -> None:
    dataset = small_train_dataset(21, image_seed=12)
    before = _stream_slots()
    batches = iter(BatchStream(dataset, epochs=50, prefetch=8, local="processes"))
    first = next(batches)
    assert first.input.shape == (8, 1, 16, 16)
    batches.close()  # type: ignore[attr-defined]
    assert _stream_slots() == before
    assert not [p for p in multiprocessing.active_children() if "careamics" in p.name]


def test_a_read_error_in_a_process_reaches_the_stream(tmp_path: Path) -> None:
    dataset = corrupt_chunk_dataset(tmp_path / "bad.zarr", IMAGES)
    with pytest.raises(SourceReadError) as info:
        list(BatchStream(dataset, local="processes", prefetch=2))
    assert "bad.zarr" in info.value.source


def _crash(plan: object, *args: object) -> tuple[np.ndarray, None]:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def test_a_dead_process_is_reported() -> None:
    with LocalProcesses(1, _crash, None) as processes:
        ticket = processes.submit()
        with pytest.raises(RuntimeError, match="exited with code -9"):
            processes.result(ticket)
