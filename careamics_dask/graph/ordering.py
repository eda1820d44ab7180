"""Chunk-aware sampling: batches whose patches share few storage chunks.

A batch task reads every storage chunk its patches touch once
(:class:`~careamics_dask.graph.reading.PatchReader`), so its cost grows with the
number of distinct chunks. Uniform random batches of 64 x 64 patches over 256 x 256
chunks touch about 1.5 chunks per patch, 50 per batch of 32. Two remedies, both pure
NumPy over the patch table and the stacks' storage chunk shapes:

- :func:`chunk_aware_order` reorders an epoch's table (the same patches, so the same
  distribution): rows are grouped by the storage chunk holding their start, groups
  are laid end to end in a random order and cut into batches, and the batches are
  shuffled. Each patch still appears once per epoch; only the composition of batches
  changes. A batch spans about ``batch_size / patches_per_chunk + 1`` groups.
- :func:`draw_chunk_aware_table` draws a new table in groups of
  ``patches_per_chunk`` patches that start in one storage chunk, the chunk picked
  with probability proportional to the number of patch starts it holds. Every
  patch's position is still uniform over the image (its marginal distribution is
  :class:`~careamics_dask.patching.RandomPatching`'s), and each sample keeps its
  number of patches; patches of a group are correlated (close together).

Both are deterministic per ``(seed, epoch)``: each draws from its own
``SeedSequence`` child. :func:`count_touched_chunks` measures the effect (distinct
chunks per batch); :func:`canonical_chunks` gives a stack's storage chunk shape.

Longer than 400 lines: both remedies group rows by the storage chunk that holds
their start, and share those helpers and the chunk-count measure.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from careamics_dask.loaders import read_chunks_of
from careamics_dask.patching import PatchTable, epoch_rng
from careamics_dask.patching.random import count_grid_patches

if TYPE_CHECKING:
    from collections.abc import Sequence

    from careamics_dask.graph.reading import StackSource

__all__ = [
    "canonical_chunks",
    "chunk_aware_order",
    "chunk_groups",
    "count_touched_chunks",
    "draw_chunk_aware_table",
]

logger = logging.getLogger(__name__)

Int64Array = npt.NDArray[np.int64]

ORDER_KEY = 0x6F726472  # "ordr": the order of an epoch's batches
DRAW_KEY = 0x64726177  # "draw": chunk-aware patch tables


def canonical_chunks(source: StackSource) -> tuple[int, ...]:
    """Return the storage chunk shape of a stack along ``S C (Z) Y X``.

    Parameters
    ----------
    source : StackSource
        The stack's task description.

    Returns
    -------
    tuple of int
        From the region reader's storage chunks (the inner chunks of a sharded
        array: what a batch reads) when the stack has one (``S`` and
        ``T`` chunks merged as the canonical ``S`` axis merges them), else from the
        Dask chunks, else the whole stack (NumPy data: one "chunk").

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.graph.reading import StackSource
    >>> from careamics_dask.loaders import open_image
    >>> canonical_chunks(StackSource.from_stack(open_image(np.zeros((2, 8, 8)), "SYX")))
    (2, 1, 8, 8)
    """
    binding = source.binding
    if binding is None:
        chunksize = getattr(source.data, "chunksize", None)
        if chunksize is None:
            return tuple(source.shape)
        return tuple(int(c) for c in chunksize)
    sizes = dict(zip(binding.axes, binding.shape, strict=True))
    grid = read_chunks_of(binding.reader) or binding.reader.chunks  # inner chunks
    chunks = dict(zip(binding.axes, grid, strict=True))
    if "S" in chunks and "T" in chunks:
        # merged index s * T + t: whole T chunks make runs of chunks["S"] * T samples
        sample = chunks["T"] if chunks["T"] < sizes["T"] else chunks["S"] * sizes["T"]
    else:
        sample = chunks.get("S", chunks.get("T", 1))
    spatial = tuple(chunks[a] for a in "ZYX" if a in chunks)
    return (int(sample), int(chunks.get("C", 1)), *(int(c) for c in spatial))


def _chunk_array(
    chunk_shapes: Sequence[Sequence[int]], table: PatchTable
) -> Int64Array:
    """Check the chunk shapes against the table and return them as an array."""
    chunks = np.array(chunk_shapes, dtype=np.int64)
    if chunks.ndim != 2 or chunks.shape[1] != table.ndim + 2 or (chunks <= 0).any():
        raise ValueError(
            "Chunk shapes must give one positive size per axis S C "
            f"{'Z ' if table.ndim == 3 else ''}Y X for every stack: expected "
            f"shape (n_stacks, {table.ndim + 2}), got {chunks.tolist()!r}."
        )
    if len(table) and int(table.data_idx.max()) >= len(chunks):
        raise ValueError(
            f"Chunk shapes are missing stacks: the table uses stack "
            f"{int(table.data_idx.max())}, got chunk shapes for {len(chunks)}."
        )
    return chunks


def chunk_groups(
    table: PatchTable, chunk_shapes: Sequence[Sequence[int]]
) -> tuple[Int64Array, int]:
    """Give each row the id of the storage chunk holding its start.

    Parameters
    ----------
    table : PatchTable
        The patches.
    chunk_shapes : sequence of sequence of int
        Storage chunk shape ``S C (Z) Y X`` of each stack (:func:`canonical_chunks`).

    Returns
    -------
    tuple of (numpy.ndarray, int)
        A group id per row (``0 <= id < n_groups``, rows starting in the same chunk
        share it), and the number of groups.

    Raises
    ------
    ValueError
        When the chunk shapes do not fit the table.

    Examples
    --------
    >>> table = PatchTable.from_columns(
    ...     data_idx=[0, 0, 0], sample_idx=[0, 0, 1],
    ...     coords=[[0, 0], [10, 3], [0, 0]], patch_size=[4, 4],
    ... )
    >>> ids, n = chunk_groups(table, [(1, 1, 16, 16)])
    >>> ids.tolist(), n
    ([0, 0, 1], 2)
    """
    chunks = _chunk_array(chunk_shapes, table)
    if not len(table):
        return np.zeros(0, dtype=np.int64), 0
    row_chunks = chunks[table.data_idx]
    cells = np.maximum(table.coords, 0) // row_chunks[:, 2:]
    columns = [table.data_idx, table.sample_idx // row_chunks[:, 0], *cells.T]
    order = np.lexsort(columns[::-1])
    keys = np.stack(columns, axis=1)[order]
    starts = np.ones(len(keys), dtype=bool)
    starts[1:] = (keys[1:] != keys[:-1]).any(axis=1)
    ids = np.empty(len(keys), dtype=np.int64)
    ids[order] = np.cumsum(starts) - 1
    return ids, int(starts.sum())


def chunk_aware_order(
    table: PatchTable,
    chunk_shapes: Sequence[Sequence[int]],
    batch_size: int,
    *,
    seed: int,
    epoch: int,
) -> Int64Array:
    """Order an epoch's rows so that each batch touches few storage chunks.

    Rows are grouped by the storage chunk holding their start; groups, in a random
    order (those of a whole number of batches first), are laid end to end and cut
    into batches of ``batch_size``; the full batches are then shuffled (a last,
    smaller batch stays last, so batch ``b`` is rows ``b * batch_size`` onwards of
    the reordered table).

    Parameters
    ----------
    table : PatchTable
        The epoch's patches.
    chunk_shapes : sequence of sequence of int
        Storage chunk shape ``S C (Z) Y X`` of each stack (:func:`canonical_chunks`).
    batch_size : int
        Patches per batch.
    seed : int
        The dataset's seed.
    epoch : int
        The epoch; each ``(seed, epoch)`` gives its own order.

    Returns
    -------
    numpy.ndarray
        A permutation of ``range(len(table))``, int64: take the table's rows in
        this order (``table.take(order)``) and cut consecutive batches.

    Raises
    ------
    ValueError
        When ``batch_size`` is not positive or the chunk shapes do not fit.

    Examples
    --------
    >>> table = PatchTable.from_columns(
    ...     data_idx=[0] * 4, sample_idx=[0] * 4,
    ...     coords=[[0, 0], [20, 20], [1, 1], [21, 21]], patch_size=[4, 4],
    ... )
    >>> order = chunk_aware_order(table, [(1, 1, 16, 16)], 2, seed=0, epoch=0)
    >>> sorted(sorted(batch) for batch in order.reshape(2, 2).tolist())
    [[0, 2], [1, 3]]
    """
    if batch_size <= 0:
        raise ValueError(f"Batch size must be positive: got {batch_size}.")
    ids, n_groups = chunk_groups(table, chunk_shapes)
    n = len(table)
    rng = epoch_rng(seed, epoch, ORDER_KEY)
    # groups in random order, those of a whole number of batches first (each fills
    # its batches alone); a random tie-break inside groups
    aligned = np.bincount(ids, minlength=n_groups) % batch_size != 0
    group_rank = rng.permutation(n_groups)
    rows = np.lexsort((rng.random(n), group_rank[ids], aligned[ids])).astype(np.int64)
    n_full = n // batch_size
    batches = rng.permutation(n_full)
    full = rows[: n_full * batch_size].reshape(n_full, batch_size)[batches]
    order = np.concatenate([full.reshape(-1), rows[n_full * batch_size :]])
    logger.debug(
        "chunk-aware order of %d patches: %d chunk groups, %d batches",
        n,
        n_groups,
        math.ceil(n / batch_size),
    )
    return order


def _start_cells(
    max_start: Int64Array, chunk: Int64Array
) -> tuple[Int64Array, Int64Array, Int64Array]:
    """Enumerate the chunk cells of a start range ``[0, max_start]`` per axis.

    Returns each cell's first start and number of starts, ``(n_cells, ndim)``, and
    the number of starts of each cell (the product over axes).
    """
    lows, counts = [], []
    for top, size in zip(max_start.tolist(), chunk.tolist(), strict=True):
        low = np.arange(0, top + 1, size, dtype=np.int64)
        lows.append(low)
        counts.append(np.minimum(low + size, top + 1) - low)
    grid_low = np.stack(np.meshgrid(*lows, indexing="ij"), -1).reshape(-1, len(lows))
    grid_count = np.stack(np.meshgrid(*counts, indexing="ij"), -1).reshape(
        -1, len(counts)
    )
    return grid_low, grid_count, grid_count.prod(axis=1)


def draw_chunk_aware_table(
    data_shapes: Sequence[Sequence[int]],
    chunk_shapes: Sequence[Sequence[int]],
    patch_size: Sequence[int],
    *,
    patches_per_chunk: int,
    seed: int,
    epoch: int,
) -> PatchTable:
    """Draw random patches in groups that start inside one storage chunk.

    Every sample gets :class:`~careamics_dask.patching.RandomPatching`'s number of
    patches, ``prod(ceil(shape / patch))``, in groups of ``patches_per_chunk`` (the
    last group of a sample may be smaller). A group picks one storage chunk of the
    sample with probability proportional to the patch starts inside it, then its
    patches start uniformly inside that chunk; so each patch, on its own, starts
    uniformly on ``[0, shape - patch]`` as with random patching. Order the result
    with :func:`chunk_aware_order` to make batches of whole groups.

    Parameters
    ----------
    data_shapes : sequence of sequence of int
        Image-stack shapes ``S C (Z) Y X``.
    chunk_shapes : sequence of sequence of int
        Storage chunk shape ``S C (Z) Y X`` of each stack.
    patch_size : sequence of int
        Patch size ``(Z,) Y, X``.
    patches_per_chunk : int
        Patches drawn per chosen chunk; a divisor of the batch size keeps groups
        whole within batches.
    seed : int
        The dataset's seed.
    epoch : int
        The epoch; each ``(seed, epoch)`` gives its own table.

    Returns
    -------
    PatchTable
        The patches, sample-major and grouped.

    Raises
    ------
    ValueError
        When ``patches_per_chunk`` is not positive or the shapes disagree.

    Examples
    --------
    >>> table = draw_chunk_aware_table(
    ...     [(2, 1, 64, 64)], [(1, 1, 32, 32)], [16, 16], patches_per_chunk=4,
    ...     seed=0, epoch=0,
    ... )
    >>> len(table), bool((table.coords <= 48).all())
    (32, True)
    >>> cells = table.coords[:4] // 32  # one group: one chunk
    >>> bool((cells == cells[0]).all())
    True
    """
    if patches_per_chunk <= 0:
        raise ValueError(
            f"patches_per_chunk must be positive: got {patches_per_chunk}."
        )
    shapes = np.array(data_shapes, dtype=np.int64)
    patch = np.array(patch_size, dtype=np.int64)
    chunks = np.array(chunk_shapes, dtype=np.int64)
    ndim = len(patch)
    if shapes.ndim != 2 or shapes.shape[1] != ndim + 2 or chunks.shape != shapes.shape:
        raise ValueError(
            f"Expected one S C {'Z ' if ndim == 3 else ''}Y X shape and one chunk "
            f"shape per stack for a {ndim}-D patch size, got shapes "
            f"{shapes.tolist()!r} and chunk shapes {chunks.tolist()!r}."
        )
    rng = epoch_rng(seed, epoch, DRAW_KEY)
    parts: list[tuple[Int64Array, Int64Array, Int64Array]] = []
    for data_idx, (shape, chunk) in enumerate(zip(shapes, chunks, strict=True)):
        spatial = shape[2:]
        per_sample = int(count_grid_patches(spatial[None], patch)[0])
        max_start = np.maximum(spatial - patch, 0)
        low, count, weight = _start_cells(max_start, chunk[2:])
        sizes = np.full(per_sample // patches_per_chunk, patches_per_chunk)
        if per_sample % patches_per_chunk:
            sizes = np.append(sizes, per_sample % patches_per_chunk)
        n_samples = int(shape[0])
        cell = rng.choice(
            len(weight), size=n_samples * len(sizes), p=weight / weight.sum()
        )
        group_sizes = np.tile(sizes, n_samples)
        row_cell = np.repeat(cell, group_sizes)
        offsets = (rng.random((len(row_cell), ndim)) * count[row_cell]).astype(np.int64)
        coords = low[row_cell] + offsets
        samples = np.repeat(np.arange(n_samples, dtype=np.int64), per_sample)
        parts.append((np.full(len(samples), data_idx, np.int64), samples, coords))
    return PatchTable.from_columns(
        data_idx=np.concatenate([p[0] for p in parts]),
        sample_idx=np.concatenate([p[1] for p in parts]),
        coords=np.concatenate([p[2] for p in parts]).reshape(-1, ndim),
        patch_size=patch,
    )


def count_touched_chunks(
    table: PatchTable,
    chunk_shapes: Sequence[Sequence[int]],
    batch_size: int,
    data_shapes: Sequence[Sequence[int]] | None = None,
) -> Int64Array:
    """Count the distinct storage chunks each batch of consecutive rows touches.

    Parameters
    ----------
    table : PatchTable
        The patches, in batch order.
    chunk_shapes : sequence of sequence of int
        Storage chunk shape ``S C (Z) Y X`` of each stack.
    batch_size : int
        Patches per batch.
    data_shapes : sequence of sequence of int, optional
        Stack shapes; when given, patches are clipped to their image first (as the
        reader does), else counted whole.

    Returns
    -------
    numpy.ndarray
        Distinct chunks per batch, ``(ceil(len(table) / batch_size),)``, int64
        (channel chunks not counted: a reader reads all channels).

    Raises
    ------
    ValueError
        When ``batch_size`` is not positive or the chunk shapes do not fit.

    Examples
    --------
    >>> table = PatchTable.from_columns(
    ...     data_idx=[0, 0], sample_idx=[0, 0], coords=[[0, 0], [14, 0]],
    ...     patch_size=[4, 4],
    ... )
    >>> count_touched_chunks(table, [(1, 1, 16, 16)], 2).tolist()
    [2]
    """
    if batch_size <= 0:
        raise ValueError(f"Batch size must be positive: got {batch_size}.")
    chunks = _chunk_array(chunk_shapes, table)
    n = len(table)
    if not n:
        return np.zeros(0, dtype=np.int64)
    size = chunks[table.data_idx][:, 2:]
    start = np.maximum(table.coords, 0)
    stop = table.coords + table.patch_size
    if data_shapes is not None:
        stop = np.minimum(stop, np.array(data_shapes, np.int64)[table.data_idx][:, 2:])
    first = start // size
    last = np.maximum(stop - 1, start) // size
    spans = last - first + 1
    batch = np.arange(n, dtype=np.int64) // batch_size
    sample = table.sample_idx // chunks[table.data_idx][:, 0]
    keys = []
    for offset in np.ndindex(*spans.max(axis=0).tolist()):
        inside = (np.array(offset) < spans).all(axis=1)
        cells = first[inside] + np.array(offset)
        keys.append(
            np.column_stack(
                [batch[inside], table.data_idx[inside], sample[inside], cells]
            )
        )
    unique = np.unique(np.concatenate(keys), axis=0)
    return np.bincount(unique[:, 0], minlength=math.ceil(n / batch_size)).astype(
        np.int64
    )
