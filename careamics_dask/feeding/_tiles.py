"""In-memory image stacks held on a cluster once, in tiles, instead of once per worker.

A batch plan that carries NumPy stacks (``in_memory=True``, NumPy inputs) would put a
copy of the data on every worker that builds batches. :class:`TiledPlan` instead
scatters each in-memory stack as tiles of about :data:`TILE_BYTES` (spread over the
workers, one copy each) and ships a plan whose stacks are only
:class:`TileLayout` descriptions. Each batch task receives the tiles its patches
touch, as task dependencies: ``distributed`` moves them where the task runs, and its
active memory manager drops the extra copies once no waiting task needs them, so the
cluster holds the data about once. Scattered tiles die with their worker;
:meth:`TiledPlan.rescatter` sends lost tiles again from the client's copy, and the
stream resubmits the batches that needed them.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.graph.batch import BatchPlan, build_batch

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    import numpy.typing as npt
    from distributed import Client, Future

    from careamics_dask.graph.stacks import StackSource
    from careamics_dask.patching import PatchTable

__all__ = ["TILE_BYTES", "TileLayout", "TileView", "TiledPlan", "build_tiled_batch"]

TILE_BYTES = 256 * 2**10
"""Target size of one tile (all channels, the data's own dtype)."""

SCATTER_BYTES = 16 * 2**20
"""Tiles sent to the workers at once: the client's transient copies stay this small."""

TileKey = tuple[Any, ...]
"""``(role, data_idx, sample, *tile_index)``."""


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
    """

    role: str
    data_idx: int
    shape: tuple[int, ...]
    dtype: str
    tile: tuple[int, ...]

    @classmethod
    def of(cls, role: str, data_idx: int, array: npt.NDArray[Any]) -> TileLayout:
        """Choose near-square tiles of about :data:`TILE_BYTES` for an array.

        Parameters
        ----------
        role : str
            ``"input"`` or ``"target"``.
        data_idx : int
            The stack's index.
        array : numpy.ndarray
            The ``S C (Z) Y X`` pixels.

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
        )

    def key(self, sample: int, index: Sequence[int]) -> TileKey:
        """Return the key of one tile."""
        return (self.role, self.data_idx, int(sample), *(int(i) for i in index))

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

    def touched(
        self,
        sample_idx: npt.NDArray[np.int64],
        low: npt.NDArray[np.int64],
        high: npt.NDArray[np.int64],
    ) -> set[TileKey]:
        """Return the keys of the tiles that in-image boxes touch.

        Parameters
        ----------
        sample_idx : numpy.ndarray
            Sample of each box, ``(N,)``.
        low, high : numpy.ndarray
            In-image start and stop of each box, ``(N, ndim)``.

        Returns
        -------
        set of tuple
            Tile keys.
        """
        tile = np.asarray(self.tile, dtype=np.int64)
        first = low // tile
        last = (np.maximum(high, low + 1) - 1) // tile
        keys: set[TileKey] = set()
        for s, a, b, lo, hi in zip(
            sample_idx.tolist(),
            first.tolist(),
            last.tolist(),
            low.tolist(),
            high.tolist(),
            strict=True,
        ):
            if any(x >= y for x, y in zip(lo, hi, strict=True)):
                continue  # outside the image: nothing to read
            for index in itertools.product(
                *(range(i, j + 1) for i, j in zip(a, b, strict=True))
            ):
                keys.add(self.key(s, index))
        return keys


class TileView:
    """Reads ``view[(sample, slice(None), *spatial)]`` from a task's tiles.

    Parameters
    ----------
    layout : TileLayout
        The stack's layout.
    tiles : Mapping
        The tiles this task received, by key.
    """

    def __init__(
        self, layout: TileLayout, tiles: Mapping[TileKey, npt.NDArray[Any]]
    ) -> None:
        self.layout = layout
        self.tiles = tiles
        self.shape = layout.shape
        self.dtype = np.dtype(layout.dtype)

    def __getitem__(self, key: tuple[Any, ...]) -> npt.NDArray[Any]:
        sample, _, *spatial = key
        bounds = [
            (int(s.start or 0), int(n if s.stop is None else s.stop))
            for s, n in zip(spatial, self.shape[2:], strict=True)
        ]
        tile = self.layout.tile
        out = np.empty(
            (self.shape[1], *(hi - lo for lo, hi in bounds)), dtype=self.dtype
        )
        ranges = [
            range(lo // t, (hi - 1) // t + 1) if hi > lo else range(0)
            for (lo, hi), t in zip(bounds, tile, strict=True)
        ]
        for index in itertools.product(*ranges):
            block = self.tiles[self.layout.key(int(sample), index)]
            src, dst = [], []
            for (lo, hi), i, t in zip(bounds, index, tile, strict=True):
                start, stop = max(lo, i * t), min(hi, (i + 1) * t)
                src.append(slice(start - i * t, stop - i * t))
                dst.append(slice(start - lo, stop - lo))
            out[(slice(None), *dst)] = block[(slice(None), *src)]
        return out


def _with_views(
    sources: tuple[StackSource, ...] | None,
    tiles: Mapping[TileKey, npt.NDArray[Any]],
) -> tuple[StackSource, ...] | None:
    if sources is None:
        return None
    return tuple(
        dataclasses.replace(s, data=TileView(s.data, tiles))
        if isinstance(s.data, TileLayout)
        else s
        for s in sources
    )


def build_tiled_batch(
    plan: BatchPlan,
    rows: PatchTable,
    indices: npt.NDArray[np.int64],
    epoch: int,
    tiles: Mapping[TileKey, npt.NDArray[Any]],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None]:
    """Build a batch whose in-memory stacks come as tiles (the batch task).

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
    tiles : Mapping
        The tiles the rows touch, by key (futures resolved by ``distributed``).

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray or None)
        As :func:`~careamics_dask.graph.batch.build_batch`.
    """
    viewed = dataclasses.replace(
        plan,
        inputs=_with_views(plan.inputs, tiles) or (),
        targets=_with_views(plan.targets, tiles),
    )
    return build_batch(viewed, rows, indices, epoch)


def _layouts(
    role: str, sources: tuple[StackSource, ...] | None
) -> list[tuple[TileLayout, npt.NDArray[Any]]]:
    return [
        (TileLayout.of(role, d, source.data), source.data)
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
        self.layouts = _layouts("input", plan.inputs) + _layouts("target", plan.targets)
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
            futures = self.client.scatter([t for _, t in group], hash=False)
            self.futures.update(
                (k, f) for (k, _), f in zip(group, futures, strict=True)
            )

    def needed(
        self, rows: PatchTable, low: npt.NDArray[np.int64], high: npt.NDArray[np.int64]
    ) -> dict[TileKey, Future[Any]]:
        """Return the tile futures that the rows' clipped boxes touch.

        Parameters
        ----------
        rows : PatchTable
            The batch's rows.
        low, high : numpy.ndarray
            In-image start and stop of each row's box, ``(N, ndim)``.

        Returns
        -------
        dict
            Tile futures by key.
        """
        keys: set[TileKey] = set()
        for layout, _ in self.layouts:
            mine = rows.data_idx == layout.data_idx
            if mine.any():
                keys |= layout.touched(rows.sample_idx[mine], low[mine], high[mine])
        return {key: self.futures[key] for key in keys}

    def rescatter(self, keys: Sequence[TileKey]) -> int:
        """Scatter again the given tiles whose futures were lost; return how many.

        Parameters
        ----------
        keys : sequence of tuple
            Tile keys to check.

        Returns
        -------
        int
            The number of tiles sent again.
        """
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
