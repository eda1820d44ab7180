"""Validate image-stack shapes and lay out their samples as flat arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["SampleLayout", "check_patch_size", "check_shapes"]

Int64Array = npt.NDArray[np.int64]


def check_patch_size(patch_size: Sequence[int], name: str = "patch_size") -> Int64Array:
    """Return a patch size as a read-only int64 array after checking it.

    Parameters
    ----------
    patch_size : sequence of int
        Two or three positive sizes, ``(Z,) Y, X``.
    name : str, default "patch_size"
        The parameter name used in error messages.

    Returns
    -------
    numpy.ndarray
        The sizes, shape ``(ndim,)``, int64.

    Raises
    ------
    ValueError
        When there are not two or three sizes or a size is not positive.

    Examples
    --------
    >>> check_patch_size([8, 16]).tolist()
    [8, 16]
    """
    sizes = np.array(patch_size, dtype=np.int64).reshape(-1)
    if sizes.size not in (2, 3) or (sizes <= 0).any():
        raise ValueError(
            f"`{name}` must hold two or three positive sizes ((Z,) Y, X): expected "
            f"e.g. [64, 64], got {list(patch_size)!r}. Give one size per spatial axis."
        )
    sizes.flags.writeable = False
    return sizes


def check_shapes(
    data_shapes: Sequence[Sequence[int]],
    ndim: int,
    patch_size: Sequence[int] | None = None,
) -> Int64Array:
    """Return ``S C (Z) Y X`` image-stack shapes as an int64 array after checking them.

    Parameters
    ----------
    data_shapes : sequence of sequence of int
        One shape per image stack, axes ``S C (Z) Y X``.
    ndim : int
        The number of spatial axes (2 or 3) every shape must have.
    patch_size : sequence of int, optional
        The patch size, quoted in the error message.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_stacks, 2 + ndim)``, int64, read-only.

    Raises
    ------
    ValueError
        When a shape has another number of spatial axes than ``ndim`` (the
        reference's message) or a negative size.

    Examples
    --------
    >>> check_shapes([(2, 1, 64, 64), (1, 1, 43, 71)], 2).shape
    (2, 4)
    """
    shown = [int(p) for p in patch_size] if patch_size is not None else ndim
    rows = []
    for shape in data_shapes:
        spatial = tuple(int(s) for s in shape[2:])
        if len(shape) < 3 or len(spatial) != ndim:
            raise ValueError(
                f"Number of patch dimension {ndim}, do not match the number of "
                f"spatial dimensions {len(spatial)}, for `patch_size={shown}` and "
                f"`spatial_shape={spatial}`."
            )
        rows.append([int(s) for s in shape])
    array = np.array(rows, dtype=np.int64).reshape(len(rows), 2 + ndim)
    if (array < 0).any():
        raise ValueError(
            f"Image-stack shapes must not be negative: got {[tuple(r) for r in rows]}."
        )
    array.flags.writeable = False
    return array


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleLayout:
    """Every sample (one S index of one image stack) of a list of stacks, flattened.

    Attributes
    ----------
    shapes : numpy.ndarray
        The stack shapes, ``(n_stacks, 2 + ndim)``.
    data_idx : numpy.ndarray
        Stack index of each flat sample, ``(n_samples,)``.
    sample_idx : numpy.ndarray
        Index along S of each flat sample, ``(n_samples,)``.
    spatial : numpy.ndarray
        Spatial shape of each flat sample, ``(n_samples, ndim)``.
    stack_offsets : numpy.ndarray
        First flat sample of each stack, ``(n_stacks + 1,)``.
    """

    shapes: Int64Array
    data_idx: Int64Array
    sample_idx: Int64Array
    spatial: Int64Array
    stack_offsets: Int64Array

    @classmethod
    def from_shapes(cls, shapes: Int64Array) -> SampleLayout:
        """Lay out the samples of checked stack shapes.

        Parameters
        ----------
        shapes : numpy.ndarray
            Shapes from :func:`check_shapes`.

        Returns
        -------
        SampleLayout
            The flat samples, stack-major.

        Examples
        --------
        >>> layout = SampleLayout.from_shapes(check_shapes([(2, 1, 8, 8)], 2))
        >>> layout.sample_idx.tolist(), layout.n_samples
        ([0, 1], 2)
        """
        n_per_stack = shapes[:, 0]
        offsets = np.zeros(len(shapes) + 1, dtype=np.int64)
        np.cumsum(n_per_stack, out=offsets[1:])
        data_idx = np.repeat(np.arange(len(shapes), dtype=np.int64), n_per_stack)
        sample_idx = np.arange(offsets[-1], dtype=np.int64) - offsets[data_idx]
        spatial = shapes[data_idx, 2:]
        for array in (offsets, data_idx, sample_idx, spatial):
            array.flags.writeable = False
        return cls(
            shapes=shapes,
            data_idx=data_idx,
            sample_idx=sample_idx,
            spatial=spatial,
            stack_offsets=offsets,
        )

    @property
    def n_samples(self) -> int:
        """The number of flat samples."""
        return int(self.stack_offsets[-1])

    def flat_sample(self, data_idx: int, sample_idx: int) -> int:
        """Return the flat index of one sample.

        Parameters
        ----------
        data_idx : int
            The image stack.
        sample_idx : int
            The index along S of that stack.

        Returns
        -------
        int
            The flat sample index.

        Raises
        ------
        IndexError
            When the stack or sample does not exist.

        Examples
        --------
        >>> layout = SampleLayout.from_shapes(check_shapes([(2, 1, 8, 8)] * 2, 2))
        >>> layout.flat_sample(1, 1)
        3
        """
        n_stacks = len(self.shapes)
        if not 0 <= data_idx < n_stacks:
            raise IndexError(
                f"Image stack index out of range: expected 0 <= data_idx < "
                f"{n_stacks}, got {data_idx}."
            )
        n_samples = int(self.shapes[data_idx, 0])
        if not 0 <= sample_idx < n_samples:
            raise IndexError(
                f"Sample index out of range for image stack {data_idx}: expected "
                f"0 <= sample_idx < {n_samples}, got {sample_idx}."
            )
        return int(self.stack_offsets[data_idx]) + sample_idx
