"""Pieces of in-memory tiles, read where the tiles are held, without copying tiles.

A batch of an in-memory stack needs patch-sized pieces of a few tiles that are
spread over the workers. As task dependencies, the whole tiles would be copied to
the worker that runs the batch and held there until the active memory manager drops
the copy: the cluster would hold the data more than once while batches run. Here the
batch task asks the scheduler who holds its tiles, reads the pieces of its own
worker's tiles in place, and asks each other holder, in one message per worker, for
just the pieces (:class:`TilePieces` installs the handler that answers). Only the
tiles themselves stay in the cluster's memory; a batch's pieces are about the size
of its patches and die with the task.

A tile the scheduler no longer knows (its worker died) raises
:class:`TilesLostError`; the stream sends lost tiles again and reruns the batch.

``distributed`` has no public API for one worker to read part of a value another
worker holds (``Client.gather`` and task dependencies copy whole values), so this is
the one module of the package that uses its internals, each pinned by
``tests/feeding/test_distributed_internals.py`` so that an upgrade that breaks one
fails loudly: a worker's ``handlers`` (a plugin adds one; peers call it through
``worker.rpc(address).<name>(...)``), ``worker.scheduler.who_has(keys=...)``,
``distributed.utils.sync`` (a task thread runs a coroutine on the worker's loop),
and the scheduler's ``tasks[key].who_has`` (:func:`held_keys`). ``get_worker()``,
``Worker.data``, ``Worker.loop``, ``WorkerPlugin`` and ``Client.run_on_scheduler``
are public.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from distributed import WorkerPlugin, get_worker
from distributed.utils import sync

from careamics_dask.errors import TilesLostError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt
    from distributed import Scheduler, Worker

__all__ = [
    "HANDLER",
    "PieceRequest",
    "TilePieces",
    "TilesLostError",
    "fetch_pieces",
    "held_keys",
]

HANDLER = "careamics_dask_tile_pieces"
"""The name of the workers' handler that serves pieces of the tiles they hold."""


@dataclass(frozen=True, slots=True)
class PieceRequest:
    """A box of one tile, all channels, in the tile's own coordinates.

    Attributes
    ----------
    name : str
        The tile's key on the cluster.
    low, high : tuple of int
        Start and stop of the box along the tile's spatial axes.
    channels : int
        The tile's channels.
    dtype : str
        The tile's dtype.
    """

    name: str
    low: tuple[int, ...]
    high: tuple[int, ...]
    channels: int
    dtype: str

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the piece, ``C (Z) Y X``."""
        return (
            self.channels,
            *(b - a for a, b in zip(self.low, self.high, strict=True)),
        )


def cut(tile: Any, low: Sequence[int], high: Sequence[int]) -> Any:
    """Return a view of a tile's box, all channels."""
    return tile[(slice(None), *(slice(a, b) for a, b in zip(low, high, strict=True)))]


def serve_pieces(worker: Worker, requests: list[list[Any]]) -> list[bytes | None]:
    """Answer a peer's request for pieces of tiles this worker holds.

    Parameters
    ----------
    worker : distributed.Worker
        This worker.
    requests : list
        ``[name, low, high]`` per piece.

    Returns
    -------
    list
        The pieces' bytes (C order), or ``None`` for a tile this worker lacks.
    """
    out: list[bytes | None] = []
    for name, low, high in requests:
        try:
            tile = worker.data[name]
        except KeyError:
            out.append(None)
            continue
        out.append(np.ascontiguousarray(cut(tile, low, high)).tobytes())
    return out


class TilePieces(WorkerPlugin):
    """Install, on every worker, the handler that serves pieces of its tiles."""

    name = "careamics-dask-tile-pieces"

    def setup(self, worker: Worker) -> None:
        """Add the handler."""

        def careamics_dask_tile_pieces(requests: list[list[Any]]) -> list[bytes | None]:
            return serve_pieces(worker, requests)

        worker.handlers[HANDLER] = careamics_dask_tile_pieces

    def teardown(self, worker: Worker) -> None:
        """Remove the handler."""
        worker.handlers.pop(HANDLER, None)


def fetch_pieces(requests: Mapping[Any, PieceRequest]) -> dict[Any, npt.NDArray[Any]]:
    """Read the requested pieces from wherever their tiles are held (a batch task).

    Parameters
    ----------
    requests : Mapping
        Pieces by tile key.

    Returns
    -------
    dict
        Each piece, ``C (Z) Y X``, by tile key (views of this worker's own tiles).

    Raises
    ------
    TilesLostError
        When a tile's holder is gone.
    """
    if not requests:
        return {}
    worker = get_worker()
    pieces: dict[Any, npt.NDArray[Any]] = sync(worker.loop, _fetch, worker, requests)
    return pieces


async def _fetch(
    worker: Worker, requests: Mapping[Any, PieceRequest]
) -> dict[Any, npt.NDArray[Any]]:
    names = sorted({r.name for r in requests.values()})
    holders = await worker.scheduler.who_has(keys=names)
    lost = [n for n in names if not holders.get(n)]
    if lost:
        raise TilesLostError(lost, "the scheduler knows no worker that holds them")
    groups: dict[str, list[Any]] = {}
    for key, request in requests.items():
        where = holders[request.name]
        address = worker.address if worker.address in where else where[0]
        groups.setdefault(address, []).append(key)
    pieces: dict[Any, npt.NDArray[Any]] = {}
    for key in groups.pop(worker.address, []):
        request = requests[key]
        try:
            pieces[key] = cut(worker.data[request.name], request.low, request.high)
        except KeyError as error:  # dropped since the scheduler answered
            raise TilesLostError(
                [request.name], "this worker no longer holds it"
            ) from error
    addresses = list(groups)
    replies = await asyncio.gather(
        *(
            worker.rpc(address).careamics_dask_tile_pieces(
                requests=[
                    [requests[k].name, list(requests[k].low), list(requests[k].high)]
                    for k in groups[address]
                ]
            )
            for address in addresses
        ),
        return_exceptions=True,
    )
    for address, reply in zip(addresses, replies, strict=True):
        keys = groups[address]
        if isinstance(reply, BaseException):
            names = [requests[k].name for k in keys]
            raise TilesLostError(names, f"{address} did not answer ({reply!r})") from (
                reply
            )
        for key, data in zip(keys, reply, strict=True):
            request = requests[key]
            if data is None:
                raise TilesLostError([request.name], f"{address} no longer holds it")
            pieces[key] = np.frombuffer(data, dtype=request.dtype).reshape(
                request.shape
            )
    return pieces


def held_keys(dask_scheduler: Scheduler, keys: Sequence[Any]) -> set[Any]:
    """Return the keys some worker holds in memory (runs on the scheduler).

    ``Client.who_has`` would do, but it refuses futures the scheduler has already
    forgotten, which lost tiles are.

    Parameters
    ----------
    dask_scheduler : distributed.Scheduler
        The scheduler (``Client.run_on_scheduler`` passes it).
    keys : Sequence
        The keys to look up.

    Returns
    -------
    set
        The keys held by at least one worker.
    """
    tasks = dask_scheduler.tasks
    return {key for key in keys if key in tasks and tasks[key].who_has}
