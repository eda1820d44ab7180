"""A leak-proof validation split of MicroSplit training data (lateral context).

CAREamics issue #981: MicroSplit's lateral context reads pixels around every patch,
so a training patch next to a validation patch reads validation pixels into its
coarse scales. Here the validation cells of the stratified grid are held out
together with every cell a training patch would need to read their pixels (or
they its): a patch reads at most its lateral-context window, ``patch *
2**(multiscale_count - 1)`` centred on it, with ``reflect`` padding (mirrored
pixels fall inside the window for a patch inside the image), or the reference's
context window ``patch * 2**multiscale_count`` with ``wrap`` (wrapped pixels come
from the whole clipped window). See :mod:`careamics_dask.patching.val_split`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np

from careamics_dask.factory.create import held_out_cells
from careamics_dask.factory.microsplit import create_microsplit_dataset
from careamics_dask.factory.microsplit_dataset import MicroSplitDataset
from careamics_dask.patching.stratified import StratifiedPatching
from careamics_dask.patching.val_split import create_val_split

if TYPE_CHECKING:
    from collections.abc import Sequence

    from careamics_dask.config import MicroSplitDataConfig
    from careamics_dask.factory.constraints import ModelConstraints
    from careamics_dask.factory.microsplit import MultiChannelTarget, PairedInputTarget
    from careamics_dask.graph.microsplit import MicroSplitPlan
    from careamics_dask.loaders.loading import Loading

__all__ = ["create_microsplit_val_split_datasets", "lateral_context_reach"]


def lateral_context_reach(
    patch_size: Sequence[int], multiscale_count: int, padding_mode: str
) -> list[tuple[int, int]]:
    """Return the pixels a MicroSplit patch may read before and after its box.

    Parameters
    ----------
    patch_size : sequence of int
        The patch size ``(Z,) Y, X``.
    multiscale_count : int
        Number of lateral-context scales.
    padding_mode : {"reflect", "wrap"}
        How windows are filled past the image.

    Returns
    -------
    list of (int, int)
        ``(before, after)`` per axis: the window ``size = patch * 2**(L - 1)``
        (``2**L`` with ``wrap``) starts ``size // 2 - patch // 2`` before the patch.

    Examples
    --------
    >>> lateral_context_reach([16, 16], 3, "reflect")
    [(24, 24), (24, 24)]
    >>> lateral_context_reach([16], 1, "reflect")
    [(0, 0)]
    """
    exponent = multiscale_count - (0 if padding_mode == "wrap" else 1)
    reach = []
    for p in patch_size:
        size = int(p) * 2**exponent
        before = size // 2 - int(p) // 2
        reach.append((before, size - int(p) - before))
    return reach


def create_microsplit_val_split_datasets(
    config: MicroSplitDataConfig,
    data: MultiChannelTarget[Any] | PairedInputTarget[Any],
    n_val_patches: int | None = None,
    loading: Loading = None,
    model_constraints: ModelConstraints | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[MicroSplitDataset, MicroSplitDataset]:
    """Split MicroSplit training data into training and validation, leak-proof.

    Validation patches are cells of the stratified grid; they and the cells
    guarding their lateral context (:func:`lateral_context_reach`) are excluded
    from training, so no pixel a validation patch reads, at any scale or through
    padding, is read by a training patch of any epoch, and the reverse
    (augmentations move pixels within a patch, they read none). The held-out cells
    are written into ``config.val_split_cells`` and reused when present.

    Parameters
    ----------
    config : MicroSplitDataConfig
        A training config with stratified patching.
    data : MultiChannelTarget or PairedInputTarget
        The training data (one source; independent targets are not split).
    n_val_patches : int, optional
        Validation patches; ``config.n_val_patches`` by default.
    loading : ReadFuncLoading or ImageStackLoading or None
        Custom loading specification.
    model_constraints : ModelConstraints, optional
        Checked against the patch size and channels.
    rng : numpy.random.Generator, optional
        Seeds the patches' draws, as in :func:`create_microsplit_dataset`; the
        split is drawn from ``config.seed``.

    Returns
    -------
    tuple of (MicroSplitDataset, MicroSplitDataset)
        ``(train_dataset, val_dataset)``.

    Raises
    ------
    ValueError
        When the patching is not stratified, the data has independent targets,
        or the split cannot be made (see
        :func:`careamics_dask.patching.create_val_split`).
    """
    if config.patching.name != "stratified":
        raise ValueError(
            "A MicroSplit validation split needs stratified patching: got "
            f"{config.patching.name!r}. Use patching={{'name': 'stratified', ...}}."
        )
    first = create_microsplit_dataset(config, data, loading, model_constraints, rng)
    if first.mode not in ("multiplexed", "paired"):
        raise ValueError(
            "A MicroSplit validation split needs MultiChannelTarget or "
            f"PairedInputTarget data: got the {first.mode!r} mode. Give validation "
            "data of its own for independent targets."
        )
    patching = first.patching
    if not isinstance(patching, StratifiedPatching):  # pragma: no cover
        raise TypeError("A MicroSplit validation split needs stratified patching.")
    count = config.n_val_patches if n_val_patches is None else n_val_patches
    context = lateral_context_reach(
        patching.patch_size.tolist(), config.multiscale_count, config.padding_mode
    )
    training, validation = create_val_split(
        patching,
        count,
        np.random.default_rng(config.seed),
        context=context,
        held_out=config.val_split_cells,
    )
    config.val_split_cells = held_out_cells(validation, patching.patch_size)
    seed = cast("MicroSplitPlan", first.plan).seed
    train = MicroSplitDataset(
        config,
        first.mode,
        [training],
        first.extractors,
        seed=seed,
        model_constraints=model_constraints,
    )
    val = MicroSplitDataset(
        config.convert_mode("validating"),
        first.mode,
        [validation],
        first.extractors,
        seed=seed,
        model_constraints=model_constraints,
    )
    return train, val
