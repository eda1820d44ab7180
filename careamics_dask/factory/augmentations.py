"""Augmentation configs to plain augmentations, and batch augmentation from configs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from careamics_dask.config import XYFlipConfig, XYRandomRotate90Config
from careamics_dask.graph.transforms import (
    SEED_MESSAGE,
    SpatialAugmentation,
    XYFlip,
    XYRandomRotate90,
    check_augmentations,
)
from careamics_dask.graph.transforms import augment_batch as _augment_batch
from careamics_dask.graph.transforms import augment_patch as _augment_patch

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

__all__ = [
    "AugmentationLike",
    "augment_batch",
    "augment_patch",
    "create_augmentation",
    "create_augmentations",
]

AugmentationLike: TypeAlias = (
    XYFlip | XYRandomRotate90 | XYFlipConfig | XYRandomRotate90Config
)
"""What :func:`create_augmentations` accepts: an augmentation or its config."""


def create_augmentation(augmentation: AugmentationLike) -> SpatialAugmentation:
    """Return the augmentation of a config (or the augmentation itself).

    Parameters
    ----------
    augmentation : XYFlipConfig, XYRandomRotate90Config, XYFlip or XYRandomRotate90
        The config, or an augmentation, returned as is.

    Returns
    -------
    XYFlip or XYRandomRotate90
        The augmentation.

    Raises
    ------
    ValueError
        When the seed is missing, the probability is outside ``[0, 1]`` or a flip
        has no axis.
    TypeError
        When the entry is not an augmentation.

    Examples
    --------
    >>> create_augmentation(XYRandomRotate90Config(seed=3, p=0.25))
    XYRandomRotate90(seed=3, p=0.25)
    """
    if isinstance(augmentation, XYFlip | XYRandomRotate90):
        return augmentation
    if getattr(augmentation, "seed", 0) is None:
        # a dataset's augmentations must be reproducible: a config without a seed
        # (outside a DataConfig, which derives one) is refused
        name = type(augmentation).__name__.removesuffix("Config")
        raise ValueError(SEED_MESSAGE.format(name=name, seed=None))
    if isinstance(augmentation, XYFlipConfig):
        return XYFlip(
            seed=augmentation.seed,
            flip_x=augmentation.flip_x,
            flip_y=augmentation.flip_y,
            p=augmentation.p,
        )
    if isinstance(augmentation, XYRandomRotate90Config):
        return XYRandomRotate90(seed=augmentation.seed, p=augmentation.p)
    raise TypeError(
        "Augmentations must be XYFlip or XYRandomRotate90 (or their configs): got "
        f"{type(augmentation).__name__}."
    )


def create_augmentations(
    augmentations: Sequence[AugmentationLike],
    *,
    patch_size: Sequence[int] | None = None,
) -> tuple[SpatialAugmentation, ...]:
    """Build and check the augmentations of a config list, at construction time.

    Parameters
    ----------
    augmentations : sequence of XYFlipConfig, XYRandomRotate90Config or augmentation
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
        When a seed is missing, a probability is outside ``[0, 1]``, a flip has no
        axis, or a rotation meets a non-square YX patch size.
    TypeError
        When an entry is not an augmentation.

    Examples
    --------
    >>> create_augmentations([XYRandomRotate90Config(seed=1)], patch_size=[32, 16])
    Traceback (most recent call last):
    ...
    ValueError: XYRandomRotate90 needs square patches in YX: expected Y == X, ...
    """
    built = tuple(create_augmentation(augmentation) for augmentation in augmentations)
    return check_augmentations(built, patch_size=patch_size)


def augment_batch(
    inputs: npt.NDArray[Any],
    targets: npt.NDArray[Any] | None,
    augmentations: Sequence[AugmentationLike],
    *,
    epoch: int,
    indices: npt.ArrayLike,
) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
    """Augment a batch as :func:`careamics_dask.graph.transforms.augment_batch`.

    Configs in ``augmentations`` are built first (:func:`create_augmentations`);
    batch tasks call the graph's function with built augmentations instead.

    Parameters
    ----------
    inputs : numpy.ndarray
        Batch ``(B, C, [Z,] Y, X)``.
    targets : numpy.ndarray or None
        Targets ``(B, C', [Z,] Y, X)``, or ``None``.
    augmentations : sequence of augmentation configs or augmentations
        Applied in order; the position in the list keys each one's draws.
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
        As the graph's function, or when an augmentation config is invalid.
    TypeError
        When an entry is not an augmentation.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2)
    >>> flip = XYFlipConfig(seed=0, p=1.0, flip_y=False)
    >>> augment_batch(x, None, [flip], epoch=0, indices=[0, 1])[0][0, 0].tolist()
    [[1.0, 0.0], [3.0, 2.0]]
    """
    built = create_augmentations(augmentations)
    return _augment_batch(inputs, targets, built, epoch=epoch, indices=indices)


def augment_patch(
    patch: npt.NDArray[Any],
    target: npt.NDArray[Any] | None,
    augmentations: Sequence[AugmentationLike],
    *,
    epoch: int,
    index: int,
) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
    """Augment one patch as :func:`careamics_dask.graph.transforms.augment_patch`.

    Parameters
    ----------
    patch : numpy.ndarray
        Input patch ``(C, [Z,] Y, X)``.
    target : numpy.ndarray or None
        Target patch ``(C', [Z,] Y, X)``, or ``None``.
    augmentations : sequence of augmentation configs or augmentations
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
    >>> import numpy as np
    >>> rotate = XYRandomRotate90Config(seed=0, p=0.0)
    >>> augment_patch(np.eye(2)[None], None, [rotate], epoch=0, index=5)[0].shape
    (1, 2, 2)
    """
    built = create_augmentations(augmentations)
    return _augment_patch(patch, target, built, epoch=epoch, index=index)
