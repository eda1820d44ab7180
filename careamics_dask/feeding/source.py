"""What a stream reads from a dataset: the :class:`BatchSource` Protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from careamics_dask.graph.batch import BatchBuilder
    from careamics_dask.patching import PatchTable

__all__ = ["BatchSource", "batch_nbytes"]


class BatchSource(Protocol):
    """A dataset a :class:`~careamics_dask.feeding.BatchStream` can stream.

    Everything the stream needs, as plain values: the batch plan, one patch table
    per epoch, the batch size, the seed, a token naming the dataset's keys on a
    cluster, and the settings chunk-aware draws and the default shuffle depend on.
    :class:`~careamics_dask.CareamicsDataset` and
    :class:`~careamics_dask.MicroSplitDataset` satisfy it through public properties.
    """

    @property
    def plan(self) -> BatchBuilder:
        """What every batch task shares (a dataclass, such as ``BatchPlan``)."""
        ...

    def patch_table(self, epoch: int = 0) -> PatchTable:
        """Return the patch table of one epoch (dataset index order)."""
        ...

    def __len__(self) -> int:
        """Return the number of patches per epoch."""
        ...

    @property
    def batch_size(self) -> int:
        """Patches per batch."""
        ...

    @property
    def seed(self) -> int:
        """The seed the stream's shuffling is keyed by."""
        ...

    @property
    def token(self) -> str:
        """Identifies the dataset's batches (names its keys on a cluster)."""
        ...

    @property
    def patching_name(self) -> str:
        """The patching strategy's name (chunk-aware draws replace ``"random"``)."""
        ...

    @property
    def patch_size(self) -> tuple[int, ...] | None:
        """The patch size of random and stratified patching, else None."""
        ...

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        """The ``S C (Z) Y X`` shape of every input stack."""
        ...

    @property
    def default_shuffle(self) -> bool:
        """Whether a stream shuffles when not told."""
        ...


def batch_nbytes(source: BatchSource, table: PatchTable) -> int:
    """Return the bytes of one float32 batch of a source (inputs and targets).

    Parameters
    ----------
    source : BatchSource
        The dataset.
    table : PatchTable
        One epoch's patches (their largest size counts).

    Returns
    -------
    int
        ``batch_size x channels x patch volume x 4``, targets' channels included.
    """
    if len(table) == 0:
        return 0
    volume = int(np.prod(table.patch_size, axis=1).max())
    channels = max(int(shape[1]) for shape in source.input_shapes)
    targets = getattr(source, "target_shapes", None)
    if targets:
        channels += max(int(shape[1]) for shape in targets)
    return source.batch_size * channels * volume * 4
