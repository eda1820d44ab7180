"""Write an epoch of patches (and targets) to Zarr on a cluster, atomically.

The output is a Zarr v3 group::

    input           (N, C, (Z), Y, X) float32, one chunk per batch
    target          the targets, when the dataset has them
    patches/        the epoch's patch table: data_idx, sample_idx, coords,
                    patch_size (and the tile columns of tiled tables), one row
                    per patch, aligned with ``input``

with the epoch, the data config and the sources in the group's attributes, so every
patch can be traced back to the image it was cut from. The group is written to a
temporary path next to the output and renamed into place once complete.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from distributed import Client

    from careamics_dask.factory.dataset import CareamicsDataset

__all__ = ["compute_with_progress", "export_epoch"]

logger = logging.getLogger(__name__)

_FORMAT = "careamics-dask-export"
_COLUMNS = (
    "data_idx",
    "sample_idx",
    "coords",
    "patch_size",
    "crop_coords",
    "crop_size",
    "stitch_coords",
    "total_tiles",
)


def compute_with_progress(
    tasks: Sequence[Any],
    client: Client | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Compute Dask collections for their side effects, reporting each one done.

    Parameters
    ----------
    tasks : sequence of dask collections
        Usually delayed stores.
    client : distributed.Client, optional
        Compute on this cluster (all at once, reported as they complete); else on
        local threads, a few at a time.
    on_progress : callable, optional
        Called with ``(done, total)``.

    Examples
    --------
    >>> import dask
    >>> done = []
    >>> compute_with_progress([dask.delayed(abs)(-1)] * 3,
    ...                       on_progress=lambda d, t: done.append((d, t)))
    >>> done[-1]
    (3, 3)
    """
    total = len(tasks)
    if client is not None:
        from distributed import as_completed

        futures = client.compute(list(tasks))
        for done, future in enumerate(as_completed(futures), start=1):
            future.result()
            if on_progress is not None:
                on_progress(done, total)
        return
    from dask.base import compute

    step = max(1, total // 32)
    for start in range(0, total, step):
        compute(*tasks[start : start + step], scheduler="threads")
        if on_progress is not None:
            on_progress(min(total, start + step), total)


def _stores(
    dataset: CareamicsDataset, group: Any, epoch: int, batches_per_task: int
) -> list[Any]:
    """Create the output arrays and return delayed stores, a few batches each."""
    import dask.array as da

    parts = [("input", dataset.to_dask(epoch))]
    if dataset.targets is not None:
        parts.append(("target", dataset.to_dask(epoch, target=True)))
    arrays = [
        group.create_array(
            name,
            shape=patches.shape,
            chunks=(dataset.batch_size, *patches.shape[1:]),
            dtype="float32",
        )
        for name, patches in parts
    ]
    step = dataset.batch_size * batches_per_task
    stores = []
    for start in range(0, max(1, parts[0][1].shape[0]), step):
        rows = slice(start, start + step)
        stores.append(
            da.store(
                [patches[rows] for _, patches in parts],
                arrays,
                regions=[(rows,)] * len(arrays),
                lock=False,
                compute=False,
            )
        )
    return stores


def _write_table(group: Any, dataset: CareamicsDataset, epoch: int) -> None:
    table = dataset.patch_table(epoch)
    patches = group.create_group("patches")
    for name in _COLUMNS:
        column = getattr(table, name)
        if column is not None:
            patches.create_array(name, data=np.ascontiguousarray(column))


def export_epoch(
    dataset: CareamicsDataset,
    path: str | Path,
    *,
    epoch: int = 0,
    client: Client | None = None,
    overwrite: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write one epoch of a dataset's patches, targets and patch table to Zarr.

    Batches are built where ``client`` runs them (each worker writes its own
    chunks) into a temporary group next to ``path``, which replaces ``path`` only
    once everything is written.

    Parameters
    ----------
    dataset : CareamicsDataset
        The dataset.
    path : str or pathlib.Path
        The output Zarr group.
    epoch : int, default 0
        The epoch to write.
    client : distributed.Client, optional
        The cluster; else local threads.
    overwrite : bool, default False
        Replace an existing ``path``.
    on_progress : callable, optional
        Called with ``(done, total)`` groups of batches as they are written.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    FileExistsError
        When ``path`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> import tempfile, pathlib, zarr
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import create_dataset
    >>> config = DataConfig(mode="validating", data_type="array", axes="SYX",
    ...     patching={"name": "fixed_random", "patch_size": [8, 8]},
    ...     normalization={"name": "none"}, batch_size=4, seed=1)
    >>> dataset = create_dataset(config, np.ones((2, 16, 16), "float32"), None)
    >>> out = export_epoch(dataset, pathlib.Path(tempfile.mkdtemp()) / "e.zarr")
    >>> group = zarr.open_group(out, mode="r")
    >>> group["input"].shape, group["patches/coords"].shape
    ((8, 1, 8, 8), (8, 2))
    """
    import zarr

    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"Export output {str(target)!r} exists already: expected a new path. "
            "Pass --overwrite (overwrite=True) to replace it."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        group = zarr.open_group(temporary, mode="w-", zarr_format=3)
        batches_per_task = max(1, dataset.n_batches() // 64)
        stores = _stores(dataset, group, epoch, batches_per_task)
        _write_table(group, dataset, epoch)
        group.attrs[_FORMAT] = {
            "epoch": int(epoch),
            "batch_size": dataset.batch_size,
            "n_patches": len(dataset),
            "sources": [str(s.source) for s in dataset.plan.inputs],
            "config": dataset.config.model_dump(mode="json"),
        }
        compute_with_progress(stores, client, on_progress)
        _replace(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    logger.info("exported epoch %d (%d patches) to %s", epoch, len(dataset), target)
    return target


def _replace(temporary: Path, target: Path) -> None:
    """Move ``temporary`` to ``target``, replacing what is there."""
    if not target.exists():
        temporary.rename(target)
        return
    stale = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
    target.rename(stale)
    temporary.rename(target)
    if stale.is_dir():
        shutil.rmtree(stale, ignore_errors=True)
    else:
        stale.unlink(missing_ok=True)
