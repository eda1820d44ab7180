"""The spatial augmentations: flips and quarter turns in the YX plane, per patch.

:class:`XYFlip` and :class:`XYRandomRotate90` follow the reference's decision rules
(``reference_semantics.md`` §6.8): a patch is left unchanged when its uniform draw
``u > p``; a flip picks its axis from ``[Y if flip_y] + [X if flip_x]``; a rotation
turns the YX plane of every Z slice by ``k * 90`` degrees, ``k`` in ``{1, 2, 3}``.

Batches draw from (seed, position, epoch, patch index); called on one patch
(``flip(patch, target)``, the reference's form), an augmentation draws from its own
generator seeded with ``seed`` exactly as the reference's transform does, so the
same seed gives the reference's sequence of decisions. Without a seed, one is drawn
once from OS entropy and kept (``seed`` then holds it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from careamics_dask.graph.transforms.draws import draw_uniforms
from careamics_dask.patching import resolve_seed

__all__ = ["SEED_MESSAGE", "SpatialAugmentation", "XYFlip", "XYRandomRotate90"]

Int8Array = npt.NDArray[np.int8]


SEED_MESSAGE = (
    "{name} needs a seed to draw reproducibly: expected an integer >= 0, got "
    "{seed!r}. Set `seed`, or take the augmentations from a DataConfig, "
    "which derives one per augmentation."
)
"""The message for a missing or invalid seed (the factory's too)."""


def _checked_seed(owner: object, seed: object, name: str) -> int:
    """Require a non-negative integer seed; draw and store one for ``None``."""
    if seed is None:
        seed = resolve_seed(None)
        object.__setattr__(owner, "seed", seed)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(SEED_MESSAGE.format(name=name, seed=seed))
    return int(seed)


def _patch_generator(owner: Any) -> np.random.Generator:
    """Return the generator of calls on single patches, made on first use."""
    rng: np.random.Generator | None = owner._rng
    if rng is None:
        rng = np.random.default_rng(owner.seed)
        object.__setattr__(owner, "_rng", rng)
    return rng


def _apply_all(
    transform: Any,
    patch: npt.NDArray[Any],
    target: npt.NDArray[Any] | None,
    additional_arrays: dict[str, npt.NDArray[Any]],
) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None, dict[str, npt.NDArray[Any]]]:
    """Apply ``transform`` to a patch, its target and additional arrays alike."""
    return (
        np.ascontiguousarray(transform(patch)),
        None if target is None else np.ascontiguousarray(transform(target)),
        {
            key: np.ascontiguousarray(transform(array))
            for key, array in additional_arrays.items()
        },
    )


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
    seed : int or None
        Seed of the decisions; ``None`` (the reference's default) draws one once.
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

    seed: int | None = None
    flip_x: bool = True
    flip_y: bool = True
    p: float = 0.5
    _rng: np.random.Generator | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        _checked_seed(self, self.seed, "XYFlip")
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
        uniforms = draw_uniforms(
            _checked_seed(self, self.seed, "XYFlip"), position, epoch, indices
        )
        options = np.asarray(self.axes, dtype=np.int8)
        choice = np.minimum(
            (uniforms[1] * options.size).astype(np.int64), options.size - 1
        )
        result: Int8Array = np.where(uniforms[0] > self.p, np.int8(0), options[choice])
        return result.astype(np.int8)

    def __call__(
        self,
        patch: npt.NDArray[Any],
        target: npt.NDArray[Any] | None = None,
        **additional_arrays: npt.NDArray[Any],
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None, dict[str, npt.NDArray[Any]]]:
        """Flip one ``C(Z)YX`` patch (and its target) or not: the reference's call.

        Parameters
        ----------
        patch : numpy.ndarray
            The patch, ``(C, [Z,] Y, X)``.
        target : numpy.ndarray or None, optional
            Its target.
        **additional_arrays : numpy.ndarray
            Arrays flipped alike.

        Returns
        -------
        tuple
            The patch, the target (or ``None``) and the additional arrays.

        Examples
        --------
        >>> flip = XYFlip(seed=0, p=1.0, flip_y=False)
        >>> flip(np.arange(3).reshape(1, 1, 3))[0].ravel().tolist()
        [2, 1, 0]
        """
        rng = _patch_generator(self)
        if rng.random() > self.p:
            return patch, target, additional_arrays
        axis = int(rng.choice(list(self.axes)))
        return _apply_all(
            functools.partial(np.flip, axis=axis), patch, target, additional_arrays
        )

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
    seed : int or None
        Seed of the decisions; ``None`` (the reference's default) draws one once.
    p : float
        Probability of rotating a patch.

    Examples
    --------
    >>> XYRandomRotate90(seed=3, p=1.5)
    Traceback (most recent call last):
    ...
    ValueError: Probability must be in [0, 1].
    """

    seed: int | None = None
    p: float = 0.5
    _rng: np.random.Generator | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        _checked_seed(self, self.seed, "XYRandomRotate90")
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
        seed = _checked_seed(self, self.seed, "XYRandomRotate90")
        uniforms = draw_uniforms(seed, position, epoch, indices)
        k = np.minimum((uniforms[1] * 3).astype(np.int64), 2) + 1
        result: Int8Array = np.where(uniforms[0] > self.p, 0, k).astype(np.int8)
        return result

    def __call__(
        self,
        patch: npt.NDArray[Any],
        target: npt.NDArray[Any] | None = None,
        **additional_arrays: npt.NDArray[Any],
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None, dict[str, npt.NDArray[Any]]]:
        """Rotate one ``C(Z)YX`` patch (and its target) or not: the reference's call.

        Parameters
        ----------
        patch : numpy.ndarray
            The patch, ``(C, [Z,] Y, X)`` with ``Y == X``.
        target : numpy.ndarray or None, optional
            Its target.
        **additional_arrays : numpy.ndarray
            Arrays rotated alike.

        Returns
        -------
        tuple
            The patch, the target (or ``None``) and the additional arrays.

        Examples
        --------
        >>> rotate = XYRandomRotate90(seed=0, p=0.0)
        >>> rotate(np.eye(2)[None])[0].tolist()
        [[[1.0, 0.0], [0.0, 1.0]]]
        """
        rng = _patch_generator(self)
        if rng.random() > self.p:
            return patch, target, additional_arrays
        n_rot = int(rng.integers(1, 4))
        return _apply_all(
            functools.partial(np.rot90, k=n_rot, axes=(-2, -1)),
            patch,
            target,
            additional_arrays,
        )

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
"""An augmentation that ``augment_batch`` applies."""
