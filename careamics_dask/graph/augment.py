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
- A seed is required (a :class:`~careamics_dask.config.DataConfig` derives one per
  augmentation); ``None`` would make batches irreproducible across workers.
- Rotation of a patch whose Y and X sizes differ is refused with a clear error; the
  reference failed later, when batching patches of different shapes.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from careamics_dask.config import XYFlipConfig, XYRandomRotate90Config

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "AugmentationLike",
    "SpatialAugmentation",
    "XYFlip",
    "XYRandomRotate90",
    "augment_batch",
    "augment_patch",
    "create_augmentations",
    "draw_uniforms",
]

logger = logging.getLogger(__name__)

_AUGMENTATION_KEY = 0x61756720  # "aug ": keeps these streams apart from the tables'
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_UNIT = 2.0**-53

UInt64Array = npt.NDArray[np.uint64]
Int8Array = npt.NDArray[np.int8]


@functools.lru_cache(maxsize=1024)
def _stream_keys(seed: int, position: int, epoch: int, n_draws: int) -> UInt64Array:
    """Return the SplitMix64 starting keys of one augmentation in one epoch."""
    sequence = np.random.SeedSequence(
        seed, spawn_key=(_AUGMENTATION_KEY, position, epoch)
    )
    keys: UInt64Array = sequence.generate_state(n_draws, dtype=np.uint64).astype(
        np.uint64
    )
    keys.flags.writeable = False
    return keys


def _splitmix64(key: np.uint64, indices: UInt64Array) -> UInt64Array:
    """Return output ``i`` of SplitMix64 started at ``key``, for every ``i``."""
    z = (indices + np.uint64(1)) * _GOLDEN + key
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    result: UInt64Array = z ^ (z >> np.uint64(31))
    return result


def _check_indices(epoch: object, indices: npt.ArrayLike) -> UInt64Array:
    """Validate the epoch and patch indices; return the indices as uint64."""
    if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
        raise ValueError(
            f"Epoch must be a non-negative integer: expected >= 0, got {epoch!r}."
        )
    array = np.asarray(indices)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            "Patch indices must be a 1-D integer array: expected shape (B,), got "
            f"dtype {array.dtype} and shape {array.shape}. Pass the global patch "
            "indices of the batch."
        )
    if array.size and array.min() < 0:
        raise ValueError(
            f"Patch indices must be non-negative: got {array[array < 0][:5].tolist()}."
        )
    return array.astype(np.uint64)


def draw_uniforms(
    seed: int, position: int, epoch: int, indices: npt.ArrayLike, n_draws: int = 2
) -> npt.NDArray[np.float64]:
    """Return the uniform draws in ``[0, 1)`` of patches, independent of batching.

    Parameters
    ----------
    seed : int
        The augmentation's seed (non-negative).
    position : int
        The augmentation's position in its list.
    epoch : int
        The epoch (non-negative).
    indices : array-like of int
        Global patch indices in the epoch, ``(B,)``.
    n_draws : int, optional
        Draws per patch.

    Returns
    -------
    numpy.ndarray
        ``(n_draws, B)`` float64 uniforms; column ``j`` depends only on
        ``(seed, position, epoch, indices[j])``.

    Raises
    ------
    ValueError
        When the epoch or an index is negative, or the indices are not 1-D integers.

    Examples
    --------
    >>> both = draw_uniforms(7, 0, 0, [3, 4])
    >>> bool((draw_uniforms(7, 0, 0, [4])[:, 0] == both[:, 1]).all())
    True
    """
    index_array = _check_indices(epoch, indices)
    keys = _stream_keys(int(seed), int(position), int(epoch), int(n_draws))
    words = np.stack([_splitmix64(key, index_array) for key in keys])
    uniforms: npt.NDArray[np.float64] = (words >> np.uint64(11)).astype(
        np.float64
    ) * _UNIT
    return uniforms


def _checked_seed(seed: int | None, name: str) -> int:
    """Require a non-negative integer seed."""
    if seed is None or isinstance(seed, bool) or seed < 0:
        raise ValueError(
            f"{name} needs a seed to draw reproducibly: expected an integer >= 0, got "
            f"{seed!r}. Set `seed`, or take the augmentations from a DataConfig, "
            "which derives one per augmentation."
        )
    return int(seed)


def _check_probability(p: float) -> None:
    """Require ``0 <= p <= 1`` (the reference's message)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError("Probability must be in [0, 1].")


def _select(
    inputs: npt.NDArray[Any],
    targets: npt.NDArray[Any] | None,
    mask: npt.NDArray[np.bool_],
    transform: Any,
) -> None:
    """Replace the patches selected by ``mask`` with ``transform`` of them."""
    if not mask.any():
        return
    inputs[mask] = transform(inputs[mask])
    if targets is not None:
        targets[mask] = transform(targets[mask])


@dataclass(frozen=True, slots=True, kw_only=True)
class XYFlip:
    """Flip a patch along Y or X with probability ``p`` (never along Z).

    Attributes
    ----------
    seed : int
        Seed of the decisions.
    flip_x : bool
        Whether flips along X may happen.
    flip_y : bool
        Whether flips along Y may happen.
    p : float
        Probability of flipping a patch.

    Examples
    --------
    >>> XYFlip(seed=1, flip_x=False, flip_y=False)
    Traceback (most recent call last):
    ...
    ValueError: At least one axis must be flippable.
    """

    seed: int
    flip_x: bool = True
    flip_y: bool = True
    p: float = 0.5

    def __post_init__(self) -> None:
        _checked_seed(self.seed, "XYFlip")
        _check_probability(self.p)
        if not (self.flip_x or self.flip_y):
            raise ValueError("At least one axis must be flippable.")

    @property
    def axes(self) -> tuple[int, ...]:
        """The axes a flip picks from, Y (-2) before X (-1), as the reference.

        Returns
        -------
        tuple of int
            A subset of ``(-2, -1)``.
        """
        return (*((-2,) if self.flip_y else ()), *((-1,) if self.flip_x else ()))

    def draw(
        self, *, epoch: int, indices: npt.ArrayLike, position: int = 0
    ) -> Int8Array:
        """Return the flip axis of each patch, 0 where it is left unchanged.

        Parameters
        ----------
        epoch : int
            The epoch.
        indices : array-like of int
            Global patch indices, ``(B,)``.
        position : int, optional
            Position of this augmentation in its list.

        Returns
        -------
        numpy.ndarray
            ``(B,)`` int8: -2 (Y), -1 (X) or 0 (no flip).

        Raises
        ------
        ValueError
            When the epoch or indices are invalid.

        Examples
        --------
        >>> XYFlip(seed=0, p=1.0, flip_y=False).draw(epoch=0, indices=[0, 1]).tolist()
        [-1, -1]
        """
        uniforms = draw_uniforms(self.seed, position, epoch, indices)
        options = np.asarray(self.axes, dtype=np.int8)
        choice = np.minimum(
            (uniforms[1] * options.size).astype(np.int64), options.size - 1
        )
        result: Int8Array = np.where(uniforms[0] > self.p, np.int8(0), options[choice])
        return result.astype(np.int8)

    def apply(
        self,
        inputs: npt.NDArray[Any],
        targets: npt.NDArray[Any] | None,
        decisions: Int8Array,
    ) -> None:
        """Flip, in place, the patches of a batch as ``decisions`` say.

        Parameters
        ----------
        inputs : numpy.ndarray
            Batch ``(B, C, [Z,] Y, X)``, writeable.
        targets : numpy.ndarray or None
            Targets with the same batch and spatial sizes, or ``None``.
        decisions : numpy.ndarray
            Output of :meth:`draw`.
        """
        for axis in self.axes:
            _select(
                inputs,
                targets,
                decisions == axis,
                functools.partial(np.flip, axis=axis),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class XYRandomRotate90:
    """Rotate the YX plane of a patch by 90, 180 or 270 degrees with probability p.

    Attributes
    ----------
    seed : int
        Seed of the decisions.
    p : float
        Probability of rotating a patch.

    Examples
    --------
    >>> XYRandomRotate90(seed=3, p=1.5)
    Traceback (most recent call last):
    ...
    ValueError: Probability must be in [0, 1].
    """

    seed: int
    p: float = 0.5

    def __post_init__(self) -> None:
        _checked_seed(self.seed, "XYRandomRotate90")
        _check_probability(self.p)

    def draw(
        self, *, epoch: int, indices: npt.ArrayLike, position: int = 0
    ) -> Int8Array:
        """Return the number ``k`` of quarter turns of each patch, 0 for none.

        Parameters
        ----------
        epoch : int
            The epoch.
        indices : array-like of int
            Global patch indices, ``(B,)``.
        position : int, optional
            Position of this augmentation in its list.

        Returns
        -------
        numpy.ndarray
            ``(B,)`` int8 in ``{0, 1, 2, 3}``.

        Raises
        ------
        ValueError
            When the epoch or indices are invalid.

        Examples
        --------
        >>> k = XYRandomRotate90(seed=0, p=1.0).draw(epoch=0, indices=range(100))
        >>> sorted(set(k.tolist()))
        [1, 2, 3]
        """
        uniforms = draw_uniforms(self.seed, position, epoch, indices)
        k = np.minimum((uniforms[1] * 3).astype(np.int64), 2) + 1
        result: Int8Array = np.where(uniforms[0] > self.p, 0, k).astype(np.int8)
        return result

    def apply(
        self,
        inputs: npt.NDArray[Any],
        targets: npt.NDArray[Any] | None,
        decisions: Int8Array,
    ) -> None:
        """Rotate, in place, the patches of a batch as ``decisions`` say.

        Parameters
        ----------
        inputs : numpy.ndarray
            Batch ``(B, C, [Z,] Y, X)`` with ``Y == X``, writeable.
        targets : numpy.ndarray or None
            Targets with the same batch and spatial sizes, or ``None``.
        decisions : numpy.ndarray
            Output of :meth:`draw`.
        """
        for k in (1, 2, 3):
            _select(
                inputs,
                targets,
                decisions == k,
                functools.partial(np.rot90, k=k, axes=(-2, -1)),
            )


SpatialAugmentation: TypeAlias = XYFlip | XYRandomRotate90
"""An augmentation that :func:`augment_batch` applies."""

AugmentationLike: TypeAlias = (
    XYFlip | XYRandomRotate90 | XYFlipConfig | XYRandomRotate90Config
)
"""What :func:`augment_batch` accepts: an augmentation or its config."""


def _from_config(augmentation: AugmentationLike) -> SpatialAugmentation:
    """Return the augmentation of a config (or the augmentation itself)."""
    if isinstance(augmentation, XYFlip | XYRandomRotate90):
        return augmentation
    if isinstance(augmentation, XYFlipConfig):
        return XYFlip(
            seed=_checked_seed(augmentation.seed, "XYFlip"),
            flip_x=augmentation.flip_x,
            flip_y=augmentation.flip_y,
            p=augmentation.p,
        )
    if isinstance(augmentation, XYRandomRotate90Config):
        return XYRandomRotate90(
            seed=_checked_seed(augmentation.seed, "XYRandomRotate90"),
            p=augmentation.p,
        )
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
    built = tuple(_from_config(augmentation) for augmentation in augmentations)
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
    augmentations: Sequence[AugmentationLike],
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
    augmentations : sequence of augmentation configs or augmentations
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
    built = create_augmentations(augmentations)
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
    augmentations: Sequence[AugmentationLike],
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
