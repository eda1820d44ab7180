"""The one interface a stream builds batches through: threads, processes or a cluster.

A :class:`~careamics_dask.feeding.BatchStream` submits batch ``index`` of ``epoch``
(the dataset indices of its patches) and later asks for its arrays, in submission
order; it cancels what it no longer needs and closes the executor when it ends.
:class:`~careamics_dask.feeding.thread_executor.ThreadExecutor`,
:class:`~careamics_dask.feeding.process_executor.ProcessExecutor` and
:class:`~careamics_dask.feeding.distributed_executor.DistributedExecutor` implement it;
the last is also a :class:`GroupExecutor`, building several batches per task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeAlias, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from careamics_dask.patching import PatchTable

__all__ = ["BatchArrays", "BatchExecutor", "GroupExecutor", "Job", "TableOf"]

BatchArrays: TypeAlias = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None]
"""A built batch: the input, and the target or None."""

Job: TypeAlias = tuple[int, int, npt.NDArray[np.int64]]
"""A batch to build: epoch, index within the epoch, dataset indices."""

TableOf: TypeAlias = "Callable[[int], PatchTable]"
"""Returns the patch table of an epoch (the stream's: the dataset's, or draws)."""

HandleT = TypeVar("HandleT")


class BatchExecutor(Protocol[HandleT]):
    """Builds batches somewhere, handing back a handle per submitted batch."""

    def submit(self, epoch: int, index: int, indices: npt.NDArray[np.int64]) -> HandleT:
        """Start building batch ``index`` of ``epoch`` from these dataset indices."""
        ...

    def result(self, handle: HandleT) -> BatchArrays:
        """Wait for a batch's arrays (in submission order); raise what it raised."""
        ...

    def cancel(self, handle: HandleT) -> None:
        """Drop a batch that is no longer needed (or release a finished one)."""
        ...

    def close(self) -> None:
        """Stop building and free what the executor holds."""
        ...


@runtime_checkable
class GroupExecutor(Protocol[HandleT]):
    """A :class:`BatchExecutor` that can also build several batches in one task.

    A stream hands it up to ``batches_per_task`` consecutive jobs at once, so the
    cost of a task (submission, scheduling, a round trip) is shared by the group.
    ``threads`` says how many tasks can run at once (the window keeps at least
    that many in flight).
    """

    batches_per_task: int
    threads: int

    def submit(self, epoch: int, index: int, indices: npt.NDArray[np.int64]) -> HandleT:
        """Start building batch ``index`` of ``epoch`` from these dataset indices."""
        ...

    def submit_group(self, jobs: Sequence[Job]) -> HandleT:
        """Start building these batches in one task."""
        ...

    def result(self, handle: HandleT) -> BatchArrays:
        """Wait for the first batch of a handle's task."""
        ...

    def results(self, handle: HandleT) -> list[BatchArrays]:
        """Wait for every batch of a handle's task, in job order."""
        ...

    def cancel(self, handle: HandleT) -> None:
        """Drop a task that is no longer needed (or release a finished one)."""
        ...

    def close(self) -> None:
        """Stop building and free what the executor holds."""
        ...
