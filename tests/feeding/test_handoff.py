"""Batches handed from workers on this machine to the client through tmpfs files.

With the workers on the client's machine (the embedded cluster), a task writes its
batches into a file the client created in ``/dev/shm`` and returns their layout; the
client reads them and unlinks the file. The batches are those that TCP carries, no
file outlives its stream, and a worker that cannot write the file returns the arrays.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pytest

from careamics_dask.feeding import BatchStream, DistributedExecutor, get_client
from careamics_dask.feeding._handoff import (
    HANDOFF_DIR,
    Handoff,
    SharedBatches,
    write_batches,
)
from careamics_dask.feeding.distributed_executor import build_batches
from tests.feeding.helpers import signature
from tests.feeding.test_stream import train_dataset

needs_tmpfs = pytest.mark.skipif(
    not (HANDOFF_DIR.is_dir() and os.access(HANDOFF_DIR, os.W_OK)),
    reason="needs a writable /dev/shm",
)


def _mine() -> list[Path]:
    """Handoff files of this process in /dev/shm."""
    return list(HANDOFF_DIR.glob(f"careamics-dask-batches-{os.getpid()}-*"))


def _batches(targets: bool) -> list[tuple[np.ndarray, np.ndarray | None]]:
    rng = np.random.default_rng(3)
    return [
        (
            rng.random((4, 1, 8, 8), dtype=np.float32),
            rng.random((4, 2, 8, 8), dtype=np.float32) if targets else None,
        )
        for _ in range(3)
    ]


@pytest.mark.parametrize("targets", [False, True])
def test_written_batches_read_back_equal_and_the_file_is_gone(
    tmp_path: Path, targets: bool
) -> None:
    handoff = Handoff(tmp_path)
    path = handoff.new()
    batches = _batches(targets)
    shared = write_batches(path, batches)
    assert isinstance(shared, SharedBatches)
    loaded = shared.load()
    assert not Path(path).exists()  # the mapping keeps the bytes, not the file
    for (x, y), (gx, gy) in zip(batches, loaded, strict=True):
        np.testing.assert_array_equal(gx, x)
        assert gx.dtype == x.dtype
        if y is None:
            assert gy is None
        else:
            np.testing.assert_array_equal(gy, y)
    first = loaded[0][0]
    first += 1  # writable, and private to this batch
    np.testing.assert_array_equal(first, batches[0][0] + 1)
    np.testing.assert_array_equal(loaded[1][0], batches[1][0])


def test_a_worker_without_the_file_returns_the_arrays(tmp_path: Path) -> None:
    gone = str(tmp_path / "careamics-dask-batches-1-x-1")  # unlinked by the client
    assert write_batches(gone, _batches(True)) is None
    assert not Path(gone).exists()  # never created by the worker

    class Plan:
        def build(self, rows: Any, indices: Any, epoch: int) -> tuple[Any, None]:
            return np.full((2, 1, 4, 4), epoch, dtype=np.float32), None

    result = build_batches(Plan(), [(None, np.arange(2), 5)], gone)
    assert isinstance(result, list)
    assert (result[0][0] == 5).all()


def test_a_nearly_full_tmpfs_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from careamics_dask.feeding import _handoff

    batches = _batches(True)
    nbytes = sum(x.nbytes + (0 if y is None else y.nbytes) for x, y in batches)
    path = Handoff(tmp_path).new()
    monkeypatch.setattr(_handoff, "free_bytes", lambda fd: 2 * nbytes - 1)
    assert write_batches(path, batches) is None  # the arrays go over TCP
    assert Path(path).stat().st_size == 0  # nothing written
    monkeypatch.setattr(_handoff, "free_bytes", lambda fd: 2 * nbytes)
    assert isinstance(write_batches(path, batches), SharedBatches)


def test_a_short_file_is_an_error_not_a_batch(tmp_path: Path) -> None:
    handoff = Handoff(tmp_path)
    path = handoff.new()
    shared = write_batches(path, _batches(False))
    assert shared is not None
    os.truncate(path, 100)
    with pytest.raises(OSError, match="holds 100 of its"):
        shared.load()


def test_files_of_dead_clients_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = tmp_path / f"careamics-dask-batches-{int(done.stdout)}-abcd1234-7"
    dead.write_bytes(b"x")
    live = tmp_path / f"careamics-dask-batches-{os.getpid()}-feedbeef-1"
    live.write_bytes(b"x")
    other = tmp_path / "someone-else"
    other.write_bytes(b"x")
    handoff = Handoff(tmp_path)
    assert not dead.exists()
    assert live.exists()
    assert other.exists()
    handoff.new()
    handoff.close()
    assert live.exists()  # another handoff of this process: not this one's
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])


class _Workers:
    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    def scheduler_info(self, n_workers: int = -1) -> dict[str, Any]:
        return {"workers": {a: {} for a in self.addresses}}


@needs_tmpfs
def test_it_applies_only_when_every_worker_is_on_loopback() -> None:
    assert Handoff.applies(_Workers("tcp://127.0.0.1:4000", "tcp://127.0.0.1:4001"))
    assert Handoff.applies(_Workers("tcp://[::1]:4000"))
    assert not Handoff.applies(_Workers("tcp://127.0.0.1:4000", "tcp://10.1.2.3:4000"))
    assert not Handoff.applies(_Workers())
    assert not Handoff.applies(_Workers("tcp://127.0.0.1:1"), Path("/nonexistent"))


@needs_tmpfs
@pytest.mark.distributed
def test_a_stream_on_the_embedded_cluster_hands_batches_over_through_tmpfs() -> None:
    dataset = train_dataset()
    with get_client(n_workers=2) as client:
        with dask.config.set({"careamics-dask.batching.shared-memory": False}):
            over_tcp = BatchStream(dataset, client, epochs=2, batches_per_task=2)
            assert "shared memory" not in over_tcp.path
            expected = signature(list(over_tcp))
        stream = BatchStream(dataset, client, epochs=2, batches_per_task=2)
        assert stream.path.endswith("results through shared memory")
        assert signature(list(stream)) == expected
        assert _mine() == []
        # the tasks really return layouts, not arrays
        executor = DistributedExecutor(
            client, dataset.plan, dataset.patch_table, token="probe", rank=0,
            retries=0, batches_per_task=2, handoff=Handoff(),
        )  # fmt: skip
        jobs = [(0, i, np.arange(i * 8, i * 8 + 8)) for i in range(2)]
        assert executor.threads == 2  # the window keeps a task per worker thread
        handle = executor.submit_group(jobs)
        assert isinstance(handle.future.result(), SharedBatches)
        assert len(executor.results(handle)) == 2
        executor.cancel(handle)
        executor.close()
        assert _mine() == []


@needs_tmpfs
@pytest.mark.distributed
def test_a_stream_closed_early_leaves_no_file() -> None:
    dataset = train_dataset(batch_size=2)
    with get_client(n_workers=2) as client:
        stream = BatchStream(dataset, client, epochs=3, batches_per_task=2, prefetch=8)
        batches = iter(stream)
        next(batches)
        assert len(_mine()) > 0  # tasks in flight own their files
        batches.close()  # type: ignore[attr-defined]
        assert _mine() == []


def test_an_unknown_choice_is_refused() -> None:
    dataset = train_dataset()
    with (
        dask.config.set({"careamics-dask.batching.shared-memory": "always"}),
        pytest.raises(ValueError, match="must be 'auto' or false, got 'always'"),
    ):
        BatchStream(dataset)
