"""The reference's loading specifications for custom data (``data_type="custom"``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ImageStackLoading", "Loading", "ReadFuncLoading"]


@dataclass(frozen=True)
class ReadFuncLoading:
    """Loading through a function that reads one whole file into a NumPy array.

    Each file becomes one lazy task: the function runs on a worker when pixels are
    needed (and once per file at open time, on the cluster, to learn the shape).

    Attributes
    ----------
    read_source_func : Callable
        ``read_source_func(path, **read_kwargs) -> numpy.ndarray``.
    read_kwargs : dict, optional
        Extra keyword arguments for the function.
    extension_filter : str, default ""
        Glob pattern selecting files in a directory, e.g. ``"*.npy"``; empty means
        ``"*.*"``.
    """

    read_source_func: Callable[..., Any]
    read_kwargs: dict[str, Any] | None = None
    extension_filter: str = ""


@dataclass(frozen=True)
class ImageStackLoading:
    """Loading through a user function that returns image stacks for a source.

    The loader is called as ``image_stack_loader(source, axes,
    **image_stack_loader_kwargs)`` and may return DataArrays, Dask or NumPy arrays,
    or objects following the reference's ``ImageStack`` protocol (``data_shape``,
    ``data_dtype``, ``extract_patch``), which are read region by region.

    Attributes
    ----------
    image_stack_loader : Callable
        The user loader.
    image_stack_loader_kwargs : dict, optional
        Extra keyword arguments for it.
    """

    image_stack_loader: Callable[..., Any]
    image_stack_loader_kwargs: dict[str, Any] | None = None


Loading: TypeAlias = ReadFuncLoading | ImageStackLoading | None
"""The loading specification for custom data, or None for built-in data types."""
