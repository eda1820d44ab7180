"""The automatic validation split: grid cells set aside from stratified training.

The split cannot leak: no pixel a validation patch reads is read by a training
patch, and the reverse. Stratified training patches never overlap an excluded
cell, so excluding the validation cells suffices when patches read only their own
box (patches stay inside the image; validation cells sticking out are zero-padded,
which reads nothing). A patch that reads beyond its box (MicroSplit's lateral
context, ``context`` pixels before and after it per axis) reads
``[start - before, start + patch + after)``: training and validation reads are
disjoint exactly when training patches stay off the zone
``[v - before - after, v + patch + before + after)`` around every validation cell
``v``, so every grid cell overlapping that zone is excluded from training as well
(a guard). The held-out cells (``held_out``) can be given back to re-create the
same split.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from careamics_dask.patching.random import FixedPatching, RandomPatching
from careamics_dask.patching.seeds import VALIDATION_SPLIT_KEY, epoch_rng, resolve_seed
from careamics_dask.patching.stratified import StratifiedPatching
from careamics_dask.patching.table import PatchTable

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt


__all__ = ["create_random_val_split", "create_val_split", "guard_cells"]


def _split_rng(rng_or_seed: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return epoch_rng(resolve_seed(rng_or_seed), 0, VALIDATION_SPLIT_KEY)


def _check_request(
    n_val_patches: int,
    counts: npt.NDArray[np.int64],
    capacity: npt.NDArray[np.int64],
    patch_size: list[int],
) -> None:
    """Raise before any draw when the request cannot be met."""
    n_train = int(counts.sum())
    available = int(np.minimum(counts, capacity[:, 1]).sum())
    if n_val_patches < 0:
        raise ValueError(
            f"The number of validation patches must not be negative: got "
            f"{n_val_patches}."
        )
    if n_val_patches >= n_train:
        raise ValueError(
            "The number of validation patches to be extracted from the training set "
            f"is too large for given training data size (got {n_val_patches} "
            f"validation patches but only {n_train} training patches available with "
            f"patch size {patch_size}). Make sure you have enough data to train "
            "with, decrease 'n_val_patches' or the patch size."
        )
    if n_val_patches > available:
        raise ValueError(
            f"Not enough grid cells for the validation split: expected at most "
            f"{available} validation patches (one per grid cell, at most a sample's "
            f"patch count per sample), got {n_val_patches}. Decrease 'n_val_patches' "
            "or the patch size."
        )


def _cell_counts(
    stratified: StratifiedPatching, cells: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Return region samples, in-image cells and included cells per sample.

    Column 0 of the counts holds the included cells inside the image, column 1
    all included cells.
    """
    offsets = stratified.region_offsets
    n_samples = len(offsets) - 1
    region_sample = np.repeat(np.arange(n_samples, dtype=np.int64), np.diff(offsets))
    spatial = stratified.data_shapes[cells[:, 0], 2:]
    ends = (cells[:, 2:] + 1) * stratified.patch_size
    inside: npt.NDArray[np.bool_] = np.asarray((ends <= spatial).all(axis=1))
    included = ~stratified.excluded_cells
    per_sample = np.stack(
        [
            np.bincount(region_sample[included & inside], minlength=n_samples),
            np.bincount(region_sample[included], minlength=n_samples),
        ],
        axis=1,
    ).astype(np.int64)
    return region_sample, inside, per_sample


def _allocate(
    counts: npt.NDArray[np.int64],
    capacity: npt.NDArray[np.int64],
    n_val_patches: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """Return validation cells per sample, in proportion to the patch counts.

    Capped by the in-image cells (column 0) while any is left, then by all cells
    (column 1).
    """
    inside = np.minimum(counts, capacity[:, 0])
    first = min(n_val_patches, int(inside.sum()))
    per_sample = np.zeros_like(counts)
    if first:
        per_sample += rng.multivariate_hypergeometric(inside, first)
    if n_val_patches > first:
        edge = np.minimum(counts, capacity[:, 1]) - inside
        per_sample += rng.multivariate_hypergeometric(edge, n_val_patches - first)
    return per_sample


def _choose_cells(
    region_sample: npt.NDArray[np.int64],
    inside: npt.NDArray[np.bool_],
    included: npt.NDArray[np.bool_],
    per_sample: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """Return ``per_sample[s]`` included regions of every sample, in-image first."""
    candidates = np.flatnonzero(included & (per_sample[region_sample] > 0))
    sample = region_sample[candidates]
    # random order inside each sample, cells sticking out of the image last
    keys = sample * 4.0 + rng.random(len(candidates)) + ~inside[candidates]
    order = np.argsort(keys)
    first = np.searchsorted(sample[order], sample[order])
    rank = np.arange(len(order)) - first
    chosen = order[rank < per_sample[sample[order]]]
    return np.sort(candidates[chosen])


def guard_cells(
    stratified: StratifiedPatching,
    regions: npt.NDArray[np.int64],
    context: Sequence[tuple[int, int]],
) -> npt.NDArray[np.bool_]:
    """Return the cells training must avoid so reads stay apart from validation's.

    Parameters
    ----------
    stratified : StratifiedPatching
        The strategy the cells belong to.
    regions : numpy.ndarray
        Flat indices (into :attr:`StratifiedPatching.all_grid_coords`) of the
        validation cells.
    context : sequence of (int, int)
        Pixels a patch reads before and after its box, per spatial axis.

    Returns
    -------
    numpy.ndarray
        ``(R,)`` bool: the validation cells and every cell of the same sample
        overlapping ``[v - reach, v + patch + reach)`` per axis, ``reach`` the sum
        of the axis' context.

    Examples
    --------
    >>> from careamics_dask.patching.stratified import StratifiedPatching
    >>> stratified = StratifiedPatching([(1, 1, 64, 64)], [8, 8], 1)
    >>> int(guard_cells(stratified, np.array([27]), [(4, 4), (4, 4)]).sum())
    9
    """
    cells = stratified.all_grid_coords
    patch = stratified.patch_size
    reach = np.array([before + after for before, after in context], dtype=np.int64)
    guard = np.zeros(len(cells), dtype=np.bool_)
    guard[regions] = True
    starts = cells[:, 2:] * patch
    for region in regions:
        same = (cells[:, 0] == cells[region, 0]) & (cells[:, 1] == cells[region, 1])
        lo = starts[region] - reach
        hi = starts[region] + patch + reach
        # cell [g p, (g + 1) p) overlaps [lo, hi) on every axis
        overlap = ((starts < hi) & (starts + patch > lo)).all(axis=1)
        guard |= same & overlap
    return guard


def _held_out_regions(
    stratified: StratifiedPatching, held_out: npt.ArrayLike
) -> npt.NDArray[np.int64]:
    """Return the flat regions of given ``(data_idx, sample_idx, *cell)`` rows."""
    cells = stratified.all_grid_coords
    rows = np.asarray(held_out, dtype=np.int64).reshape(-1, cells.shape[1])
    index = {tuple(row): i for i, row in enumerate(cells.tolist())}
    missing = [row for row in rows.tolist() if tuple(row) not in index]
    if missing:
        raise ValueError(
            f"Held-out validation cells not on this data's grid: expected rows "
            f"(data_idx, sample_idx, *grid cell) of the stratified grid, got "
            f"{missing[:3]}. The data or the patch size changed since the split was "
            "saved; remove `val_split_cells` from the config to draw a new split."
        )
    return np.sort(np.array([index[tuple(row)] for row in rows.tolist()], np.int64))


def _check_inside(
    stratified: StratifiedPatching,
    cells: npt.NDArray[np.int64],
    regions: npt.NDArray[np.int64],
) -> None:
    """Require guarded validation cells inside the image (their reads are bounded)."""
    _, inside, _ = _cell_counts(stratified, cells)
    if not inside[regions].all():
        raise ValueError(
            "A leak-proof split with lateral context needs validation cells inside "
            f"the image: expected at most {int(inside.sum())} in-image cells, got "
            f"{int((~inside[regions]).sum())} sticking out. Decrease "
            "'n_val_patches' or the patch size."
        )


def create_val_split(
    stratified: StratifiedPatching,
    n_val_patches: int,
    rng_or_seed: np.random.Generator | int | None = None,
    *,
    context: Sequence[tuple[int, int]] | None = None,
    held_out: npt.ArrayLike | None = None,
) -> tuple[StratifiedPatching, FixedPatching]:
    """Set grid cells aside for validation: a training strategy and a fixed one.

    Samples get cells in proportion to their patch counts (a multivariate
    hypergeometric draw: the reference's draws without replacement, at once),
    capped by their included cells inside the image; cells sticking out of the
    image are used only once no in-image cell is left. The cells are excluded from
    a *copy* of ``stratified`` (no training patch of any epoch overlaps them) and
    become grid-aligned validation patches, sample-major in grid order.

    Parameters
    ----------
    stratified : StratifiedPatching
        The training strategy; not changed (the reference mutates it).
    n_val_patches : int
        How many validation patches.
    rng_or_seed : numpy.random.Generator or int or None, optional
        A generator to draw from, or a seed (``None``: fresh entropy).
    context : sequence of (int, int), optional
        Pixels a patch reads before and after its box per axis (lateral
        context); the guard cells around validation cells are excluded from
        training too (:func:`guard_cells`). None: patches read their box only.
    held_out : array_like of int, optional
        ``(n, 2 + ndim)`` rows ``(data_idx, sample_idx, *grid cell)`` of a saved
        split: these cells are held out instead of drawing (``n_val_patches`` is
        then ignored).

    Returns
    -------
    training : StratifiedPatching
        A copy of ``stratified`` with the validation cells excluded.
    validation : FixedPatching
        The validation patches, the same every epoch.

    Raises
    ------
    ValueError
        Before any draw: when ``n_val_patches`` is negative, not below the training
        patch count (the reference's message), or above the cells available; when
        held-out cells are not on the grid; with ``context``, when a validation
        cell sticks out of the image or the guard leaves no training patch.

    Examples
    --------
    >>> from careamics_dask.patching.stratified import StratifiedPatching
    >>> stratified = StratifiedPatching([(2, 1, 64, 64), (1, 1, 43, 71)], [8, 8], 1)
    >>> train, val = create_val_split(stratified, 10, rng_or_seed=3)
    >>> val.n_patches, train.n_patches, stratified.n_patches
    (10, 166, 176)
    """
    counts, cells = stratified.sample_patch_counts, stratified.all_grid_coords
    if held_out is not None:
        regions = _held_out_regions(stratified, held_out)
    else:
        region_sample, inside, capacity = _cell_counts(stratified, cells)
        _check_request(n_val_patches, counts, capacity, stratified.patch_size.tolist())
        rng = _split_rng(rng_or_seed)
        per_sample = _allocate(counts, capacity, n_val_patches, rng)
        included = ~stratified.excluded_cells
        regions = _choose_cells(region_sample, inside, included, per_sample, rng)
    excluded = np.isin(np.arange(len(cells)), regions)
    if context is not None:
        _check_inside(stratified, cells, regions)
        excluded = guard_cells(stratified, regions, context)
    training = stratified.copy()
    training.exclude_all_cells(excluded)
    if context is not None and training.n_patches == 0:
        raise ValueError(
            "The validation split leaves no training patch: the validation cells "
            f"and the cells guarding their reads (context {list(context)}) "
            "cover the data. Decrease 'n_val_patches', the patch size or "
            "multiscale_count."
        )
    validation = PatchTable.from_columns(
        data_idx=cells[regions, 0],
        sample_idx=cells[regions, 1],
        coords=cells[regions, 2:] * stratified.patch_size,
        patch_size=stratified.patch_size,
    )
    return training, FixedPatching(validation)


def create_random_val_split(
    random: RandomPatching,
    n_val_patches: int,
    rng_or_seed: np.random.Generator | int | None = None,
    *,
    context: Sequence[tuple[int, int]] | None = None,
    held_out: npt.ArrayLike | None = None,
) -> tuple[RandomPatching, FixedPatching]:
    """Split random patching: grid cells held out, training patches drawn off them.

    The validation cells are drawn on the stratified grid of the same shapes and
    patch size (:func:`create_val_split`, its rules and messages); training keeps
    its random draws, drawing again every start that would overlap a held-out (or
    guard) cell, so training and validation read disjoint pixels. Not in the
    reference, which splits stratified patching only.

    Parameters
    ----------
    random : RandomPatching
        The training strategy; not changed.
    n_val_patches : int
        How many validation patches.
    rng_or_seed : numpy.random.Generator or int or None, optional
        A generator to draw from, or a seed.
    context : sequence of (int, int), optional
        As :func:`create_val_split`.
    held_out : array_like of int, optional
        As :func:`create_val_split`.

    Returns
    -------
    training : RandomPatching
        A copy of ``random`` whose patches avoid the held-out cells.
    validation : FixedPatching
        The validation patches.

    Examples
    --------
    >>> from careamics_dask.patching.random import RandomPatching
    >>> train, val = create_random_val_split(
    ...     RandomPatching([(1, 1, 64, 64)], [8, 8], seed=1), 4, 3)
    >>> val.n_patches, train.n_patches
    (4, 64)
    """
    grid = StratifiedPatching(
        random.data_shapes.tolist(), random.patch_size.tolist(), seed=random.seed
    )
    guarded, validation = create_val_split(
        grid, n_val_patches, rng_or_seed, context=context, held_out=held_out
    )
    return random.without_cells(grid.all_grid_coords[guarded.excluded_cells]), (
        validation
    )
