from __future__ import annotations

import os
import signal
import threading
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest
from distributed import Client, LocalCluster

from careamics_dask import predict_to_zarr
from careamics_dask.predict.writer import JOURNAL, partial_path
from tests.predict.helpers import (
    affine,
    identity,
    pred_dataset,
    read_output,
    snapshot,
    write_zarr,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

RNG = np.random.default_rng(23)
DATA = RNG.integers(0, 3000, (6, 64, 72)).astype(np.uint16)


def slow_affine(batch: np.ndarray) -> np.ndarray:
    time.sleep(0.05)
    return affine(batch)


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


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_zarr(tmp_path_factory.mktemp("in") / "in.zarr", DATA, (1, 32, 32))


def dataset_of(store: Path, batch_size: int = 4):  # type: ignore[no-untyped-def]
    return pred_dataset(
        str(store),
        "SYX",
        patch=[32, 32],
        overlaps=[8, 8],
        data_type="zarr",
        batch_size=batch_size,
        normalization={"name": "mean_std", "input_means": [1500], "input_stds": [800]},
    )


@pytest.mark.distributed
@pytest.mark.parametrize("run_on", ["client", "workers"])
def test_cluster_prediction_equals_local(
    cluster: Client, store: Path, tmp_path: Path, run_on: str
) -> None:
    before = snapshot(store)
    local = tmp_path / "local.zarr"
    predict_to_zarr(dataset_of(store), affine, local)
    remote = tmp_path / "remote.zarr"
    summary = predict_to_zarr(
        dataset_of(store),
        affine,
        remote,
        cluster,
        run_on=run_on,  # type: ignore[arg-type]
        prefetch=3,
    )
    assert summary.n_predicted == summary.n_tiles
    np.testing.assert_array_equal(read_output(remote), read_output(local))
    assert snapshot(store) == before


def kill_when_started(journal: Path, pid: int, killed: list[int]) -> threading.Thread:
    """SIGKILL a worker once the first regions are written (from a thread)."""

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if journal.is_file() and journal.stat().st_size > 0:
                killed.append(len(journal.read_text().splitlines()))
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.distributed
@pytest.mark.parametrize("run_on", ["workers", "client"])
def test_killed_worker_leaves_a_complete_output(
    cluster: Client, store: Path, tmp_path: Path, run_on: str
) -> None:
    out = tmp_path / "out.zarr"
    pids = list(cluster.run(os.getpid).values())
    killed: list[int] = []
    watcher = kill_when_started(partial_path(out) / JOURNAL, pids[0], killed)
    summary = predict_to_zarr(
        dataset_of(store, batch_size=2),
        slow_affine,
        out,
        cluster,
        run_on=run_on,  # type: ignore[arg-type]
        prefetch=4,
        chunks=(16, 72),
    )
    watcher.join()
    assert killed, "the worker was not killed"
    assert 0 < killed[0] < summary.regions_written  # killed mid-run
    expected = affine((DATA.astype(np.float32) - 1500) / (800 + 1e-6))
    expected = expected * (800 + 1e-6) + 1500
    np.testing.assert_allclose(read_output(out), expected, rtol=1e-5, atol=1e-2)
    cluster.wait_for_workers(2, timeout=60)


@pytest.mark.distributed
def test_model_tasks_go_to_workers_with_the_resource(
    store: Path, tmp_path: Path
) -> None:
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            resources={"GPU": 1},
            dashboard_address="127.0.0.1:0",
        ) as local,
        Client(local) as client,
    ):
        out = tmp_path / "gpu.zarr"
        predict_to_zarr(
            dataset_of(store),
            identity,
            out,
            client,
            run_on="workers",
            resources={"GPU": 1},
        )
    expected = (DATA.astype(np.float32) - 1500) / (800 + 1e-6) * (800 + 1e-6) + 1500
    np.testing.assert_allclose(read_output(out), expected, rtol=1e-5)
