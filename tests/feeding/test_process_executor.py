"""Local batch processes: batches through shared-memory slots, errors, clean exits."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from careamics_dask.errors import SourceReadError
from careamics_dask.feeding import BatchStream
from careamics_dask.feeding._shared_slots import PREFIX
from careamics_dask.feeding.process_executor import LocalProcesses, ProcessExecutor
from tests.feeding.helpers import (
    corrupt_chunk_dataset,
    signature,
    small_train_dataset,
)
from tests.feeding.test_executor import ExecutorTests

if TYPE_CHECKING:
    from careamics_dask.factory import CareamicsDataset

SHM = Path("/dev/shm")
RNG = np.random.default_rng(12)
IMAGES = RNG.integers(0, 3000, (3, 96, 96)).astype(np.uint16)


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


class TestProcessExecutor(ExecutorTests):
    def make(self, dataset: CareamicsDataset) -> Any:
        return ProcessExecutor(2, dataset.plan, dataset.patch_table)
