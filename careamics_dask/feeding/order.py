"""The order of an epoch's batches: shuffled, chunk-aware or in table order, by rank."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from careamics_dask.graph.batch import BatchPlan
from careamics_dask.graph.ordering import (
    canonical_chunks,
    chunk_aware_order,
    draw_chunk_aware_table,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    from careamics_dask.feeding.source import BatchSource
    from careamics_dask.graph.batch import BatchBuilder
    from careamics_dask.patching import PatchTable

__all__ = ["EpochTables", "shuffled_order", "split_batches", "storage_chunks"]

_SHUFFLE_KEY = 0x5EED_0F_BA7C4
"""Spawn-key word that separates the stream's shuffling from other random draws."""


def storage_chunks(plan: BatchBuilder) -> list[tuple[int, ...]]:
    """Return the canonical storage chunks of a plan's input stacks.

    Parameters
    ----------
    plan : BatchBuilder
        A batch plan over input stacks (a ``BatchPlan``).

    Returns
    -------
    list of tuple of int
        ``S C (Z) Y X`` chunk sizes per input stack.

    Raises
    ------
    TypeError
        When the plan has no input stacks to group patches by.
    """
    if not isinstance(plan, BatchPlan):
        raise TypeError(
            "Chunk-aware streams group patches by their input stacks' chunks: "
            f"expected a BatchPlan, got {type(plan).__name__}. Use "
            "chunk_aware=False for this dataset."
        )
    return [canonical_chunks(source) for source in plan.inputs]


def shuffled_order(n: int, seed: int, epoch: int) -> npt.NDArray[np.int64]:
    """Return a permutation of ``n`` dataset indices keyed by (seed, epoch).

    Parameters
    ----------
    n : int
        Patches per epoch.
    seed : int
        The dataset's seed.
    epoch : int
        The epoch.

    Returns
    -------
    numpy.ndarray
        The permutation.

    Examples
    --------
    >>> sorted(shuffled_order(5, 1, 0).tolist())
    [0, 1, 2, 3, 4]
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(_SHUFFLE_KEY, epoch))
    return np.random.default_rng(sequence).permutation(n).astype(np.int64)


def split_batches(
    order: npt.NDArray[np.int64], batch_size: int, rank: int, world_size: int
) -> list[npt.NDArray[np.int64]]:
    """Cut an order into batches and keep this rank's equal share.

    Parameters
    ----------
    order : numpy.ndarray
        Dataset indices in stream order.
    batch_size : int
        Patches per batch.
    rank : int
        This process's rank.
    world_size : int
        The number of ranks (the remainder of batches is dropped when above 1).

    Returns
    -------
    list of numpy.ndarray
        One array of dataset indices per batch.

    Examples
    --------
    >>> [b.tolist() for b in split_batches(np.arange(7), 2, 1, 2)]
    [[2, 3], [6]]
    """
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if world_size > 1:
        usable = len(batches) // world_size * world_size
        batches = batches[rank:usable:world_size]
    return batches


class EpochTables:
    """The patch table of each epoch: the source's, or chunk-aware draws.

    Parameters
    ----------
    source : BatchSource
        The dataset.
    plan : BatchBuilder
        The stream's plan (its input stacks' chunks place the draws).
    draw : bool
        Draw each epoch's patches inside storage chunks instead
        (:func:`~careamics_dask.graph.ordering.draw_chunk_aware_table`); the last
        epoch's draws are kept.
    seed : int
        Keys the draws.
    """

    def __init__(
        self, source: BatchSource, plan: BatchBuilder, *, draw: bool, seed: int
    ) -> None:
        self.source = source
        self.plan = plan
        self.draw = draw
        self.seed = seed
        self._drawn: tuple[int, PatchTable] | None = None

    def __call__(self, epoch: int) -> PatchTable:
        """Return the table of ``epoch``.

        Parameters
        ----------
        epoch : int
            The epoch.

        Returns
        -------
        PatchTable
            One row per patch.

        Raises
        ------
        ValueError
            When draws are asked of a source without a patch size.
        """
        if not self.draw:
            return self.source.patch_table(epoch)
        if self._drawn is None or self._drawn[0] != epoch:
            patch = self.source.patch_size
            if patch is None:  # checked at construction: random patching
                raise ValueError("Chunk-aware draws need a patch size.")
            drawn = draw_chunk_aware_table(
                self.source.input_shapes,
                storage_chunks(self.plan),
                patch,
                patches_per_chunk=self.source.batch_size,
                seed=self.seed,
                epoch=epoch,
            )
            self._drawn = (epoch, drawn)
        return self._drawn[1]

    def chunk_order(self, epoch: int) -> npt.NDArray[np.int64]:
        """Return the epoch's indices grouped by storage chunk, batches shuffled.

        Parameters
        ----------
        epoch : int
            The epoch.

        Returns
        -------
        numpy.ndarray
            Dataset indices (:func:`~careamics_dask.graph.ordering.chunk_aware_order`).
        """
        return chunk_aware_order(
            self(epoch),
            storage_chunks(self.plan),
            self.source.batch_size,
            seed=self.seed,
            epoch=epoch,
        )
