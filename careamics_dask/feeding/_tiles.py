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
import itertools
import math
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.feeding._tile_pieces import PieceRequest, TilePieces, fetch_pieces
from careamics_dask.graph.batch import BatchPlan, build_batch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    import numpy.typing as npt
    from distributed import Client, Future

    from careamics_dask.graph.reading import StackSource
    from careamics_dask.patching import PatchTable

__all__ = ["TILE_BYTES", "TileLayout", "TileView", "TiledPlan", "build_tiled_batch"]

TILE_BYTES = 256 * 2**10
"""Target size of one tile (all channels, the data's own dtype)."""

SCATTER_BYTES = 16 * 2**20
"""Tiles sent to the workers at once: the client's transient copies stay this small."""

TileKey = tuple[Any, ...]
"""``(role, data_idx, sample, *tile_index)``."""

TileBox = tuple[tuple[int, ...], tuple[int, ...]]
"""``(start, stop)`` of a box inside one tile, along its spatial axes."""

Piece = tuple[tuple[int, ...], "npt.NDArray[Any]"]
"""A box's start inside its tile, and its pixels ``C (Z) Y X``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TileLayout:
    """How an in-memory stack ``S C (Z) Y X`` is cut into tiles (no pixels).

    Attributes
    ----------
    role : str
        ``"input"`` or ``"target"``.
    data_idx : int
        The stack's index in the plan.
    shape : tuple of int
        The stack's shape.
    dtype : str
        The pixels' dtype.
    tile : tuple of int
        Tile size along the spatial axes (the last tiles may be smaller).
    prefix : str
        Start of the tiles' names on the cluster (unique per scattered plan).
    """

    role: str
    data_idx: int
    shape: tuple[int, ...]
    dtype: str
    tile: tuple[int, ...]
    prefix: str = "careamics-tile"

    @classmethod
    def of(
        cls,
        role: str,
        data_idx: int,
        array: npt.NDArray[Any],
        prefix: str = "careamics-tile",
    ) -> TileLayout:
        """Choose near-square tiles of about :data:`TILE_BYTES` for an array.

        Parameters
        ----------
        role : str
            ``"input"`` or ``"target"``.
        data_idx : int
            The stack's index.
        array : numpy.ndarray
            The ``S C (Z) Y X`` pixels.
        prefix : str
            Start of the tiles' names on the cluster.

        Returns
        -------
        TileLayout
            The layout.

        Examples
        --------
        >>> TileLayout.of("input", 0, np.zeros((2, 1, 1000, 1000), np.uint16)).tile
        (362, 362)
        """
        spatial = array.shape[2:]
        pixels = max(1, TILE_BYTES // max(1, array.shape[1] * array.itemsize))
        side = max(16, int(pixels ** (1 / len(spatial))))
        return cls(
            role=role,
            data_idx=data_idx,
            shape=tuple(int(n) for n in array.shape),
            dtype=str(array.dtype),
            tile=tuple(min(side, int(n)) or 1 for n in spatial),
            prefix=prefix,
        )

    def key(self, sample: int, index: Sequence[int]) -> TileKey:
        """Return the key of one tile."""
        return (self.role, self.data_idx, int(sample), *(int(i) for i in index))

    def name(self, key: TileKey) -> str:
        """Return the name a tile is scattered under (derived: a task can find any).

        Examples
        --------
        >>> layout = TileLayout.of("input", 0, np.zeros((1, 1, 8, 8)), prefix="t")
        >>> layout.name(layout.key(0, (1, 2)))
        't-input-0-0-1-2'
        """
        return "-".join((self.prefix, *(str(part) for part in key)))

    def request(self, key: TileKey, box: TileBox) -> PieceRequest:
        """Return the request for a box of one tile, all channels."""
        return PieceRequest(
            name=self.name(key),
            low=tuple(box[0]),
            high=tuple(box[1]),
            channels=self.shape[1],
            dtype=self.dtype,
        )

    def tiles(
        self, array: npt.NDArray[Any]
    ) -> Iterator[tuple[TileKey, npt.NDArray[Any]]]:
        """Cut an array into its tiles, one copy at a time (each is sent alone)."""
        grid = [
            range(math.ceil(n / t))
            for n, t in zip(self.shape[2:], self.tile, strict=True)
        ]
        for sample in range(self.shape[0]):
            for index in itertools.product(*grid):
                yield self.key(sample, index), self.cut(array, sample, index)

    def cut(
        self, array: npt.NDArray[Any], sample: int, index: Sequence[int]
    ) -> npt.NDArray[Any]:
        """Return a copy of one tile of ``array``."""
        region: tuple[int | slice, ...] = (
            sample,
            slice(None),
            *(slice(i * t, (i + 1) * t) for i, t in zip(index, self.tile, strict=True)),
        )
        return np.ascontiguousarray(array[region])

    def parts(
        self, bounds: Sequence[tuple[int, int]]
    ) -> Iterator[
        tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    ]:
        """Cut an in-image box into its parts, one per tile it touches.

        Parameters
        ----------
        bounds : sequence of (int, int)
            ``(start, stop)`` of the box along each spatial axis.

        Yields
        ------
        tuple
            The tile's index, the part's start and stop in the tile's coordinates,
            and the part's start in the box's coordinates (nothing for an empty box).

        Examples
        --------
        >>> layout = TileLayout.of("input", 0, np.zeros((1, 1, 8, 8)))
        >>> layout = dataclasses.replace(layout, tile=(4, 4))
        >>> [p[0] for p in layout.parts([(2, 6), (0, 3)])]
        [(0, 0), (1, 0)]
        """
        ranges = [
            range(lo // t, (hi - 1) // t + 1) if hi > lo else range(0)
            for (lo, hi), t in zip(bounds, self.tile, strict=True)
        ]
        for index in itertools.product(*ranges):
            origin = [i * t for i, t in zip(index, self.tile, strict=True)]
            start = [max(lo, o) for (lo, _), o in zip(bounds, origin, strict=True)]
            stop = [
                min(hi, o + t)
                for (_, hi), o, t in zip(bounds, origin, self.tile, strict=True)
            ]
            yield (
                index,
                tuple(a - o for a, o in zip(start, origin, strict=True)),
                tuple(b - o for b, o in zip(stop, origin, strict=True)),
                tuple(a - lo for a, (lo, _) in zip(start, bounds, strict=True)),
            )

    def boxes(
        self,
        sample_idx: npt.NDArray[np.int64],
        low: npt.NDArray[np.int64],
        high: npt.NDArray[np.int64],
    ) -> dict[TileKey, TileBox]:
        """Return, for each tile that in-image boxes touch, the part they touch.

        Parameters
        ----------
        sample_idx : numpy.ndarray
            Sample of each box, ``(N,)``.
        low, high : numpy.ndarray
            In-image start and stop of each box, ``(N, ndim)``.

        Returns
        -------
        dict
            Per tile key, the bounding box (in the tile's coordinates) of the
            boxes' parts inside that tile.
        """
        out: dict[TileKey, TileBox] = {}
        for s, lo, hi in zip(
            sample_idx.tolist(), low.tolist(), high.tolist(), strict=True
        ):
            for index, part_lo, part_hi, _ in self.parts(
                list(zip(lo, hi, strict=True))
            ):
                key = self.key(s, index)
                seen = out.get(key)
                if seen is not None:
                    part_lo = tuple(map(min, seen[0], part_lo))
                    part_hi = tuple(map(max, seen[1], part_hi))
                out[key] = (part_lo, part_hi)
        return out


class TileView:
    """Reads ``view[(sample, slice(None), *spatial)]`` from pieces of tiles.

    Parameters
    ----------
    layout : TileLayout
        The stack's layout.
    pieces : Mapping
        Per tile key, the piece of that tile this task has (whole tiles are pieces
        that start at 0).
    fetch : callable, optional
        ``fetch(key, box)`` returns a box of a tile this task lacks; without it, a
        read outside the pieces raises ``KeyError``.
    """

    def __init__(
        self,
        layout: TileLayout,
        pieces: Mapping[TileKey, Piece],
        fetch: Callable[[TileKey, TileBox], npt.NDArray[Any]] | None = None,
    ) -> None:
        self.layout = layout
        self.pieces = pieces
        self.fetch = fetch
        self.shape = layout.shape
        self.dtype = np.dtype(layout.dtype)

    def __getitem__(self, key: tuple[Any, ...]) -> npt.NDArray[Any]:
        sample, _, *spatial = key
        bounds = [
            (int(s.start or 0), int(n if s.stop is None else s.stop))
            for s, n in zip(spatial, self.shape[2:], strict=True)
        ]
        out = np.empty(
            (self.shape[1], *(hi - lo for lo, hi in bounds)), dtype=self.dtype
        )
        for index, low, high, at in self.layout.parts(bounds):
            tile_key = self.layout.key(int(sample), index)
            piece = self.pieces.get(tile_key)
            if piece is not None and all(
                o <= a and b <= o + n
                for a, b, o, n in zip(
                    low, high, piece[0], piece[1].shape[1:], strict=True
                )
            ):
                origin, block = piece
                part = block[
                    (
                        slice(None),
                        *(
                            slice(a - o, b - o)
                            for a, b, o in zip(low, high, origin, strict=True)
                        ),
                    )
                ]
            elif self.fetch is not None:  # a region wider than the patches' parts
                part = self.fetch(tile_key, (low, high))
            else:
                raise KeyError(
                    f"tile {tile_key} box {(low, high)} is not among this task's pieces"
                )
            dst = (slice(a, a + b - c) for a, b, c in zip(at, high, low, strict=True))
            out[(slice(None), *dst)] = part
        return out


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


def _held_keys(dask_scheduler: Any, keys: Sequence[Any]) -> set[Any]:
    """Return the keys some worker holds in memory (runs on the scheduler)."""
    tasks = dask_scheduler.tasks
    return {key for key in keys if key in tasks and tasks[key].who_has}


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
        held = self.client.run_on_scheduler(_held_keys, keys=names)
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
