"""Batch building: one batch read, padded, normalized and augmented in one task.

:class:`BatchPlan` is everything a batch task needs besides its table rows: the
image stacks as small picklable stack sources,
the input channels, the normalizer and the augmentations. It enters a graph once, as
one key every batch task depends on, so in-memory arrays inside it travel to each
worker once and not with every task. :func:`build_batch` is the task itself, a named
top-level function, so the dashboard shows ``build_batch-…``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from careamics_dask.graph.neighbourhoods import neighbourhoods
from careamics_dask.graph.ordering import canonical_chunks
from careamics_dask.graph.reading import PatchReader
from careamics_dask.graph.transforms.augment import augment_batch
from careamics_dask.loaders import CHUNK_CACHE_BYTES

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from careamics_dask.graph.reading import StackSource
    from careamics_dask.graph.transforms.normalize import Normalizer
    from careamics_dask.graph.transforms.spatial import SpatialAugmentation
    from careamics_dask.patching import PatchTable

__all__ = [
    "Batch",
    "BatchBuilder",
    "BatchPlan",
    "batch_part",
    "build_batch",
    "read_patches",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchPlan:
    """What every batch task of a dataset shares.

    Attributes
    ----------
    inputs : tuple of StackSource
        Input image stacks, indexed by ``data_idx``.
    targets : tuple of StackSource or None
        Target image stacks (same order), or None.
    channels : tuple of int or None
        Input channels to keep, in order (None keeps all).
    target_channels : tuple of int or None
        Target channels to keep (None keeps all: the reference's rule).
    normalizer : Normalizer
        Normalization applied to each batch.
    augmentations : tuple
        Augmentations applied in order (empty outside training).
    threads : int
        Storage chunks read at the same time inside one task.
    cache_bytes : int
        Per-worker budget for whole blocks of sources without a region reader.
    backend : {"auto", "tensorstore", "zarr"}
        How boxes of local Zarr arrays are read (see :class:`PatchReader`).
    chunk_cache_bytes : int
        Per-process budget for storage chunks TensorStore keeps decoded.
    """

    inputs: tuple[StackSource, ...]
    targets: tuple[StackSource, ...] | None
    channels: tuple[int, ...] | None
    target_channels: tuple[int, ...] | None
    normalizer: Normalizer
    augmentations: tuple[SpatialAugmentation, ...] = ()
    threads: int = 4
    cache_bytes: int = 512 * 2**20
    backend: str = "auto"
    chunk_cache_bytes: int = CHUNK_CACHE_BYTES

    def build(
        self, rows: PatchTable, indices: npt.NDArray[np.int64], epoch: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None]:
        """Read, pad, select channels, normalize and augment one batch.

        Parameters
        ----------
        rows : PatchTable
            The batch's rows of the epoch's patch table.
        indices : numpy.ndarray
            The global patch index of each row (keys the augmentation draws).
        epoch : int
            The epoch (keys the augmentation draws).

        Returns
        -------
        tuple of (numpy.ndarray, numpy.ndarray or None)
            Input ``(B, C, (Z), Y, X)`` float32, and the target or None.
        """
        inputs = read_patches(
            self.inputs,
            rows,
            self.channels,
            threads=self.threads,
            cache_bytes=self.cache_bytes,
            backend=self.backend,
            chunk_cache_bytes=self.chunk_cache_bytes,
        )
        targets = None
        if self.targets is not None:
            targets = read_patches(
                self.targets,
                rows,
                self.target_channels,
                threads=self.threads,
                cache_bytes=self.cache_bytes,
                backend=self.backend,
                chunk_cache_bytes=self.chunk_cache_bytes,
            )
        inputs, targets = self.normalizer.normalize(inputs, targets, inplace=True)
        if self.augmentations:
            inputs, targets = augment_batch(
                inputs, targets, self.augmentations, epoch=epoch, indices=indices
            )
        logger.debug("built batch of %d patches (epoch %d)", len(rows), epoch)
        return inputs, targets


def read_patches(
    sources: Sequence[StackSource],
    rows: PatchTable,
    channels: Sequence[int] | None,
    *,
    threads: int = 4,
    cache_bytes: int | None = None,
    backend: str = "auto",
    chunk_cache_bytes: int = CHUNK_CACHE_BYTES,
) -> npt.NDArray[np.float32]:
    """Read the patches of table rows as one float32 array ``(N, C, (Z), Y, X)``.

    Parameters
    ----------
    sources : Sequence[StackSource]
        The image stacks.
    rows : PatchTable
        The patches; all of the same size.
    channels : Sequence[int] or None
        Channels to keep.
    threads : int, default 4
        Storage chunks read at the same time.
    cache_bytes : int, optional
        Budget of the worker's block cache.
    backend : {"auto", "tensorstore", "zarr"}, default "auto"
        How boxes of local Zarr arrays are read (see :class:`PatchReader`).
    chunk_cache_bytes : int, default 64 MiB
        Per-process budget for storage chunks TensorStore keeps decoded.

    Returns
    -------
    numpy.ndarray
        The zero-padded patches.

    Raises
    ------
    ValueError
        When the rows have different patch sizes.
    """
    if len(rows) and not (rows.patch_size == rows.patch_size[0]).all():
        sizes = np.unique(rows.patch_size, axis=0)
        raise ValueError(
            f"Patches of one batch must have one size: got sizes {sizes.tolist()}. "
            "Use batch_size=1 for whole images of different shapes, or tiling."
        )
    n_channels = len(channels) if channels is not None else sources[0].n_channels
    if len(rows) == 0:
        return np.zeros((0, n_channels, *rows.patch_size.shape[1:]), dtype=np.float32)
    reader = PatchReader(
        sources,
        threads=threads,
        cache_bytes=cache_bytes,
        channels=channels,
        backend=backend,
        chunk_cache_bytes=chunk_cache_bytes,
    )
    low, high = reader.clipped(rows.data_idx, rows.coords, rows.patch_size)
    size = [int(p) for p in rows.patch_size[0]]
    chunks = [canonical_chunks(source)[2:] for source in sources]
    groups, grouped = neighbourhoods(rows, low, high, rows.patch_size[0], chunks)
    single = np.flatnonzero(~grouped)
    single = single[np.all(low[single] < high[single], axis=1)]  # others: zeros
    # patches of TensorStore-read stacks: one read each, started now, placed below
    started, covered = reader.submit_direct(
        single,
        rows.data_idx[single],
        rows.sample_idx[single],
        low[single],
        high[single],
    )
    single = single[~covered]
    ndim = len(size)
    reader.prefetch_bounds(
        np.array([g[0] for g in groups] + rows.data_idx[single].tolist(), np.int64),
        np.array([g[1] for g in groups] + rows.sample_idx[single].tolist(), np.int64),
        np.array([g[3] for g in groups] + low[single].tolist(), np.int64).reshape(
            -1, ndim
        ),
        np.array([g[4] for g in groups] + high[single].tolist(), np.int64).reshape(
            -1, ndim
        ),
    )
    out = np.zeros((len(rows), n_channels, *size), dtype=np.float32)
    selection = None if channels is None else list(channels)
    reader.place_direct(started, out, rows.coords, selection)
    for d, s, members, lo, hi in groups:
        # one region around neighbouring patches, cut all at once
        region = reader.region(d, s, tuple(zip(lo.tolist(), hi.tolist(), strict=True)))
        if selection is not None:
            region = region[selection]
        spatial = tuple(range(1, region.ndim))
        windows = sliding_window_view(region, size, axis=spatial)
        starts = (rows.coords[members] - lo).T
        out[members] = np.moveaxis(windows[(slice(None), *starts)], 0, 1)
    # where each clipped box lands in its zero-padded patch
    offset = low - rows.coords
    for i, d, s, lo, hi, off in zip(
        single.tolist(),
        rows.data_idx[single].tolist(),
        rows.sample_idx[single].tolist(),
        low[single].tolist(),
        high[single].tolist(),
        offset[single].tolist(),
        strict=True,
    ):
        region = reader.region(d, s, tuple(zip(lo, hi, strict=True)))
        if selection is not None:
            region = region[selection]
        place: tuple[int | slice, ...] = (
            i,
            slice(None),
            *(slice(o, o + b - a) for o, a, b in zip(off, lo, hi, strict=True)),
        )
        out[place] = region
    return out


class BatchBuilder(Protocol):
    """A plan that builds a batch from table rows (one per dataset kind)."""

    def build(
        self, rows: PatchTable, indices: npt.NDArray[np.int64], epoch: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None]:
        """Build the batch of ``rows``: ``(input, target or None)``."""
        ...


def build_batch(
    plan: BatchBuilder,
    rows: PatchTable,
    indices: npt.NDArray[np.int64],
    epoch: int,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None]:
    """Make one batch: the task every batch graph and stream runs.

    Parameters
    ----------
    plan : BatchBuilder
        The dataset's shared plan (:class:`BatchPlan` for CARE/N2N/N2V data).
    rows : PatchTable
        The batch's rows of the epoch's patch table.
    indices : numpy.ndarray
        The global patch index of each row (keys the augmentation draws).
    epoch : int
        The epoch (keys the augmentation draws).

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray or None)
        Input ``(B, C, (Z), Y, X)`` float32, and the target or None.
    """
    return plan.build(rows, indices, epoch)


def batch_part(
    batch: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None], part: int
) -> Any:
    """Select the input (0) or the target (1) of a built batch (a graph step).

    Parameters
    ----------
    batch : tuple
        The output of :func:`build_batch`.
    part : int
        0 for the input, 1 for the target.

    Returns
    -------
    numpy.ndarray or None
        The selected array.
    """
    return batch[part]


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """One batch: stacked inputs and targets with the table rows they came from.

    Attributes
    ----------
    input : numpy.ndarray
        ``(B, C, (Z), Y, X)`` float32.
    target : numpy.ndarray or None
        ``(B, C', (Z), Y, X)`` float32, or None without targets.
    specs : PatchTable
        The table rows of the batch's patches.
    indices : numpy.ndarray
        The dataset index of each patch (``ds[indices[i]]`` is patch ``i``).
    epoch : int
        The epoch the patches were drawn for.
    index : int
        The batch's index within the epoch.
    """

    input: npt.NDArray[np.float32]
    target: npt.NDArray[np.float32] | None
    specs: PatchTable
    indices: npt.NDArray[np.int64]
    epoch: int
    index: int

    def __len__(self) -> int:
        return int(self.input.shape[0])
