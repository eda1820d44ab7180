"""A scheduler and two workers started by hand, as separate processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import dask.config
import pytest
from distributed import get_task_stream

from careamics_dask.feeding import BatchStream, get_client
from careamics_dask.feeding.client import EmbeddedClient
from tests.feeding.helpers import signature, small_train_dataset

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from careamics_dask.factory import CareamicsDataset

pytestmark = pytest.mark.distributed

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def train_dataset() -> CareamicsDataset:
    return small_train_dataset(3, image_seed=7)


class ManualCluster:
    """``dask scheduler`` and ``dask worker`` processes, each in its own session."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.scheduler_file = directory / "scheduler.json"
        self.processes: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.directory / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            start_new_session=True,  # a process group of its own, reaped as a whole
        )
        log.close()
        self.processes.append(process)
        return process

    def start(self, n_workers: int) -> str:
        self.spawn(
            "scheduler",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--scheduler-file",
            str(self.scheduler_file),
            "--dashboard-address",
            "127.0.0.1:0",
        )
        address = self._wait_for_address()
        for i in range(n_workers):
            self.spawn(
                f"worker-{i}",
                "distributed.cli.dask_worker",
                "--scheduler-file",
                str(self.scheduler_file),
                "--nthreads",
                "1",
                "--host",
                "127.0.0.1",
            )
        return address

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.processes[0].poll() is not None:
                raise RuntimeError(f"scheduler exited: {self.log('scheduler')}")
            if self.scheduler_file.exists():
                try:
                    info = json.loads(self.scheduler_file.read_text())
                except json.JSONDecodeError:  # being written
                    info = {}
                if "address" in info:
                    return str(info["address"])
            time.sleep(0.05)
        raise TimeoutError(f"no scheduler file after {START_TIMEOUT}s")

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")[-2000:]

    def stop(self) -> list[str]:
        """Terminate workers, then the scheduler; return what had to be killed."""
        forced = []
        deadline = time.monotonic() + STOP_TIMEOUT
        workers, scheduler = self.processes[1:], self.processes[:1]
        for group in (workers, scheduler):  # workers first, while they can say bye
            for process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in group:
                try:
                    process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    forced.append(f"pid {process.pid}")
        for process in self.processes:  # nanny children live in the same group
            if not _wait_group_empty(process.pid, deadline + 5.0):
                forced.append(f"process group {process.pid}")
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        return forced

    def orphans(self) -> list[int]:
        return [p.pid for p in self.processes if _group_alive(p.pid)]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's group
        return True
    return True


def _wait_group_empty(pgid: int, deadline: float) -> bool:
    while _group_alive(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture(scope="module")
def manual_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cluster = ManualCluster(tmp_path_factory.mktemp("manual-cluster"))
    try:
        yield cluster.start(n_workers=2)
    finally:
        forced = cluster.stop()
        assert cluster.orphans() == []
    assert forced == [], f"did not exit on SIGTERM within {STOP_TIMEOUT}s: {forced}"


@pytest.fixture
def local_batches() -> list[tuple[int, int, bytes, bytes]]:
    return signature(list(BatchStream(train_dataset(), client=None, epochs=2)))


def _worker_pid() -> int:
    return os.getpid()


def test_stream_over_tcp_equals_local_stream(
    manual_cluster: str, local_batches: list[Any]
) -> None:
    assert manual_cluster.startswith("tcp://127.0.0.1:")
    client = get_client(manual_cluster)
    try:
        assert not isinstance(client, EmbeddedClient)
        client.wait_for_workers(2, timeout=START_TIMEOUT)
        workers = client.scheduler_info(n_workers=-1)["workers"]
        assert len(workers) == 2
        assert all(w.startswith("tcp://127.0.0.1:") for w in workers)
        pids = set(client.run(_worker_pid).values())
        assert len(pids) == 2
        assert os.getpid() not in pids
        stream = BatchStream(train_dataset(), client, epochs=2, prefetch=4)
        with get_task_stream(client) as tasks:
            batches = list(stream)
        assert signature(batches) == local_batches
        ran_on = {t["worker"] for t in tasks.data if t["key"].startswith("careamics")}
        assert ran_on <= set(workers)
        assert ran_on
    finally:
        client.close()


def test_scheduler_address_from_environment(
    manual_cluster: str, local_batches: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", manual_cluster)
    dask.config.refresh()
    try:
        assert dask.config.get("scheduler-address") == manual_cluster
        client = get_client()
        try:
            assert not isinstance(client, EmbeddedClient)
            assert client.scheduler is not None
            assert client.scheduler.address == manual_cluster
            client.wait_for_workers(2, timeout=START_TIMEOUT)
            first = next(iter(BatchStream(train_dataset(), client, epochs=2)))
            assert signature([first]) == local_batches[:1]
        finally:
            client.close()
    finally:
        monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
        dask.config.refresh()
    assert dask.config.get("scheduler-address", None) is None
