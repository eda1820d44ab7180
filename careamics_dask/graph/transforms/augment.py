"""Flip and rotate training patches in the YX plane, reproducibly per patch.

:class:`XYFlip` and :class:`XYRandomRotate90` follow the reference's decision rules
(``reference_semantics.md`` §6.8): a patch is left unchanged when its uniform draw
``u > p``; a flip picks its axis from ``[Y if flip_y] + [X if flip_x]``; a rotation
turns the YX plane of every Z slice by ``k * 90`` degrees, ``k`` in ``{1, 2, 3}``.
Input and target get the same transform. :func:`augment_batch` applies a list of
augmentations, in order, to a batch; :func:`augment_patch` to one patch, with the
same result as the batch form for that patch.

Randomness is counter-based: the draws of a patch depend only on the augmentation's
seed, its position in the list, the epoch and the patch's global index in the
epoch, never on how patches are grouped into batches, on the worker, or on the order
batches run. For each ``(seed, position, epoch)``, :class:`numpy.random.SeedSequence`
gives one 64-bit key per draw, and the draw of patch ``i`` is the ``i``-th output of
SplitMix64 started at that key, computed for a whole batch at once.

Augmentations are for training only: the caller (the dataset's batch task) passes
an empty list outside training; nothing here checks the mode.

Differences from CAREamics
--------------------------
- Each augmentation draws from its own stream (the position in the list is part of
  the key), so a flip and a rotation fire independently even with equal seeds; the
  reference gave both the same seed, so they fired together.
- Draws are per patch and per epoch, so workers never repeat each other's draws
  (the reference's DataLoader workers held identical copies of the generators).
- A seed is required (the factory derives one per augmentation of a data
  configuration); ``None`` would make batches irreproducible across workers.
- Rotation of a patch whose Y and X sizes differ is refused with a clear error; the
  reference failed later, when batching patches of different shapes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from careamics_dask.graph.transforms.spatial import (
    SpatialAugmentation,
    XYFlip,
    XYRandomRotate90,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "augment_batch",
    "augment_patch",
    "check_augmentations",
]

logger = logging.getLogger(__name__)


def check_augmentations(
    augmentations: Sequence[SpatialAugmentation],
    *,
    patch_size: Sequence[int] | None = None,
) -> tuple[SpatialAugmentation, ...]:
    """Check a list of augmentations, at construction time.

    Parameters
    ----------
    augmentations : sequence of XYFlip or XYRandomRotate90
        The list, in the order of application.
    patch_size : sequence of int or None, optional
        Spatial patch size ``([Z,] Y, X)``; when given, a rotation requires
        ``Y == X``.

    Returns
    -------
    tuple of XYFlip and XYRandomRotate90
        The augmentations, in order.

    Raises
    ------
    ValueError
        When a rotation meets a non-square YX patch size.
    TypeError
        When an entry is not an augmentation.

    Examples
    --------
    >>> check_augmentations([XYRandomRotate90(seed=1)], patch_size=[32, 16])
    Traceback (most recent call last):
    ...
    ValueError: XYRandomRotate90 needs square patches in YX: expected Y == X, ...
    """
    built = tuple(augmentations)
    for augmentation in built:
        if not isinstance(augmentation, XYFlip | XYRandomRotate90):
            raise TypeError(
                "Augmentations must be XYFlip or XYRandomRotate90 (or their "
                f"configs): got {type(augmentation).__name__}."
            )
    if patch_size is not None:
        _check_square(built, tuple(patch_size))
    return built


def _check_square(
    augmentations: Sequence[SpatialAugmentation], spatial: tuple[int, ...]
) -> None:
    """Refuse a rotation of patches whose Y and X sizes differ."""
    rotates = any(isinstance(a, XYRandomRotate90) for a in augmentations)
    if rotates and len(spatial) >= 2 and spatial[-2] != spatial[-1]:
        raise ValueError(
            "XYRandomRotate90 needs square patches in YX: expected Y == X, got "
            f"Y={spatial[-2]} and X={spatial[-1]}. Use a patch size with equal Y "
            "and X, or remove the rotation."
        )


def _writeable(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Return ``array``, or a copy of it when it cannot be written."""
    return array if array.flags.writeable else array.copy()


def _check_batch(inputs: npt.NDArray[Any], targets: npt.NDArray[Any] | None) -> None:
    """Require 4-D or 5-D batches, and targets of the same batch and spatial sizes."""
    if inputs.ndim not in (4, 5):
        raise ValueError(
            "Augmentation needs a batch with axes B C (Z) Y X: expected 4 or 5 "
            f"dimensions, got shape {inputs.shape}. Use augment_patch for one patch."
        )
    if targets is not None and (
        targets.ndim != inputs.ndim
        or targets.shape[0] != inputs.shape[0]
        or targets.shape[2:] != inputs.shape[2:]
    ):
        raise ValueError(
            "Targets are augmented with their inputs, so they need the same batch "
            f"and spatial sizes: expected (B, C', {inputs.shape[2:]}) with "
            f"B={inputs.shape[0]}, got {targets.shape}."
        )


def augment_batch(
    inputs: npt.NDArray[Any],
    targets: npt.NDArray[Any] | None,
    augmentations: Sequence[SpatialAugmentation],
    *,
    epoch: int,
    indices: npt.ArrayLike,
) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
    """Augment a batch, each patch by its own draws, targets like their inputs.

    Decisions of the whole batch are drawn first, then patches sharing a decision
    are transformed together. The arrays are changed in place (copied first when
    read-only) and returned.

    Parameters
    ----------
    inputs : numpy.ndarray
        Batch ``(B, C, [Z,] Y, X)``.
    targets : numpy.ndarray or None
        Targets ``(B, C', [Z,] Y, X)``, or ``None``.
    augmentations : sequence of XYFlip or XYRandomRotate90
        Applied in order; the position in the list keys each one's draws. Pass an
        empty list outside training.
    epoch : int
        The epoch (non-negative).
    indices : array-like of int
        Global patch index in the epoch of each patch of the batch, ``(B,)``.

    Returns
    -------
    tuple of numpy.ndarray
        The augmented inputs and targets (``None`` without targets).

    Raises
    ------
    ValueError
        When the shapes disagree, a rotation meets non-square YX patches, the
        epoch or indices are invalid, or an augmentation is invalid.
    TypeError
        When an entry is not an augmentation.

    Examples
    --------
    >>> x = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2)
    >>> flip = XYFlip(seed=0, p=1.0, flip_y=False)
    >>> out, _ = augment_batch(x, None, [flip], epoch=0, indices=[0, 1])
    >>> out[0, 0].tolist()
    [[1.0, 0.0], [3.0, 2.0]]
    """
    built = check_augmentations(augmentations)
    _check_batch(inputs, targets)
    index_array = np.asarray(indices)
    if index_array.shape != (inputs.shape[0],):
        raise ValueError(
            "Every patch of the batch needs one global index: expected shape "
            f"({inputs.shape[0]},), got {index_array.shape}."
        )
    if not built:
        return inputs, targets
    _check_square(built, tuple(inputs.shape[2:]))
    decisions = [
        augmentation.draw(epoch=epoch, indices=index_array, position=position)
        for position, augmentation in enumerate(built)
    ]
    inputs = _writeable(inputs)
    targets = None if targets is None else _writeable(targets)
    for augmentation, decision in zip(built, decisions, strict=True):
        augmentation.apply(inputs, targets, decision)
    return inputs, targets


def augment_patch(
    patch: npt.NDArray[Any],
    target: npt.NDArray[Any] | None,
    augmentations: Sequence[SpatialAugmentation],
    *,
    epoch: int,
    index: int,
) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
    """Augment one ``C(Z)YX`` patch exactly as :func:`augment_batch` would.

    Parameters
    ----------
    patch : numpy.ndarray
        Input patch ``(C, [Z,] Y, X)``.
    target : numpy.ndarray or None
        Target patch ``(C', [Z,] Y, X)``, or ``None``.
    augmentations : sequence of XYFlip or XYRandomRotate90
        Applied in order, as in :func:`augment_batch`.
    epoch : int
        The epoch (non-negative).
    index : int
        The patch's global index in the epoch.

    Returns
    -------
    tuple of numpy.ndarray
        The augmented patch and target (``None`` without a target).

    Raises
    ------
    ValueError
        As :func:`augment_batch`.
    TypeError
        As :func:`augment_batch`.

    Examples
    --------
    >>> rotate = XYRandomRotate90(seed=0, p=0.0)
    >>> out, _ = augment_patch(np.eye(2)[None], None, [rotate], epoch=0, index=5)
    >>> out.shape
    (1, 2, 2)
    """
    batch_target = None if target is None else target[np.newaxis]
    inputs, targets = augment_batch(
        patch[np.newaxis],
        batch_target,
        augmentations,
        epoch=epoch,
        indices=np.asarray([index], dtype=np.int64),
    )
    return inputs[0], None if targets is None else targets[0]
