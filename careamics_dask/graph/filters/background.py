"""Background filters as lazy block reductions over the stratified grid's regions.

Every grid cell ``g`` of a sample (``grid_shape = (shape + 1) // patch``) has a
region ``[g * p, g * p + 2p)`` per axis, zero-padded outside the image, on the
filter's reference channel. :func:`build_background` makes one Dask task per
sample and block of cells (blocks follow the storage chunks, plus a one-cell halo
on the high side), each deciding all its regions vectorized; only the small
boolean grids come back. :func:`apply_background_filter` turns them into the
stratified patching's region weights, as the reference's ``filter_background``.

Differences from CAREamics
--------------------------
- One pass over the pixels, chunk by chunk, instead of one extraction per region.
- Decisions are those of the reference's ``filter_out`` on the same float32
  regions (see :mod:`careamics_dask.graph.filters._rules`); the progress bar is
  Dask's, on local schedulers, and off by default.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from dask.base import compute

from careamics_dask.graph.filters._blocks import (
    build_stack_background,
    grid_shape,
    reference_channel,
    shape_of,
)
from careamics_dask.graph.filters._region_statistics import shannon_entropy
from careamics_dask.graph.filters._rules import (
    MaskPatchFilter,
    MaxPatchFilter,
    MeanStdPatchFilter,
    PatchFilter,
    RegionFilter,
    ShannonPatchFilter,
)
from careamics_dask.patching import StratifiedPatching

if TYPE_CHECKING:
    from collections.abc import Sequence

    import dask.array as da

__all__ = [
    "BackgroundFilter",
    "MaskPatchFilter",
    "MaxPatchFilter",
    "MeanStdPatchFilter",
    "PatchFilter",
    "RegionFilter",
    "ShannonPatchFilter",
    "apply_background_filter",
    "background_weights",
    "build_background",
    "compute_background",
    "shannon_entropy",
]

logger = logging.getLogger(__name__)

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, kw_only=True)
class BackgroundFilter:
    """A background filter: its region rule, the channel it reads, its weight.

    Attributes
    ----------
    rule : RegionFilter
        Decides which regions are background.
    ref_channel : int
        The channel of the stacks the rule reads (before any ``channels``
        selection).
    filtered_patch_prob : float
        The weight of a background region, in ``[0, 1]``.

    Examples
    --------
    >>> BackgroundFilter(rule=MaskPatchFilter(0.25)).ref_channel
    0
    """

    rule: RegionFilter
    ref_channel: int = 0
    filtered_patch_prob: float = 0.1


def build_background(
    stacks: Sequence[Any],
    background_filter: BackgroundFilter,
    patch_size: Sequence[int],
    *,
    grid_shapes: Sequence[Sequence[int]] | None = None,
) -> list[da.Array]:
    """Build, without computing, the background decision of every grid region.

    Parameters
    ----------
    stacks : sequence of xarray.DataArray, dask.array.Array or numpy.ndarray
        Image stacks ``S C (Z) Y X`` (mask stacks for a mask filter).
    background_filter : BackgroundFilter
        The filter; ``ref_channel`` indexes the stacks' channels.
    patch_size : sequence of int
        The patch size ``(Z,) Y, X``; regions are twice as large.
    grid_shapes : sequence of sequence of int, optional
        The grid of each stack; by default ``(shape + 1) // patch_size``. Regions
        beyond a stack's pixels are zeros (the reference reads a mask at the
        input's grid, whatever the mask's size).

    Returns
    -------
    list of dask.array.Array
        One lazy bool array ``(S, *grid_shape)`` per stack; True for background.

    Raises
    ------
    ValueError
        When a stack is not ``S C (Z) Y X`` with as many spatial axes as the patch,
        ``ref_channel`` is out of range, or ``grid_shapes`` does not match.

    Examples
    --------
    >>> mask = np.zeros((1, 1, 8, 8), bool)
    >>> mask[..., 4:, 4:] = True
    >>> mask_filter = BackgroundFilter(rule=MaskPatchFilter(0.25))
    >>> (lazy,) = build_background([mask], mask_filter, [2, 2])
    >>> lazy.shape
    (1, 4, 4)
    >>> lazy.compute()[0].astype(int).tolist()
    [[1, 1, 1, 1], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]]
    """
    patch_filter = background_filter.rule
    patch = tuple(int(p) for p in patch_size)
    if grid_shapes is not None and len(grid_shapes) != len(stacks):
        raise ValueError(
            f"Grid shapes do not match the stacks: expected {len(stacks)} grid "
            f"shapes, got {len(grid_shapes)}. Give one grid shape per image stack."
        )
    result = []
    for index, stack in enumerate(stacks):
        pixels = reference_channel(stack, background_filter.ref_channel, patch, index)
        grid = grid_shape(shape_of(pixels)[1:], patch, grid_shapes, index)
        result.append(build_stack_background(pixels, patch_filter, patch, grid))
    return result


def compute_background(
    stacks: Sequence[Any],
    background_filter: BackgroundFilter,
    patch_size: Sequence[int],
    *,
    grid_shapes: Sequence[Sequence[int]] | None = None,
    progress: bool = False,
) -> list[BoolArray]:
    """Decide which grid regions of every sample are background, in one compute.

    Parameters
    ----------
    stacks : sequence of xarray.DataArray, dask.array.Array or numpy.ndarray
        Image stacks ``S C (Z) Y X`` (mask stacks for a mask filter).
    background_filter : BackgroundFilter
        The filter.
    patch_size : sequence of int
        The patch size ``(Z,) Y, X``.
    grid_shapes : sequence of sequence of int, optional
        The grid of each stack (see :func:`build_background`).
    progress : bool, default False
        Show Dask's progress bar (local schedulers only).

    Returns
    -------
    list of numpy.ndarray
        One bool array ``(S, *grid_shape)`` per stack; True for background.

    Raises
    ------
    ValueError
        As :func:`build_background`.

    Examples
    --------
    >>> image = np.zeros((2, 1, 4, 4), np.uint8)
    >>> image[1, 0, :2, :2] = 9
    >>> max_filter = BackgroundFilter(rule=MaxPatchFilter(5, 0.25))
    >>> compute_background([image], max_filter, [2, 2])[0][:, 0].tolist()
    [[True, True], [False, True]]
    """
    lazy = build_background(
        stacks, background_filter, patch_size, grid_shapes=grid_shapes
    )
    bar: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if progress:
        from dask.diagnostics.progress import ProgressBar

        bar = ProgressBar()
    with bar:
        computed = compute(*lazy)
    return [np.asarray(decisions, dtype=np.bool_) for decisions in computed]


def background_weights(
    background: Sequence[BoolArray], filtered_patch_prob: float
) -> list[npt.NDArray[np.float64]]:
    """Return region weights: 1 where kept, ``filtered_patch_prob`` for background.

    Parameters
    ----------
    background : sequence of numpy.ndarray
        Bool arrays from :func:`compute_background`.
    filtered_patch_prob : float
        The weight of a background region, in ``[0, 1]``.

    Returns
    -------
    list of numpy.ndarray
        Float64 arrays of the same shapes.

    Raises
    ------
    ValueError
        When ``filtered_patch_prob`` is outside ``[0, 1]``.

    Examples
    --------
    >>> background_weights([np.array([[True, False]])], 0.1)[0].tolist()
    [[0.1, 1.0]]
    """
    if not 0 <= filtered_patch_prob <= 1:
        raise ValueError(
            "filtered_patch_prob must lie in [0, 1]: expected a weight, got "
            f"{filtered_patch_prob!r}."
        )
    return [np.where(b, float(filtered_patch_prob), 1.0) for b in background]


def apply_background_filter(
    stratified_patching: StratifiedPatching,
    stacks: Sequence[Any],
    background_filter: BackgroundFilter,
    *,
    progress: bool = False,
) -> int:
    """Down-weight the background regions of a stratified patching (in place).

    Background regions get weight ``background_filter.filtered_patch_prob``; the
    others keep theirs. As in the reference, a later filter (the mask filter
    after the patch filter) overwrites the weight of the regions it finds, it does
    not multiply. The weights are set in one call of
    :meth:`StratifiedPatching.set_all_region_weights`, which replaces every
    weight, so it is given the current weights with the background regions'
    changed (a weight of 1 lowers no patch count, set or not). Logs the
    reference's INFO message.

    Parameters
    ----------
    stratified_patching : StratifiedPatching
        The training patching, changed in place.
    stacks : sequence of xarray.DataArray, dask.array.Array or numpy.ndarray
        The input stacks, or the mask stacks for a mask filter, in the patching's
        order; regions follow the patching's grid.
    background_filter : BackgroundFilter
        The filter.
    progress : bool, default False
        Show Dask's progress bar (local schedulers only).

    Returns
    -------
    int
        The number of background regions found.

    Raises
    ------
    TypeError
        When the patching is not stratified.
    ValueError
        When the stacks do not match the patching's stacks and samples.

    Examples
    --------
    >>> image = np.zeros((1, 1, 64, 64), np.float32)
    >>> image[..., :40] = 1.0
    >>> patching = StratifiedPatching([image.shape], [32, 32], seed=0)
    >>> mean_filter = BackgroundFilter(rule=MeanStdPatchFilter(0.2, None))
    >>> apply_background_filter(patching, [image], mean_filter)
    2
    >>> patching.region_weights.tolist(), patching.n_patches
    ([1.0, 0.1, 1.0, 0.1], 3)
    """
    if not isinstance(stratified_patching, StratifiedPatching):
        raise TypeError(
            "Background patch filtering is only compatible with stratified patching. "
            f"Found {type(stratified_patching).__name__} patching: expected a "
            "StratifiedPatching. Use the 'stratified' patching strategy."
        )
    shapes = stratified_patching.data_shapes
    sizes = [shape_of(s)[0] for s in stacks]
    if sizes != [int(s[0]) for s in shapes]:
        raise ValueError(
            "Filter stacks do not match the patching's stacks: expected samples per "
            f"stack {[int(s[0]) for s in shapes]}, got {sizes}. Pass the stacks the "
            "patching was built from (or their masks), in the same order."
        )
    patch = stratified_patching.patch_size
    grids = [((np.asarray(s[2:]) + 1) // patch).tolist() for s in shapes]
    background = compute_background(
        stacks, background_filter, patch.tolist(), grid_shapes=grids, progress=progress
    )
    found = np.concatenate(
        [np.zeros(0, np.bool_), *(b.reshape(-1) for b in background)]
    )
    old = stratified_patching.n_patches
    weights = np.array(stratified_patching.region_weights)
    weights[found] = background_filter.filtered_patch_prob
    stratified_patching.set_all_region_weights(weights)
    n_found = int(found.sum())
    logger.info(
        "Found %d background regions. Number of patches has been reduced to %d "
        "from %d.",
        n_found,
        stratified_patching.n_patches,
        old,
    )
    return n_found
