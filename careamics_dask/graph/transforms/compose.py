"""The reference's ``Compose``: spatial augmentations chained on one patch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from careamics_dask.graph.transforms.spatial import (
    SpatialAugmentation,
    XYFlip,
    XYRandomRotate90,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt

__all__ = ["ALL_TRANSFORMS", "Compose"]

ALL_TRANSFORMS: Mapping[str, type[XYFlip] | type[XYRandomRotate90]] = {
    "XYFlip": XYFlip,
    "XYRandomRotate90": XYRandomRotate90,
}
"""The augmentations by their config's ``name``, as the reference's table."""


def _build(transform: Any) -> SpatialAugmentation:
    """Return an augmentation, or build one from a config (``name``, ``model_dump``)."""
    if isinstance(transform, XYFlip | XYRandomRotate90):
        return transform
    name = str(getattr(transform, "name", ""))
    if name not in ALL_TRANSFORMS or not hasattr(transform, "model_dump"):
        raise TypeError(
            "Compose takes augmentation configs (XYFlipConfig, XYRandomRotate90Config) "
            f"or augmentations (XYFlip, XYRandomRotate90): got {transform!r}."
        )
    fields = {k: v for k, v in transform.model_dump().items() if k != "name"}
    return ALL_TRANSFORMS[name](**fields)


class Compose:
    """Spatial augmentations applied one after the other to a single patch.

    Called on a patch it gives the reference's result: each augmentation draws
    from its own generator seeded with its ``seed`` (see
    :mod:`careamics_dask.graph.transforms.spatial`). Batches of a dataset are
    augmented by :func:`~careamics_dask.graph.transforms.augment_batch`
    instead, keyed by patch and epoch.

    Parameters
    ----------
    transform_list : sequence
        Augmentation configs (``XYFlipConfig``, ``XYRandomRotate90Config``, as the
        reference) or augmentations.

    Attributes
    ----------
    transforms : list of XYFlip or XYRandomRotate90
        The augmentations, in order.

    Examples
    --------
    >>> import numpy as np
    >>> compose = Compose([XYFlip(seed=0, p=1.0, flip_y=False)])
    >>> [a.ravel().tolist() for a in compose(np.arange(3).reshape(1, 1, 3))]
    [[2, 1, 0]]
    """

    def __init__(self, transform_list: Sequence[Any]) -> None:
        self.transforms: list[SpatialAugmentation] = [_build(t) for t in transform_list]

    def __call__(
        self, patch: npt.NDArray[Any], target: npt.NDArray[Any] | None = None
    ) -> tuple[npt.NDArray[Any], ...]:
        """Apply the augmentations to a patch and its target.

        Parameters
        ----------
        patch : numpy.ndarray
            The patch, ``(C, [Z,] Y, X)``.
        target : numpy.ndarray or None, optional
            Its target.

        Returns
        -------
        tuple of numpy.ndarray
            ``(patch,)`` or ``(patch, target)``, as the reference.
        """
        patch, target, _ = self.transform_with_additional_arrays(patch, target)
        return (patch,) if target is None else (patch, target)

    def transform_with_additional_arrays(
        self,
        patch: npt.NDArray[Any],
        target: npt.NDArray[Any] | None = None,
        **additional_arrays: npt.NDArray[Any],
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None, dict[str, npt.NDArray[Any]]]:
        """Apply the augmentations to a patch, its target and other arrays alike.

        Parameters
        ----------
        patch : numpy.ndarray
            The patch.
        target : numpy.ndarray or None, optional
            Its target.
        **additional_arrays : numpy.ndarray
            Arrays transformed alike.

        Returns
        -------
        tuple
            The patch, the target (or ``None``) and the additional arrays.
        """
        for transform in self.transforms:
            patch, target, additional_arrays = transform(
                patch, target, **additional_arrays
            )
        return patch, target, additional_arrays
