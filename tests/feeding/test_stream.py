from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr
from distributed import Client, LocalCluster

from careamics_dask.config import DataConfig
from careamics_dask.errors import SourceReadError
from careamics_dask.factory import (
    TrainValSplitData,
    create_dataset,
    create_train_dataset,
)
from careamics_dask.feeding import BatchStream, get_client
from tests.feeding.helpers import corrupt_chunk_dataset

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from careamics_dask.factory import Batch, CareamicsDataset

RNG = np.random.default_rng(5)
IMAGES = RNG.integers(0, 2000, (4, 64, 64)).astype(np.uint16)


def train_dataset(batch_size: int = 8, **kwargs: Any) -> CareamicsDataset:
    config = DataConfig(
        mode="training",
        data_type="array",
        axes="SYX",
        patching={"name": "stratified", "patch_size": [16, 16]},
        normalization={"name": "mean_std"},
        batch_size=batch_size,
        seed=11,
        **kwargs,
    )
    return create_train_dataset(config, TrainValSplitData(IMAGES, 1, IMAGES * 2))


def signature(batches: list[Batch]) -> list[tuple[int, int, bytes, bytes]]:
    return [
        (
            b.epoch,
            b.index,
            b.input.tobytes(),
            b.target.tobytes() if b.target is not None else b"",
        )
        for b in batches
    ]


def test_local_stream_covers_every_patch_once_per_epoch() -> None:
    dataset = train_dataset()
    stream = BatchStream(dataset, epochs=2, prefetch=3)
    batches = list(stream)
    assert len(batches) == len(stream) == 2 * dataset.n_batches()
    for epoch in range(2):
        indices = np.concatenate([b.indices for b in batches if b.epoch == epoch])
        assert sorted(indices.tolist()) == list(range(len(dataset)))
    first = [b.indices for b in batches if b.epoch == 0]
    second = [b.indices for b in batches if b.epoch == 1]
    assert not all(np.array_equal(a, b) for a, b in zip(first, second, strict=False))


def test_stream_batches_equal_dataset_patches() -> None:
    dataset = train_dataset()
    for batch in BatchStream(dataset, shuffle=True):
        for j, index in enumerate(batch.indices[:3]):
            region, target = dataset[int(index)]
            np.testing.assert_array_equal(region.data, batch.input[j])
            assert batch.target is not None
            np.testing.assert_array_equal(target.data, batch.target[j])


def test_unshuffled_validation_stream_matches_batches() -> None:
    config = DataConfig(
        mode="validating",
        data_type="array",
        axes="SYX",
        patching={"name": "fixed_random", "patch_size": [16, 16]},
        normalization={"name": "none"},
        batch_size=5,
        seed=2,
    )
    dataset = create_dataset(config, IMAGES, None)
    streamed = list(BatchStream(dataset))
    assert not BatchStream(dataset).shuffle
    for batch in streamed:
        np.testing.assert_array_equal(batch.input, dataset.batch(batch.index).input)
        assert batch.target is None


def test_ranks_are_disjoint_and_equal() -> None:
    dataset = train_dataset(batch_size=3)
    shares = [list(BatchStream(dataset, rank=r, world_size=3)) for r in range(3)]
    sizes = {len(s) for s in shares}
    assert len(sizes) == 1
    seen = np.concatenate([b.indices for share in shares for b in share])
    assert len(seen) == len(set(seen.tolist()))
    with pytest.raises(ValueError, match="Rank must be in"):
        BatchStream(dataset, rank=3, world_size=3)


def test_resume_exactly_at_next_batch() -> None:
    dataset = train_dataset()
    full = signature(list(BatchStream(dataset, epochs=2)))
    stream = BatchStream(dataset, epochs=2, prefetch=4)
    taken = []
    for batch in stream:
        taken.append(batch)
        if len(taken) == dataset.n_batches() + 1:
            break
    state = stream.state_dict()
    assert state["epoch"] == 1
    assert state["batch"] == 1
    resumed = BatchStream(dataset, epochs=2)
    resumed.load_state_dict(state)
    assert signature(taken) + signature(list(resumed)) == full
    other = BatchStream(dataset, shuffle=False)
    with pytest.raises(ValueError, match="settings differ"):
        other.load_state_dict(state)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as local,
        Client(local) as client,
    ):
        yield client


@pytest.mark.distributed
def test_cluster_batches_equal_local_batches(cluster: Client) -> None:
    assert str(cluster.scheduler_info()["address"]).startswith("tcp://127.0.0.1:")
    dataset = train_dataset()
    local = signature(list(BatchStream(dataset, epochs=2)))
    remote = list(BatchStream(dataset, cluster, epochs=2, prefetch=4))
    assert signature(remote) == local
    # every batch future is released once yielded (release is asynchronous)
    # and the stream's plan and in-memory tiles once it is done
    deadline = time.monotonic() + 5
    while len(cluster.futures) > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(cluster.futures) == 0


@pytest.mark.distributed
def test_window_bounds_client_futures(cluster: Client) -> None:
    dataset = train_dataset(batch_size=2)

    def batch_futures() -> int:  # in-memory tiles and the plan are held too
        return sum(str(key).startswith("careamics-batch") for key in cluster.futures)

    held = [batch_futures() for _ in BatchStream(dataset, cluster, prefetch=3)]
    # the window, and futures whose (asynchronous) release is under way while
    # their results wait in the fetched-batch queue
    assert max(held) <= 3 + 2


@pytest.mark.distributed
def test_resume_in_the_middle_of_a_task_on_a_cluster(cluster: Client) -> None:
    dataset = train_dataset()
    full = signature(list(BatchStream(dataset, epochs=2)))
    stream = BatchStream(dataset, cluster, epochs=2, batches_per_task=3)
    taken = []
    for batch in stream:  # stop after batch 1 of epoch 1, inside a task of 3
        taken.append(batch)
        if len(taken) == dataset.n_batches() + 2:
            break
    state = stream.state_dict()
    assert (state["epoch"], state["batch"]) == (1, 2)
    resumed = BatchStream(dataset, cluster, epochs=2, batches_per_task=3)
    resumed.load_state_dict(state)
    assert signature(taken) + signature(list(resumed)) == full


def slow_read(path: Any, **kwargs: Any) -> np.ndarray:
    time.sleep(0.05)
    data: np.ndarray = np.load(path)
    return data


@pytest.mark.distributed
def test_killed_worker_costs_time_not_batches(cluster: Client, tmp_path: Path) -> None:
    dataset = train_dataset(batch_size=2)
    expected = signature(list(BatchStream(dataset)))
    received = []
    pids = list(cluster.run(os.getpid).values())
    for batch in BatchStream(dataset, cluster, prefetch=6):
        received.append(batch)
        if len(received) in (1, 4):  # one worker, then the other (nannies restart them)
            os.kill(pids[len(received) // 4], signal.SIGKILL)
    assert signature(received) == expected
    cluster.wait_for_workers(2, timeout=60)


@pytest.mark.distributed
def test_corrupt_chunk_stops_the_stream_with_the_region(
    cluster: Client, tmp_path: Path
) -> None:
    dataset = corrupt_chunk_dataset(tmp_path / "bad.zarr", IMAGES)
    start = time.monotonic()
    with pytest.raises(SourceReadError) as info:
        list(BatchStream(dataset, cluster, retries=0))
    assert time.monotonic() - start < 60
    assert "bad.zarr" in info.value.source
    assert info.value.region.startswith("[")


@pytest.mark.distributed
def test_tls_on_loopback() -> None:
    pytest.importorskip("cryptography")
    from distributed.security import Security

    security = Security.temporary()
    dataset = train_dataset()
    expected = signature(list(BatchStream(dataset)))
    with get_client(security=security, n_workers=1, threads_per_worker=1) as client:
        assert str(client.scheduler_info()["address"]).startswith("tls://127.0.0.1:")
        assert signature(list(BatchStream(dataset, client))) == expected


@pytest.mark.distributed
def test_embedded_client_on_loopback_closes_its_cluster() -> None:
    with get_client(n_workers=1) as client:
        cluster = client.cluster
        assert str(client.scheduler_info()["address"]).startswith("tcp://127.0.0.1:")
        assert "127.0.0.1" in client.dashboard_link
        assert len(client.scheduler_info()["workers"]) == 1
    assert cluster.status.name == "closed"


def _profiler_enabled() -> bool:
    import dask.config

    return bool(dask.config.get("distributed.worker.profile.enabled"))


@pytest.mark.distributed
def test_embedded_workers_run_the_sampling_profiler_only_when_asked() -> None:
    import dask.config

    with get_client(n_workers=1) as client:
        assert list(client.run(_profiler_enabled).values()) == [False]
    with (
        dask.config.set({"careamics-dask.client.worker-profile": True}),
        get_client(n_workers=1) as client,
    ):
        assert list(client.run(_profiler_enabled).values()) == [True]


def _trim_threshold() -> str | None:
    import os

    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


@pytest.mark.distributed
def test_embedded_workers_keep_glibcs_malloc_trim_threshold_unless_asked() -> None:
    import dask.config

    # distributed's nanny default (65536) maps every buffer above 128 KiB anew
    with (
        dask.config.set({"careamics-dask.client.malloc-trim-threshold": 65536}),
        get_client(n_workers=1) as client,
    ):
        assert list(client.run(_trim_threshold).values()) == ["65536"]
    # the nanny above wrote it into this process's environment; the next cluster
    # undoes that
    with get_client(n_workers=1) as client:
        assert list(client.run(_trim_threshold).values()) == [None]


@pytest.mark.distributed
@pytest.mark.parametrize("per_task", [1, 3])
def test_batches_per_task_changes_no_batch_and_is_reported(per_task: int) -> None:
    dataset = train_dataset()
    expected = signature(list(BatchStream(dataset, epochs=2, prefetch=2)))
    with get_client(n_workers=2) as client:
        stream = BatchStream(
            dataset, client, epochs=2, prefetch=2, batches_per_task=per_task
        )
        assert signature(list(stream)) == expected
        assert stream.path == (
            f"distributed: 2 workers, 2 threads, {per_task} batches per task, "
            "results through shared memory"  # the workers run on this machine
        )


def chunked_dataset(path: Path, **config: Any) -> CareamicsDataset:
    """A random-patching dataset of IMAGES in a Zarr store of 32 x 32 chunks."""
    zarr.open_group(path, mode="w").create_array("img", data=IMAGES, chunks=(1, 32, 32))
    values: dict[str, Any] = {
        "mode": "training",
        "data_type": "zarr",
        "axes": "SYX",
        "patching": {"name": "random", "patch_size": [8, 8]},
        "normalization": {"name": "none"},
        "batch_size": 8,
        "seed": 4,
        **config,
    }
    return create_train_dataset(DataConfig(**values), TrainValSplitData(path, 1))


def start_chunks(batch: Batch) -> set[tuple[int, int, int]]:
    """The storage chunks (sample, chunk row, chunk column) the patches start in."""
    return {
        (int(s), int(y) // 32, int(x) // 32)
        for s, (y, x) in zip(batch.specs.sample_idx, batch.specs.coords, strict=True)
    }


def test_chunk_aware_stream_keeps_the_epoch_and_groups_chunks(tmp_path: Path) -> None:
    dataset = chunked_dataset(tmp_path / "c.zarr")
    plain = list(BatchStream(dataset, shuffle=True))
    grouped = list(BatchStream(dataset, chunk_aware=True))
    assert sorted(np.concatenate([b.indices for b in grouped]).tolist()) == list(
        range(len(dataset))
    )

    def chunks_per_batch(batches: list[Batch]) -> float:
        return float(np.mean([len(start_chunks(b)) for b in batches]))

    assert chunks_per_batch(grouped) < chunks_per_batch(plain)
    for batch in grouped[:2]:
        region = dataset[int(batch.indices[0])][0]
        np.testing.assert_array_equal(region.data, batch.input[0])


def test_local_processes_give_the_same_batches() -> None:
    dataset = train_dataset()
    threads = signature(list(BatchStream(dataset, epochs=2, local="threads")))
    processes = list(BatchStream(dataset, epochs=2, prefetch=2, local="processes"))
    assert signature(processes) == threads
    with pytest.raises(ValueError, match="Local executor unknown"):
        BatchStream(dataset, local="fibers")


def test_chunk_aware_draws_read_one_chunk_neighbourhood_per_batch(
    tmp_path: Path,
) -> None:
    dataset = chunked_dataset(tmp_path / "d.zarr", augmentations=[])
    batches = list(BatchStream(dataset, chunk_aware="draw", epochs=2))
    assert len(batches) == 2 * BatchStream(dataset).batches_per_epoch
    for batch in batches[:6]:
        # every patch starts in the same storage chunk
        assert len(start_chunks(batch)) == 1
        s, (y, x) = int(batch.specs.sample_idx[0]), batch.specs.coords[0]
        np.testing.assert_array_equal(
            batch.input[0, 0], IMAGES[s, y : y + 8, x : x + 8].astype(np.float32)
        )
    # same draws again, and on the threads of another stream with other settings
    again = list(BatchStream(dataset, chunk_aware="draw", epochs=2, prefetch=1))
    assert signature(again) == signature(batches)
    with pytest.raises(ValueError, match="chunk_aware must be"):
        BatchStream(dataset, chunk_aware="sometimes")
    stratified = train_dataset()
    with pytest.raises(ValueError, match="Chunk-aware draws replace random"):
        BatchStream(stratified, chunk_aware="draw")
