"""What a task needs to read one image stack, and the reference's zero padding.

A :class:`StackSource` is the small picklable description of one image stack that a
batch task receives: the region reader of its source (when the stack came from a
loader unchanged), or its NumPy or Dask data. :func:`pad_patch` places the in-image
part of a patch into a zero patch, as the reference's ``pad_patch`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.loaders import reader_binding, reads_over_network

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt
    import xarray as xr

    from careamics_dask.loaders import ReaderBinding

__all__ = ["StackSource", "clip_box", "pad_patch"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StackSource:
    """What a task needs to read one image stack.

    Attributes
    ----------
    source : str
        The file, store or URL (for messages).
    shape : tuple of int
        The stack's canonical shape ``S C (Z) Y X``.
    dtype : str
        The pixels' dtype in the source.
    binding : ReaderBinding or None
        The source's region reader; regions are read through it when set.
    data : Any
        Otherwise the stack's NumPy or Dask array (``S C (Z) Y X``).
    """

    source: str
    shape: tuple[int, ...]
    dtype: str
    binding: ReaderBinding | None = None
    data: Any = None

    @classmethod
    def from_stack(cls, stack: xr.DataArray) -> StackSource:
        """Describe an image stack for tasks.

        Parameters
        ----------
        stack : xarray.DataArray
            A canonical image stack.

        Returns
        -------
        StackSource
            The reader binding when the stack is a loader's unchanged output, else
            its data.

        Examples
        --------
        >>> import numpy as np
        >>> from careamics_dask.loaders import open_image
        >>> source = StackSource.from_stack(open_image(np.zeros((2, 8, 8)), "SYX"))
        >>> source.shape, source.binding is None
        ((2, 1, 8, 8), True)
        """
        binding = reader_binding(stack)
        return cls(
            source=str(stack.attrs.get("source", stack.name)),
            shape=tuple(int(s) for s in stack.shape),
            dtype=str(stack.attrs.get("original_dtype", stack.dtype)),
            binding=binding,
            data=None if binding is not None else stack.data,
        )

    @property
    def over_network(self) -> bool:
        """Whether the stack is read from a remote store (reads wait on the network)."""
        return self.binding is not None and reads_over_network(self.binding.reader)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """The ``(Z,) Y, X`` shape."""
        return self.shape[2:]

    @property
    def n_channels(self) -> int:
        """The number of channels."""
        return self.shape[1]


def pad_patch(
    coords: Sequence[int],
    patch_size: Sequence[int],
    region: npt.NDArray[Any],
) -> npt.NDArray[np.float32]:
    """Place the in-image part of a patch into a zero patch (the reference's rule).

    Parameters
    ----------
    coords : Sequence[int]
        Patch start along ``(Z,) Y, X``; may be negative.
    patch_size : Sequence[int]
        Patch size.
    region : numpy.ndarray
        ``C (Z) Y X`` pixels of the patch clipped to the image.

    Returns
    -------
    numpy.ndarray
        ``C (Z) Y X`` float32 patch, zero where it leaves the image.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3)
    >>> pad_patch((-1, 0), (2, 2), image[:, 0:1, 0:2])[0].tolist()
    [[0.0, 0.0], [1.0, 2.0]]
    """
    out = np.zeros((region.shape[0], *patch_size), dtype=np.float32)
    offset = [max(0, -c) for c in coords]
    spatial = [slice(o, o + s) for o, s in zip(offset, region.shape[1:], strict=True)]
    target = (slice(None), *spatial)
    out[target] = region
    return out


def clip_box(
    coords: Sequence[int], patch_size: Sequence[int], spatial: Sequence[int]
) -> tuple[tuple[int, int], ...]:
    """Clip a patch to its image: ``(start, stop)`` per spatial axis.

    Parameters
    ----------
    coords : Sequence[int]
        Patch start along ``(Z,) Y, X``; may be negative.
    patch_size : Sequence[int]
        Patch size.
    spatial : Sequence[int]
        The image's spatial shape.

    Returns
    -------
    tuple of (int, int)
        The in-image bounds (``start == stop`` where the patch leaves the image).

    Examples
    --------
    >>> clip_box((-2, 5), (4, 4), (8, 8))
    ((0, 2), (5, 8))
    """
    return tuple(
        (min(max(c, 0), s), min(max(c + p, 0), s))
        for c, p, s in zip(coords, patch_size, spatial, strict=True)
    )
