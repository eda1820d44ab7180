"""Patch extractors: ordered image stacks with the reference's checks, and selection.

A :class:`PatchExtractor` is what the reference's name promises, rebuilt on Dask: an
ordered collection of labeled image stacks that must agree in spatial
dimensionality and channel count, with eager single-patch extraction for
``dataset[i]`` and the small picklable sources the batch tasks read from.
:class:`LimitFilesPatchExtractor` marks whole-file sources (plain TIFF strips read
whole, custom read functions): their blocks are decoded once per worker visit
through a byte-bounded cache and batches are grouped by file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from careamics_dask.config.support import SupportedData
from careamics_dask.graph.reading import PatchReader, StackSource
from careamics_dask.loaders.loading import ImageStackLoading, ReadFuncLoading
from careamics_dask.loaders.open import open_images

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    import numpy.typing as npt
    import xarray as xr

    from careamics_dask.loaders.loading import Loading

__all__ = [
    "ImageStackLoader",
    "LimitFilesPatchExtractor",
    "PatchExtractor",
    "init_patch_extractor",
    "select_image_stack_loader",
    "select_patch_extractor_type",
]

ImageStackLoader = Callable[[Any, str], list["xr.DataArray"]]
"""A callable ``(source, axes) -> list of image stacks``."""


class PatchExtractor:
    """Ordered image stacks that agree in dimensionality and channels.

    Parameters
    ----------
    image_stacks : Sequence[xarray.DataArray]
        Canonical image stacks (``S C (Z) Y X``); spatial sizes and S may differ.

    Raises
    ------
    ValueError
        When no stack is given, or stacks differ in spatial dimensionality or
        channel count (the reference's messages).

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.loaders import open_images
    >>> stacks = open_images([np.ones((8, 8)), np.ones((4, 6))], "YX")
    >>> extractor = PatchExtractor(stacks)
    >>> extractor.shapes
    [(1, 1, 8, 8), (1, 1, 4, 6)]
    >>> extractor.extract_patch(1, 0, (2, 4), (4, 4))[0].tolist()[1]
    [1.0, 1.0, 0.0, 0.0]
    """

    whole_files: ClassVar[bool] = False
    """Whether batches should be grouped by file (whole-file sources)."""

    def __init__(self, image_stacks: Sequence[xr.DataArray]) -> None:
        stacks = list(image_stacks)
        if not stacks:
            raise ValueError(
                "A PatchExtractor needs at least one image stack: expected a "
                "non-empty list, got none. Check that the data source holds images."
            )
        first = stacks[0]
        for index, stack in enumerate(stacks[1:], start=1):
            if stack.ndim != first.ndim:
                raise ValueError(
                    "All `ImageStack` objects in a `PatchExtractor` must have the same "
                    f"number of spatial dimensions. The first image stack is "
                    f"{first.ndim - 2}D but found a {stack.ndim - 2}D image stack at "
                    f"index {index}."
                )
            if stack.shape[1] != first.shape[1]:
                raise ValueError(
                    "All `ImageStack` objects in a `PatchExtractor` must have the same "
                    f"number of channels. The first image stack has {first.shape[1]} "
                    f"but found an image stack with {stack.shape[1]} at index {index}."
                )
        self.image_stacks = stacks
        self.sources = tuple(StackSource.from_stack(s) for s in stacks)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """The ``S C (Z) Y X`` shape of every stack."""
        return [tuple(int(v) for v in s.shape) for s in self.image_stacks]

    @property
    def n_channels(self) -> int:
        """The channel count shared by the stacks."""
        return int(self.image_stacks[0].shape[1])

    def check_channels(self, channels: Sequence[int] | None) -> None:
        """Check channel indices against the stacks (the reference's message).

        Parameters
        ----------
        channels : Sequence[int] or None
            Channel indices.

        Raises
        ------
        ValueError
            When an index is out of range.
        """
        for channel in channels or ():
            if channel > self.n_channels - 1:
                raise ValueError(
                    f"Channel index {channel} is out of bounds for data with "
                    f"{self.n_channels} channels. Check the provided `channels` "
                    "parameter in the configuration for erroneous channel indices."
                )

    def extract_channel_patch(
        self,
        data_idx: int,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> npt.NDArray[np.float32]:
        """Read one zero-padded float32 patch ``C (Z) Y X`` now.

        Parameters
        ----------
        data_idx : int
            The stack.
        sample_idx : int
            The sample along S.
        channels : Sequence[int] or None
            Channels to keep (all when None).
        coords : Sequence[int]
            Patch start along ``(Z,) Y, X``.
        patch_size : Sequence[int]
            Patch size.

        Returns
        -------
        numpy.ndarray
            The patch.
        """
        self.check_channels(channels)
        if len(coords) != len(patch_size):
            raise ValueError(
                "Patch coordinates and patch size must have the same dimensions but "
                f"found {len(coords)} ({coords}) and {len(patch_size)} ({patch_size})."
            )
        reader = PatchReader(self.sources, threads=1)
        return reader.patch(data_idx, sample_idx, coords, patch_size, channels)

    def extract_patch(
        self,
        data_idx: int,
        sample_idx: int,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> npt.NDArray[np.float32]:
        """Read one patch with all channels (see :meth:`extract_channel_patch`).

        Parameters
        ----------
        data_idx : int
            The stack.
        sample_idx : int
            The sample along S.
        coords : Sequence[int]
            Patch start.
        patch_size : Sequence[int]
            Patch size.

        Returns
        -------
        numpy.ndarray
            The patch.
        """
        return self.extract_channel_patch(
            data_idx, sample_idx, None, coords, patch_size
        )


class LimitFilesPatchExtractor(PatchExtractor):
    """Whole-file sources: blocks decoded once per worker visit, batches by file."""

    whole_files: ClassVar[bool] = True


def select_image_stack_loader(
    data_type: str | SupportedData, in_memory: bool, loading: Loading = None
) -> ImageStackLoader:
    """Select the loader callable for a data type and loading options.

    Parameters
    ----------
    data_type : str or SupportedData
        ``array``, ``tiff``, ``zarr``, ``czi`` or ``custom``.
    in_memory : bool
        Read pixels into memory now (arrays always are).
    loading : ReadFuncLoading or ImageStackLoading or None
        Required for ``custom``.

    Returns
    -------
    Callable
        ``loader(source, axes) -> list of image stacks``.

    Raises
    ------
    ValueError
        For ``custom`` without a loading specification.
    NotImplementedError
        For an unknown data type.

    Examples
    --------
    >>> import numpy as np
    >>> loader = select_image_stack_loader("array", in_memory=True)
    >>> loader([np.zeros((4, 4))], "YX")[0].shape
    (1, 1, 4, 4)
    """
    try:
        kind = SupportedData(data_type)
    except ValueError:
        raise NotImplementedError(
            f"Selecting an image stack for data type '{data_type}' has not been "
            "implemented yet."
        ) from None
    if kind == SupportedData.CUSTOM and not isinstance(
        loading, ReadFuncLoading | ImageStackLoading
    ):
        raise ValueError(
            "Found `data_type='custom'`, a custom read function or a custom image "
            "stack loader must be provided."
        )
    return functools.partial(
        _load,
        data_type=kind.value,
        in_memory=in_memory and kind != SupportedData.ARRAY,
        loading=loading if kind == SupportedData.CUSTOM else None,
    )


def _load(
    source: Any, axes: str, *, data_type: str, in_memory: bool, loading: Loading
) -> list[xr.DataArray]:
    return open_images(source, axes, data_type, in_memory=in_memory, loading=loading)


def select_patch_extractor_type(
    data_type: str | SupportedData, in_memory: bool
) -> type[PatchExtractor]:
    """Pick the extractor: whole-file sources get :class:`LimitFilesPatchExtractor`.

    Parameters
    ----------
    data_type : str or SupportedData
        The data type.
    in_memory : bool
        Whether the data is held in memory.

    Returns
    -------
    type[PatchExtractor]
        ``LimitFilesPatchExtractor`` for lazy TIFF and custom data, else
        ``PatchExtractor`` (the reference's rule).

    Examples
    --------
    >>> select_patch_extractor_type("tiff", in_memory=False).__name__
    'LimitFilesPatchExtractor'
    """
    kind = SupportedData(data_type)
    if not in_memory and kind in (SupportedData.TIFF, SupportedData.CUSTOM):
        return LimitFilesPatchExtractor
    return PatchExtractor


def init_patch_extractor(
    patch_extractor: type[PatchExtractor],
    image_stack_loader: ImageStackLoader,
    source: Any,
    axes: str,
) -> PatchExtractor:
    """Build a patch extractor by loading the image stacks of a source.

    Parameters
    ----------
    patch_extractor : type[PatchExtractor]
        The extractor class.
    image_stack_loader : Callable
        ``loader(source, axes) -> list of image stacks``.
    source : Any
        The data source.
    axes : str
        The source's axes.

    Returns
    -------
    PatchExtractor
        The extractor over the loaded stacks.
    """
    return patch_extractor(image_stack_loader(source, axes))
