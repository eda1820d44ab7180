"""An epoch of MicroSplit patches as lazy image stacks, for normalization statistics."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import dask.array as da
import numpy as np
import xarray as xr
from dask.delayed import delayed

from careamics_dask.graph.batch import batch_part, build_batch
from careamics_dask.graph.transforms.normalize import Normalizer

if TYPE_CHECKING:
    from careamics_dask.graph.microsplit.batches import MicroSplitPlan
    from careamics_dask.patching import PatchTable

__all__ = ["statistics_stacks"]


def statistics_stacks(
    plan: MicroSplitPlan, table: PatchTable, token: str, *, chunk: int = 64
) -> tuple[list[xr.DataArray], list[xr.DataArray] | None]:
    """Return an epoch's principal inputs and targets as lazy stacks (for statistics).

    The reference computes MicroSplit statistics on one epoch of the dataset's own
    patches, on the native-scale input plane. Here those patches are lazy Dask
    blocks of up to ``chunk`` patches (one task each, built with a one-plane copy
    of ``plan`` that is neither normalized nor augmented), wrapped as ``S C (Z) Y
    X`` stacks that the statistics reductions consume like image stacks.

    Parameters
    ----------
    plan : MicroSplitPlan
        The dataset's plan (its normalizer and augmentations are not used).
    table : PatchTable
        The epoch's patch table (epoch 0).
    token : str
        Unique name part of the tasks.
    chunk : int, default 64
        Patches per task.

    Returns
    -------
    tuple of (list of xarray.DataArray, list of xarray.DataArray or None)
        One input stack ``(N, 1, ...)`` per patch size, and the target stacks
        ``(N, C, ...)`` (None when predicting).

    Examples
    --------
    >>> from careamics_dask.graph.microsplit.batches import MicroSplitPlan
    >>> from careamics_dask.graph.reading import StackSource
    >>> from careamics_dask.graph.transforms import Normalizer
    >>> from careamics_dask.patching import TiledPatching
    >>> data = np.ones((1, 1, 32, 32))
    >>> source = StackSource(source="array", shape=data.shape, dtype="float64",
    ...     data=data)
    >>> plan = MicroSplitPlan(mode="predicting", groups=((source,),),
    ...     normalizer=Normalizer(name="none"), multiscale_count=3)
    >>> table = TiledPatching([data.shape], [16, 16], [4, 4]).table()
    >>> inputs, targets = statistics_stacks(plan, table, "doc")
    >>> inputs[0].shape, targets
    ((9, 1, 16, 16), None)
    """
    raw = replace(
        plan, multiscale_count=1, normalizer=Normalizer(name="none"), augmentations=()
    )
    shared = delayed(raw, pure=True, traverse=False)
    sizes = [tuple(int(v) for v in row) for row in table.patch_size]
    parts: dict[tuple[int, ...], tuple[list[da.Array], list[da.Array]]] = {}
    start = 0
    while start < len(table):
        stop = start + 1
        while (
            stop < len(table) and stop - start < chunk and sizes[stop] == sizes[start]
        ):
            stop += 1
        indices = np.arange(start, stop, dtype=np.int64)
        task = delayed(build_batch, pure=True, traverse=False)(
            shared,
            table.take(indices),
            indices,
            0,
            dask_key_name=f"careamics-microsplit-statistics-{token}-{start}",
        )
        inputs, targets = parts.setdefault(sizes[start], ([], []))
        shape = (stop - start, 1, *sizes[start])
        inputs.append(
            da.from_delayed(delayed(batch_part)(task, 0), shape, dtype=np.float32)
        )
        if plan.n_targets:
            shape = (stop - start, plan.n_targets, *sizes[start])
            targets.append(
                da.from_delayed(delayed(batch_part)(task, 1), shape, dtype=np.float32)
            )
        start = stop
    dims = ("S", "C", "Z", "Y", "X")[:2] + ("Z", "Y", "X")[-table.ndim :]
    input_stacks = [
        xr.DataArray(da.concatenate(blocks), dims=dims) for blocks, _ in parts.values()
    ]
    if not plan.n_targets:
        return input_stacks, None
    target_stacks = [
        xr.DataArray(da.concatenate(blocks), dims=dims) for _, blocks in parts.values()
    ]
    return input_stacks, target_stacks
