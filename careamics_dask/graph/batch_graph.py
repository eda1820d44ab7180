"""The batch graph of an epoch: one Dask task per batch, never one per patch.

:func:`build_batch_tasks` returns one ``delayed`` task per batch, each returning
``(input, target)``; :func:`build_batch_array` returns the epoch's inputs (or
targets) as one lazy array built from blockwise layers that Dask fuses into one
task per batch, each yielding its block (the input and target arrays share the
builds when computed together). Both depend on one shared key holding the batch
plan, so in-memory arrays inside it travel to each worker once. Both take plain
values (the plan, the epoch's table, the batch size, the epoch and a token that
identifies the dataset) and read nothing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import delayed
from dask.layers import ArrayBlockwiseDep

from careamics_dask.graph.batch import build_batch

if TYPE_CHECKING:
    import numpy.typing as npt
    from dask.delayed import Delayed

    from careamics_dask.graph.batch import BatchBuilder
    from careamics_dask.patching import PatchTable

__all__ = [
    "batch_indices",
    "build_batch_array",
    "build_batch_record",
    "build_batch_tasks",
    "count_batches",
    "select_batch_part",
]


def count_batches(n_patches: int, batch_size: int) -> int:
    """Return the number of batches of an epoch (the last may be smaller).

    Parameters
    ----------
    n_patches : int
        Patches per epoch.
    batch_size : int
        Patches per batch.

    Returns
    -------
    int
        ``ceil(n_patches / batch_size)``.

    Examples
    --------
    >>> count_batches(10, 4)
    3
    """
    return math.ceil(n_patches / batch_size)


def batch_indices(index: int, n_patches: int, batch_size: int) -> npt.NDArray[np.int64]:
    """Return the dataset indices of batch ``index`` in table order.

    Parameters
    ----------
    index : int
        The batch (not checked).
    n_patches : int
        Patches per epoch.
    batch_size : int
        Patches per batch.

    Returns
    -------
    numpy.ndarray
        Consecutive dataset indices.

    Examples
    --------
    >>> batch_indices(2, 10, 4).tolist()
    [8, 9]
    """
    start = index * batch_size
    return np.arange(start, min(start + batch_size, n_patches), dtype=np.int64)


def build_batch_tasks(
    plan: BatchBuilder,
    table: PatchTable,
    batch_size: int,
    epoch: int,
    token: str,
) -> list[Delayed]:
    """Return one delayed task per batch of an epoch, in batch order (not computed).

    Each task returns ``(input, target)`` (:func:`build_batch`) under the key
    ``careamics-batch-<tokenize(token, epoch)>-<index>``; every task depends on one
    shared key holding the plan.

    Parameters
    ----------
    plan : BatchBuilder
        The dataset's batch plan.
    table : PatchTable
        The epoch's patch table.
    batch_size : int
        Patches per batch.
    epoch : int
        The epoch.
    token : str
        Identifies the dataset (its sources and settings).

    Returns
    -------
    list of dask.delayed.Delayed
        ``count_batches(len(table), batch_size)`` tasks.

    Examples
    --------
    >>> from careamics_dask.graph.transforms.normalize import Normalizer
    >>> from careamics_dask.graph.batch import BatchPlan
    >>> from careamics_dask.graph.reading import StackSource
    >>> from careamics_dask.patching import TiledPatching
    >>> data = np.ones((1, 1, 16, 16))
    >>> plan = BatchPlan(inputs=(StackSource(source="array", shape=data.shape,
    ...     dtype="float64", data=data),), targets=None, channels=None,
    ...     target_channels=None, normalizer=Normalizer(name="none"))
    >>> table = TiledPatching([data.shape], [8, 8], [2, 2]).table()
    >>> tasks = build_batch_tasks(plan, table, 4, 0, "doc")
    >>> len(tasks), tasks[0].compute()[0].shape
    (3, (4, 1, 8, 8))
    """
    name = tokenize(token, epoch)
    shared = delayed(plan, pure=True, traverse=False)
    task = delayed(build_batch, pure=True, traverse=False)
    tasks = []
    for index in range(count_batches(len(table), batch_size)):
        indices = batch_indices(index, len(table), batch_size)
        tasks.append(
            task(
                shared,
                table.take(indices),
                indices,
                epoch,
                dask_key_name=f"careamics-batch-{name}-{index}",
            )
        )
    return tasks


class _BatchRows(ArrayBlockwiseDep):
    """The rows and indices of each batch, taken from the table when asked for."""

    def __init__(
        self, chunks: tuple[tuple[int, ...], ...], table: PatchTable, batch_size: int
    ) -> None:
        super().__init__(chunks)
        self.table = table
        self.batch_size = batch_size

    def __getitem__(
        self, idx: tuple[int, ...]
    ) -> tuple[PatchTable, npt.NDArray[np.int64]]:
        indices = batch_indices(idx[0], len(self.table), self.batch_size)
        return self.table.take(indices), indices


def build_batch_record(
    plan: BatchBuilder,
    rows_indices: tuple[PatchTable, npt.NDArray[np.int64]],
    epoch: int,
) -> npt.NDArray[np.object_]:
    """Build one batch, as the single element of an object array (a graph block).

    Parameters
    ----------
    plan : BatchBuilder
        The dataset's batch plan.
    rows_indices : tuple of (PatchTable, numpy.ndarray)
        The batch's rows and their dataset indices.
    epoch : int
        The epoch.

    Returns
    -------
    numpy.ndarray
        ``(1,)`` object array holding ``(input, target or None)``.
    """
    rows, indices = rows_indices
    record = np.empty(1, dtype=object)
    record[0] = build_batch(plan, rows, indices, epoch)
    return record


def select_batch_part(
    record: npt.NDArray[np.object_], part: int
) -> npt.NDArray[np.float32]:
    """Return the input (0) or the target (1) of a built batch's record.

    Parameters
    ----------
    record : numpy.ndarray
        The output of :func:`build_batch_record`.
    part : int
        0 for the input, 1 for the target.

    Returns
    -------
    numpy.ndarray
        ``(B, C, (Z), Y, X)`` float32.

    Raises
    ------
    ValueError
        When the target of a batch without targets is asked for.
    """
    block: npt.NDArray[np.float32] | None = record[0][part]
    if block is None:
        raise ValueError(
            "This batch has no targets: expected part 0 (the input), got part 1."
        )
    return block


def build_batch_array(
    plan: BatchBuilder,
    table: PatchTable,
    batch_size: int,
    epoch: int,
    token: str,
    *,
    channels: int,
    target: bool = False,
) -> da.Array:
    """Return an epoch's inputs (or targets) as a lazy array, one task per batch.

    Two blockwise layers over the shared plan key: ``careamics-batch-<t>`` builds
    each batch (``t = tokenize(token, epoch)``), and
    ``careamics-batch-<input|target>-<t>`` yields its input or target block. No
    per-batch ``from_delayed``, no concatenation. Dask's blockwise optimization
    fuses the two into one layer, one task per batch, when one array is computed;
    computed together (``dask.compute(x, y)``, ``da.store([x, y], ...)``) the
    input and target arrays share each batch's build.

    Parameters
    ----------
    plan : BatchBuilder
        The dataset's batch plan.
    table : PatchTable
        The epoch's patch table.
    batch_size : int
        Patches per batch.
    epoch : int
        The epoch.
    token : str
        Identifies the dataset (its sources and settings).
    channels : int
        Channels of the array.
    target : bool, default False
        Yield the targets instead of the inputs.

    Returns
    -------
    dask.array.Array
        ``(N, C, (Z), Y, X)`` float32, chunked by ``batch_size`` along N.

    Examples
    --------
    >>> from careamics_dask.graph.transforms.normalize import Normalizer
    >>> from careamics_dask.graph.batch import BatchPlan
    >>> from careamics_dask.graph.reading import StackSource
    >>> from careamics_dask.patching import TiledPatching
    >>> data = np.ones((1, 1, 16, 16))
    >>> plan = BatchPlan(inputs=(StackSource(source="array", shape=data.shape,
    ...     dtype="float64", data=data),), targets=None, channels=None,
    ...     target_channels=None, normalizer=Normalizer(name="none"))
    >>> table = TiledPatching([data.shape], [8, 8], [2, 2]).table()
    >>> array = build_batch_array(plan, table, 4, 0, "doc", channels=1)
    >>> array.chunks[0], array.compute().shape
    ((4, 4, 1), (9, 1, 8, 8))
    """
    tail = tuple(int(v) for v in table.patch_size[0]) if len(table) else ()
    n = len(table)
    if n == 0:
        empty: da.Array = da.zeros((0, channels, *tail), dtype=np.float32)
        return empty
    count = count_batches(n, batch_size)
    name = tokenize(token, epoch)
    records = da.blockwise(
        build_batch_record,
        "n",
        delayed(plan, pure=True, traverse=False),
        None,
        _BatchRows(((1,) * count,), table, batch_size),
        "n",
        epoch,
        None,
        name=f"careamics-batch-{name}",
        dtype=object,
        meta=np.empty((0,), dtype=object),
        align_arrays=False,
    )
    sizes = tuple(len(batch_indices(i, n, batch_size)) for i in range(count))
    role = "target" if target else "input"
    array: da.Array = da.map_blocks(
        select_batch_part,
        records,
        int(target),
        name=f"careamics-batch-{role}-{name}",
        chunks=(sizes, (channels,), *((s,) for s in tail)),
        new_axis=list(range(1, 2 + len(tail))),
        dtype=np.float32,
        meta=np.empty((0,) * (2 + len(tail)), dtype=np.float32),
    )
    return array
