"""Where the channels of MicroSplit patches come from: epoch tables and locations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from careamics_dask.cache import LRUCache

if TYPE_CHECKING:
    from careamics_dask.patching import PatchingStrategy, PatchTable

__all__ = ["ChannelLocations", "epoch_table"]

_MAX_TABLES = 8
_TABLES: LRUCache[tuple[int, int], tuple[object, PatchTable]] = LRUCache(_MAX_TABLES)

Int64Array = npt.NDArray[np.int64]


def epoch_table(strategy: PatchingStrategy, epoch: int) -> PatchTable:
    """Return a strategy's table of one epoch, cached per process, thread-safe.

    Parameters
    ----------
    strategy : PatchingStrategy
        A strategy the caller owns (plans hold private copies).
    epoch : int
        The epoch.

    Returns
    -------
    PatchTable
        ``strategy.table(epoch)``.

    Examples
    --------
    >>> from careamics_dask.patching import RandomPatching
    >>> patching = RandomPatching([(1, 1, 32, 32)], [16, 16], seed=1)
    >>> epoch_table(patching, 3) == patching.table(3)
    True
    """
    key = (id(strategy), int(epoch))
    hit = _TABLES.get(key)
    if hit is not None and hit[0] is strategy:
        return hit[1]
    table = strategy.table(int(epoch))
    _TABLES.replace(key, (strategy, table))
    return table


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelLocations:
    """Where each channel of each patch of a batch comes from, and its weight.

    Attributes
    ----------
    data_idx, sample_idx : numpy.ndarray
        ``(n_channels, B)`` stack and sample of every channel (stack indices of
        that channel's own source in the independent mode).
    coords : numpy.ndarray
        ``(n_channels, B, ndim)`` patch starts.
    uncorrelated : numpy.ndarray
        ``(B,)`` bool: the channels come from different locations.
    alphas : numpy.ndarray
        ``(B, n_channels)`` float64 mixing weights.
    principal : int
        The channel whose location is the table row.
    """

    data_idx: Int64Array
    sample_idx: Int64Array
    coords: Int64Array
    uncorrelated: npt.NDArray[np.bool_]
    alphas: npt.NDArray[np.float64]
    principal: int
