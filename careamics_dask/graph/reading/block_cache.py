"""The per-process cache of whole Dask blocks, for stacks that have no region reader.

Stacks without a region reader (a custom read function decoding whole files, a
user's Dask array) are read block by block: :func:`read_from_blocks` assembles a
region from whole blocks kept in this process's :class:`BlockCache`, so a block that
several batches need (a whole file, typically) is decoded once per visit.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.cache import LRUCache

if TYPE_CHECKING:
    import dask.array as da
    import numpy.typing as npt

__all__ = ["BlockCache", "read_from_blocks"]


def _nbytes(block: npt.NDArray[Any]) -> int:
    return int(block.nbytes)


class BlockCache:
    """A per-process cache of computed Dask blocks, bounded in bytes.

    Stacks that have no region reader (a custom read function decoding whole files,
    a user's Dask array) are read block by block; a block that several batches need
    (a whole file, typically) is decoded once per visit to this worker.

    Parameters
    ----------
    max_bytes : int
        The budget; the least recently used blocks are dropped beyond it.

    Examples
    --------
    >>> import dask.array as da
    >>> cache = BlockCache(2**20)
    >>> cache.get(da.arange(8, chunks=4), (1,)).tolist()
    [4, 5, 6, 7]
    >>> cache.nbytes
    32
    """

    def __init__(self, max_bytes: int) -> None:
        self._blocks: LRUCache[tuple[str, tuple[int, ...]], npt.NDArray[Any]] = (
            LRUCache(max(1, int(max_bytes)), weigh=_nbytes)
        )

    @property
    def max_bytes(self) -> int:
        """The budget in bytes."""
        return self._blocks.max_size

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._blocks.weight

    def get(
        self, array: da.Array, index: tuple[int, ...], *, budget: int | None = None
    ) -> npt.NDArray[Any]:
        """Return block ``index`` of ``array``, computing it when not cached.

        Parameters
        ----------
        array : dask.array.Array
            The array.
        index : tuple of int
            The block index.
        budget : int, optional
            A new byte budget for this cache (the caller's configured value).

        Returns
        -------
        numpy.ndarray
            The block.
        """
        if budget is not None and int(budget) != self._blocks.max_size:
            self._blocks.resize(int(budget))
        key = (str(array.name), index)
        found = self._blocks.get(key)
        if found is not None:
            return found
        block = np.asarray(array.blocks[index].compute(scheduler="sync"))
        return self._blocks.put(key, block)

    def clear(self) -> None:
        """Drop every block."""
        self._blocks.clear()


_block_cache = BlockCache(512 * 2**20)


def read_from_blocks(
    array: da.Array,
    sample_idx: int,
    bounds: tuple[tuple[int, int], ...],
    *,
    budget: int | None = None,
) -> npt.NDArray[Any]:
    """Assemble a region from cached whole blocks of a Dask array.

    Parameters
    ----------
    array : dask.array.Array
        An ``S C (Z) Y X`` stack.
    sample_idx : int
        The sample along ``S``.
    bounds : tuple of (int, int)
        ``(start, stop)`` per spatial axis, inside the image.
    budget : int, optional
        The byte budget of this process's block cache (unchanged when None).

    Returns
    -------
    numpy.ndarray
        All channels of the region, ``C (Z) Y X``.

    Examples
    --------
    >>> import dask.array as da
    >>> stack = da.arange(32, chunks=8).reshape(2, 1, 4, 4)
    >>> read_from_blocks(stack, 1, ((0, 1), (1, 3))).tolist()
    [[[17, 18]]]
    """
    wanted = [(sample_idx, sample_idx + 1), (0, array.shape[1]), *bounds]
    edges = [np.cumsum((0, *c)) for c in array.chunks]
    ranges = [
        range(
            int(np.searchsorted(e, lo, side="right")) - 1,
            int(np.searchsorted(e, hi, side="left")),
        )
        for (lo, hi), e in zip(wanted, edges, strict=True)
    ]
    out = np.empty(tuple(hi - lo for lo, hi in wanted), dtype=array.dtype)
    for index in itertools.product(*ranges):
        block = _block_cache.get(array, index, budget=budget)
        src, dst = [], []
        for (lo, hi), e, i in zip(wanted, edges, index, strict=True):
            start, stop = max(lo, int(e[i])), min(hi, int(e[i + 1]))
            src.append(slice(start - int(e[i]), stop - int(e[i])))
            dst.append(slice(start - lo, stop - lo))
        out[tuple(dst)] = block[tuple(src)]
    region: npt.NDArray[Any] = out[0]
    return region
