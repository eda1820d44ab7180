"""dask-jobqueue starts workers through real SLURM daemons; a stream completes on them.

Run by ``.ci/slurm.sh``, which starts a single-node SLURM on 127.0.0.1
(``cluster/slurm/start_slurm.sh``) and sets ``CAREAMICS_DASK_SLURM=1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
from distributed import Client, get_task_stream

from careamics_dask.feeding import BatchStream, get_client
from tests.feeding.helpers import signature, small_train_dataset

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from careamics_dask.factory import CareamicsDataset

pytestmark = [pytest.mark.slurm, pytest.mark.distributed]

PARTITION = os.environ.get("SLURM_LOCAL_PARTITION", "debug")
WORKER_TIMEOUT = 45


def train_dataset() -> CareamicsDataset:
    return small_train_dataset(5, image_seed=13)


def _slurm_ready() -> str | None:
    """Return why the SLURM tests cannot run here, or None when they can."""
    if os.environ.get("CAREAMICS_DASK_SLURM") != "1":
        return "set CAREAMICS_DASK_SLURM=1 after cluster/slurm/start_slurm.sh"
    if shutil.which("sinfo") is None:
        return "sinfo is not installed"
    try:
        result = subprocess.run(
            ["sinfo", "-h", "-p", PARTITION, "-o", "%T"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 10 s"
    if result.returncode != 0 or not result.stdout.strip():
        return f"sinfo failed: {result.stderr.strip() or 'no partition ' + PARTITION}"
    return None


@pytest.fixture(scope="module")
def slurm_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    reason = _slurm_ready()
    if reason is not None:
        pytest.skip(reason)
    jobqueue = pytest.importorskip("dask_jobqueue")
    logs: Path = tmp_path_factory.mktemp("jobqueue-logs")
    cluster = jobqueue.SLURMCluster(
        cores=1,
        processes=1,
        memory="2GB",
        queue=PARTITION,
        walltime="00:10:00",
        interface="lo",  # scheduler and workers on 127.0.0.1
        log_directory=str(logs),  # not slurm-<id>.out in the cwd
        death_timeout=60,
    )
    try:
        cluster.scale(jobs=2)
        client = Client(cluster)
        try:
            client.wait_for_workers(2, timeout=WORKER_TIMEOUT)
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _slurm_job_id() -> str | None:
    return os.environ.get("SLURM_JOB_ID")


def test_jobqueue_workers_are_slurm_jobs_on_loopback(slurm_client: Client) -> None:
    workers = slurm_client.scheduler_info(n_workers=-1)["workers"]
    assert len(workers) == 2
    assert all(address.startswith("tcp://127.0.0.1:") for address in workers)
    job_ids = slurm_client.run(_slurm_job_id)
    assert all(job_ids.values())
    assert len(set(job_ids.values())) == 2
    running = subprocess.run(
        ["squeue", "-h", "-t", "RUNNING", "-o", "%A"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.split()
    assert set(job_ids.values()) <= set(running)


def test_stream_on_slurm_workers_equals_local_stream(slurm_client: Client) -> None:
    dataset = train_dataset()
    local: list[Any] = signature(list(BatchStream(dataset, client=None, epochs=2)))
    client = get_client(slurm_client)
    assert client is slurm_client
    stream = BatchStream(dataset, client, epochs=2, prefetch=4)
    with get_task_stream(client) as tasks:
        batches = list(stream)
    assert len(batches) == len(stream) == 2 * dataset.n_batches()
    assert signature(batches) == local
    workers = set(client.scheduler_info(n_workers=-1)["workers"])
    ran_on = {t["worker"] for t in tasks.data if t["key"].startswith("careamics")}
    assert ran_on
    assert ran_on <= workers
