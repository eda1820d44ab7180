"""Open any source as image stacks: the entry point of notebooks and the factory."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from careamics_dask.errors import UnsupportedSourceError
from careamics_dask.loaders.loading import ImageStackLoading, ReadFuncLoading
from careamics_dask.loaders.registry import get_loader, guess_loader
from careamics_dask.loaders.sources import expand_sources

if TYPE_CHECKING:
    import xarray as xr

    from careamics_dask.loaders._base import Loader
    from careamics_dask.loaders.loading import Loading

__all__ = ["open_image", "open_images", "resolve_loader"]

logger = logging.getLogger(__name__)


def resolve_loader(data_type: str, loading: Loading = None) -> Loader:
    """Pick the loader for a data type and custom loading specification.

    Parameters
    ----------
    data_type : str
        ``"array"``, ``"tiff"``, ``"zarr"``, ``"czi"``, ``"custom"`` or a plugin
        name.
    loading : ReadFuncLoading or ImageStackLoading or None
        Required for ``"custom"``.

    Returns
    -------
    Loader
        The loader instance.

    Raises
    ------
    ValueError
        For ``"custom"`` without a loading specification, or an unknown name.

    Examples
    --------
    >>> type(resolve_loader("array")).__name__
    'ArrayLoader'
    """
    if data_type == "custom":
        if not isinstance(loading, ReadFuncLoading | ImageStackLoading):
            raise ValueError(
                "Found `data_type='custom'`, a custom read function or a custom "
                "image stack loader must be provided. Pass "
                "loading=ReadFuncLoading(...) or loading=ImageStackLoading(...)."
            )
        if isinstance(loading, ReadFuncLoading):
            from careamics_dask.loaders.custom import ReadFuncLoader

            return ReadFuncLoader(loading)
        from careamics_dask.loaders.image_stack import ImageStackLoader

        return ImageStackLoader(loading)
    return get_loader(data_type)


def open_images(
    source: Any,
    axes: str,
    data_type: str | None = None,
    *,
    in_memory: bool = False,
    loading: Loading = None,
    **kwargs: Any,
) -> list[xr.DataArray]:
    """Open every image stack a source argument stands for, reading metadata only.

    Parameters
    ----------
    source : Any
        An array, a path, a folder, a URI, a reader object, or a list of them.
    axes : str
        The axes of the source's arrays, e.g. ``"SYX"`` or ``"TCZYX"``.
    data_type : str, optional
        The loader to use; guessed from the first source item when omitted.
    in_memory : bool, default False
        Read the pixels now and keep them as NumPy arrays.
    loading : ReadFuncLoading or ImageStackLoading or None
        The custom loading specification (``data_type="custom"``).
    **kwargs : Any
        Loader-specific options.

    Returns
    -------
    list of xarray.DataArray
        Image stacks with dims ``("S","C",["Z",]"Y","X")``, in source order.

    Raises
    ------
    FileNotFoundError
        When a path does not exist.
    ValueError
        When the axes or the source kind are invalid.

    Examples
    --------
    >>> import numpy as np
    >>> stacks = open_images([np.zeros((8, 8)), np.ones((2, 8, 8))], "YX")
    Traceback (most recent call last):
    ...
    careamics_dask.errors.AxesError: Axes 'YX' have 2 letters but the data for source 'array' has 3 dimensions (shape (2, 8, 8)). Expected one letter per dimension; pass axes with 3 letters from STCZYX that describe the shape, e.g. 'SYX'.
    >>> [s.shape for s in open_images([np.zeros((8, 8)), np.ones((4, 4))], "YX")]
    [(1, 1, 8, 8), (1, 1, 4, 4)]
    """  # noqa: E501
    if data_type is None:
        if loading is not None:
            data_type = "custom"
        else:
            first = source[0] if isinstance(source, list | tuple) and source else source
            data_type = guess_loader(first)
        logger.debug("guessed data type %r", data_type)
    loader = resolve_loader(data_type, loading)
    if isinstance(loading, ImageStackLoading):
        items = [source]
    else:
        pattern = (
            loading.extension_filter if isinstance(loading, ReadFuncLoading) else None
        )
        items = expand_sources(data_type, source, extension_filter=pattern or None)
    stacks: list[xr.DataArray] = []
    for item in items:
        stacks.extend(loader.open(item, axes, in_memory=in_memory, **kwargs))
    return stacks


def open_image(
    source: Any,
    axes: str,
    data_type: str | None = None,
    *,
    in_memory: bool = False,
    loading: Loading = None,
    **kwargs: Any,
) -> xr.DataArray:
    """Open a source that holds exactly one image stack.

    Parameters
    ----------
    source : Any
        An array, a file, a store or array URI, a reader object.
    axes : str
        The source's axes.
    data_type : str, optional
        The loader to use; guessed when omitted.
    in_memory : bool, default False
        Read the pixels now.
    loading : ReadFuncLoading or ImageStackLoading or None
        Custom loading specification.
    **kwargs : Any
        Loader-specific options.

    Returns
    -------
    xarray.DataArray
        The image stack, lazy unless ``in_memory``.

    Raises
    ------
    ValueError
        When the source holds no stack or several (use :func:`open_images`).

    Examples
    --------
    >>> import numpy as np
    >>> open_image(np.zeros((3, 16, 16, 2)), "ZYXC").dims
    ('S', 'C', 'Z', 'Y', 'X')
    """
    stacks = open_images(
        source, axes, data_type, in_memory=in_memory, loading=loading, **kwargs
    )
    if len(stacks) != 1:
        names = [s.name for s in stacks]
        raise UnsupportedSourceError(
            f"open_image expected one image stack in {source!r}, found "
            f"{len(stacks)} ({names[:5]}). Use open_images() to open them all, or "
            "point at one array or scene.",
            source=str(source),
        )
    return stacks[0]
