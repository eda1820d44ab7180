"""The ``distributed`` internals the in-memory tiles rely on, pinned exactly.

``careamics_dask.feeding._tile_pieces`` is the one module that uses them: a handler
added to ``worker.handlers`` by a plugin and called by a peer through
``worker.rpc(address).<name>(...)``, ``worker.scheduler.who_has(keys=...)``,
``distributed.utils.sync`` from a task thread, ``worker.data`` holding a scattered
value itself, and the scheduler's ``tasks[key].who_has``. If an upgrade of
``distributed`` changes one of them, a test here fails first, by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from distributed import Client, LocalCluster, WorkerPlugin, get_worker
from distributed.utils import sync

from careamics_dask.feeding._tile_pieces import held_keys

if TYPE_CHECKING:
    from collections.abc import Iterator

    from distributed import Worker

pytestmark = pytest.mark.distributed

HANDLER = "careamics_dask_test_echo"


class Echo(WorkerPlugin):
    """Adds a handler that answers with a slice of a value this worker holds."""

    name = "careamics-dask-test-echo"

    def setup(self, worker: Worker) -> None:
        def careamics_dask_test_echo(name: str, stop: int) -> Any:
            try:
                value: Any = worker.data[name]
                return value[:stop].tolist()
            except KeyError:
                return None

        worker.handlers[HANDLER] = careamics_dask_test_echo

    def teardown(self, worker: Worker) -> None:
        worker.handlers.pop(HANDLER, None)


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.register_plugin(Echo())
        yield client


def _ask(address: str, name: str, stop: int) -> Any:
    """Call the peer's handler from a task thread (what fetch_pieces does)."""
    worker = get_worker()

    async def call() -> Any:
        return await getattr(worker.rpc(address), HANDLER)(name=name, stop=stop)

    return sync(worker.loop, call)


def _who_has(names: list[str]) -> dict[str, list[str]]:
    worker = get_worker()

    async def call() -> dict[str, list[str]]:
        answer: dict[str, list[str]] = await worker.scheduler.who_has(keys=names)
        return answer

    return sync(worker.loop, call)


def _data_is_the_value(name: str) -> tuple[bool, bool]:
    worker = get_worker()
    value = worker.data[name]
    missing = "careamics-dask-test-missing" not in worker.data
    return isinstance(value, np.ndarray), missing


def test_a_plugin_handler_answers_a_peer_through_rpc(client: Client) -> None:
    a, b = sorted(client.scheduler_info()["workers"])
    [held] = client.scatter([np.arange(10)], workers=[b], hash=False)
    asked = client.submit(_ask, b, held.key, 3, workers=[a], pure=False)
    assert asked.result() == [0, 1, 2]
    unknown = client.submit(_ask, b, "careamics-nothing", 3, workers=[a], pure=False)
    assert unknown.result() is None


def test_the_scheduler_says_who_holds_keys_from_a_task(client: Client) -> None:
    _, b = sorted(client.scheduler_info()["workers"])
    [held] = client.scatter([np.arange(4)], workers=[b], hash=False)
    answer = client.submit(
        _who_has, [held.key, "careamics-never-made"], pure=False
    ).result()
    assert answer[held.key] == [b]
    assert not answer["careamics-never-made"]


def test_worker_data_holds_scattered_values_themselves(client: Client) -> None:
    _, b = sorted(client.scheduler_info()["workers"])
    [held] = client.scatter([np.arange(4)], workers=[b], hash=False)
    result = client.submit(_data_is_the_value, held.key, workers=[b], pure=False)
    assert result.result() == (True, True)


def test_sync_reraises_what_the_coroutine_raised(client: Client) -> None:
    def fail() -> None:
        worker = get_worker()

        async def call() -> None:
            raise LookupError("inside the loop")

        sync(worker.loop, call)

    with pytest.raises(LookupError, match="inside the loop"):
        client.submit(fail, pure=False).result()


def test_the_schedulers_task_states_list_holders(client: Client) -> None:
    [held] = client.scatter([np.arange(3)], hash=False)
    keys = [held.key, "careamics-never-made"]
    assert client.run_on_scheduler(held_keys, keys=keys) == {held.key}
