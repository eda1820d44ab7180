"""In-memory image stacks held on a cluster once, in tiles, instead of once per worker.

A batch plan that carries NumPy stacks (``in_memory=True``, NumPy inputs) would put a
copy of the data on every worker that builds batches. :class:`TiledPlan` instead
scatters each in-memory stack as tiles of about :data:`TILE_BYTES` (spread over the
workers, one copy each, under names the layout derives) and ships a plan whose stacks
are only :class:`TileLayout` descriptions. A batch task gets, for each tile its
patches touch, the box it needs, and reads just those pieces where the tiles are held
(:mod:`careamics_dask.feeding._tile_pieces`): no tile is ever copied to another
worker, so the cluster holds the data once, also while batches run. Scattered tiles
die with their worker; :meth:`TiledPlan.rescatter` sends lost tiles again, under the
same names, from the client's copy, and the stream reruns the batches that needed them.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.feeding._tile_layout import TileLayout, TileView
from careamics_dask.feeding._tile_pieces import TilePieces, fetch_pieces, held_keys
from careamics_dask.graph.batch import BatchPlan, build_batch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    import numpy.typing as npt
    from distributed import Client, Future

    from careamics_dask.feeding._tile_layout import Piece, TileBox, TileKey
    from careamics_dask.feeding._tile_pieces import PieceRequest
    from careamics_dask.graph.reading import StackSource
    from careamics_dask.patching import PatchTable

__all__ = ["SCATTER_BYTES", "TiledPlan", "build_tiled_batch"]

SCATTER_BYTES = 16 * 2**20
"""Tiles sent to the workers at once: the client's transient copies stay this small."""


def _with_views(
    sources: tuple[StackSource, ...] | None,
    pieces: Mapping[TileKey, Piece],
    fetch: Callable[[TileKey, TileBox], npt.NDArray[Any]] | None,
) -> tuple[StackSource, ...] | None:
    if sources is None:
        return None
    return tuple(
        dataclasses.replace(s, data=TileView(s.data, pieces, fetch))
        if isinstance(s.data, TileLayout)
        else s
        for s in sources
    )


def build_tiled_batch(
    plan: BatchPlan,
    rows: PatchTable,
    indices: npt.NDArray[np.int64],
    epoch: int,
    boxes: Mapping[TileKey, TileBox],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None]:
    """Build a batch whose in-memory stacks are tiles on the cluster (the batch task).

    Runs on a worker: the pieces of the tiles it needs are read where the tiles are
    held (:func:`~careamics_dask.feeding._tile_pieces.fetch_pieces`), not copied.

    Parameters
    ----------
    plan : BatchPlan
        A plan whose in-memory stacks are :class:`TileLayout` descriptions.
    rows : PatchTable
        The batch's rows.
    indices : numpy.ndarray
        The rows' global patch indices.
    epoch : int
        The epoch.
    boxes : Mapping
        Per tile key, the box of that tile the rows touch
        (:meth:`TiledPlan.needed`).

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray or None)
        As :func:`~careamics_dask.graph.batch.build_batch`.

    Raises
    ------
    careamics_dask.feeding._tile_pieces.TilesLostError
        When a tile's worker is gone.
    """
    layouts = {
        (s.data.role, s.data.data_idx): s.data
        for s in (*plan.inputs, *(plan.targets or ()))
        if isinstance(s.data, TileLayout)
    }

    def request(key: TileKey, box: TileBox) -> PieceRequest:
        return layouts[(key[0], key[1])].request(key, box)

    read = fetch_pieces({key: request(key, box) for key, box in boxes.items()})
    pieces = {key: (tuple(boxes[key][0]), piece) for key, piece in read.items()}

    def fetch(key: TileKey, box: TileBox) -> npt.NDArray[Any]:
        return fetch_pieces({key: request(key, box)})[key]

    viewed = dataclasses.replace(
        plan,
        inputs=_with_views(plan.inputs, pieces, fetch) or (),
        targets=_with_views(plan.targets, pieces, fetch),
    )
    return build_batch(viewed, rows, indices, epoch)


def _layouts(
    role: str, sources: tuple[StackSource, ...] | None, prefix: str
) -> list[tuple[TileLayout, npt.NDArray[Any]]]:
    return [
        (TileLayout.of(role, d, source.data, prefix), source.data)
        for d, source in enumerate(sources or ())
        if source.binding is None and isinstance(source.data, np.ndarray)
    ]


class TiledPlan:
    """A plan whose in-memory stacks were scattered to a cluster as tiles.

    Parameters
    ----------
    client : distributed.Client
        The cluster's client.
    plan : BatchPlan or other batch builder
        The full plan (its NumPy stacks stay on the client, for :meth:`rescatter`);
        other plans (MicroSplit's) are shipped as they are.
    """

    def __init__(self, client: Client, plan: Any) -> None:
        self.client = client
        self.futures: dict[TileKey, Future[Any]] = {}
        if not isinstance(plan, BatchPlan):  # other plans (MicroSplit) ship as they are
            self.layouts: list[tuple[TileLayout, npt.NDArray[Any]]] = []
            self.plan = plan
            return
        prefix = f"careamics-tile-{uuid.uuid4().hex[:16]}"
        self.layouts = _layouts("input", plan.inputs, prefix) + _layouts(
            "target", plan.targets, prefix
        )
        self._arrays = {
            (layout.role, layout.data_idx): (layout, array)
            for layout, array in self.layouts
        }
        replace = {key: layout for key, (layout, _) in self._arrays.items()}

        def strip(
            role: str, sources: tuple[StackSource, ...] | None
        ) -> tuple[StackSource, ...] | None:
            if sources is None:
                return None
            return tuple(
                dataclasses.replace(s, data=replace[(role, d)])
                if (role, d) in replace
                else s
                for d, s in enumerate(sources)
            )

        self.plan = dataclasses.replace(
            plan,
            inputs=strip("input", plan.inputs) or (),
            targets=strip("target", plan.targets),
        )
        if self.layouts:
            # every worker, and those that join later, serves pieces of its tiles
            client.register_plugin(TilePieces())
        for layout, array in self.layouts:
            self._scatter(layout.tiles(array))

    @property
    def tiled(self) -> bool:
        """Whether any stack is held as tiles."""
        return bool(self.layouts)

    def _scatter(self, tiles: Iterable[tuple[TileKey, npt.NDArray[Any]]]) -> None:
        """Scatter tiles in groups of :data:`SCATTER_BYTES` (bounded copies)."""
        group: list[tuple[TileKey, npt.NDArray[Any]]] = []
        size = 0
        for key, tile in tiles:
            group.append((key, tile))
            size += tile.nbytes
            if size >= SCATTER_BYTES:
                self._send(group)
                group, size = [], 0
        self._send(group)

    def _send(self, group: list[tuple[TileKey, npt.NDArray[Any]]]) -> None:
        if group:
            names = {self._name(k): (k, t) for k, t in group}
            futures = self.client.scatter(
                {name: t for name, (_, t) in names.items()}, hash=False
            )
            self.futures.update((names[n][0], f) for n, f in futures.items())

    def _name(self, key: TileKey) -> str:
        return self._arrays[(key[0], key[1])][0].name(key)

    def needed(
        self, rows: PatchTable, low: npt.NDArray[np.int64], high: npt.NDArray[np.int64]
    ) -> dict[TileKey, TileBox]:
        """Return the tiles that the rows' clipped boxes touch, and the part of each.

        Parameters
        ----------
        rows : PatchTable
            The batch's rows.
        low, high : numpy.ndarray
            In-image start and stop of each row's box, ``(N, ndim)``.

        Returns
        -------
        dict
            Per tile key, the box of the tile to read (:meth:`TileLayout.boxes`).
        """
        boxes: dict[TileKey, TileBox] = {}
        for layout, _ in self.layouts:
            mine = rows.data_idx == layout.data_idx
            if mine.any():
                boxes |= layout.boxes(rows.sample_idx[mine], low[mine], high[mine])
        return boxes

    def rescatter(self, keys: Sequence[TileKey] | None = None) -> int:
        """Scatter again the tiles that were lost, under their names; return how many.

        Parameters
        ----------
        keys : sequence of tuple, optional
            Tile keys to check; every tile by default.

        Returns
        -------
        int
            The number of tiles sent again.
        """
        keys = list(self.futures) if keys is None else list(keys)
        # the scheduler knows first which data died with a worker
        names = [self.futures[k].key for k in keys]
        held = self.client.run_on_scheduler(held_keys, keys=names)
        lost = [
            k
            for k, name in zip(keys, names, strict=True)
            if self.futures[k].status != "finished" or name not in held
        ]
        tiles = []
        for key in lost:
            layout, array = self._arrays[(key[0], key[1])]
            tiles.append((key, layout.cut(array, key[2], key[3:])))
        self._scatter(tiles)
        return len(lost)

    def release(self) -> None:
        """Release every tile future."""
        for future in self.futures.values():
            future.release()
        self.futures.clear()
