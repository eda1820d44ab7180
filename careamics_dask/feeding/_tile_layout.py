"""How an in-memory stack is cut into named tiles, and views that read from pieces.

:class:`TileLayout` describes the tiles of one ``S C (Z) Y X`` stack (no pixels): their
size, their names on the cluster, the part of each tile a box touches.
:class:`TileView` stands in for the stack inside a batch task and reads regions from
the pieces of tiles the task was given.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.feeding._tile_pieces import PieceRequest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    import numpy.typing as npt

__all__ = ["TILE_BYTES", "Piece", "TileBox", "TileKey", "TileLayout", "TileView"]

TILE_BYTES = 256 * 2**10
"""Target size of one tile (all channels, the data's own dtype)."""

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
        >>> import dataclasses
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
