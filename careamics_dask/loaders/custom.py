"""Loader for custom files read whole by a user function, one lazy task per file."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, ClassVar

import dask.array as da
import numpy as np
from dask.base import compute, tokenize
from dask.delayed import delayed

from careamics_dask.errors import (
    SourceReadError,
)
from careamics_dask.loaders._base import Loader
from careamics_dask.loaders._labels import build_image_stack, describe_source

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import numpy.typing as npt
    import xarray as xr

    from careamics_dask.loaders.loading import ReadFuncLoading

__all__ = ["ReadFuncLoader", "probe_file", "read_file"]

logger = logging.getLogger(__name__)


def read_file(
    item: Any,
    read_func: Callable[..., Any],
    read_kwargs: Mapping[str, Any],
    *,
    source: str,
    shape: tuple[int, ...] | None = None,
    dtype: str | None = None,
) -> npt.NDArray[Any]:
    """Run a user read function on one file: the task behind each custom file.

    Parameters
    ----------
    item : Any
        The file path (or any other item the read function accepts).
    read_func : Callable
        ``read_func(item, **read_kwargs) -> array``.
    read_kwargs : Mapping[str, Any]
        Keyword arguments for the read function.
    source : str
        The item's name, for error messages.
    shape : tuple of int, optional
        The shape learned when the file was opened; the result must match it.
    dtype : str, optional
        The dtype learned when the file was opened; the result must match it.

    Returns
    -------
    numpy.ndarray
        The file's pixels.

    Raises
    ------
    SourceReadError
        When the read function raises, or returns another shape or dtype than
        at open time.

    Examples
    --------
    >>> import numpy as np
    >>> read_file([[1, 2]], np.asarray, {}, source="list").shape
    (1, 2)
    >>> read_file([[1, 2]], np.asarray, {}, source="list", shape=(2,))
    Traceback (most recent call last):
    ...
    careamics_dask.errors.SourceReadError: The read function returned shape (1, 2) ...
    """
    try:
        data = np.asarray(read_func(item, **read_kwargs))
    except SourceReadError:
        raise
    except Exception as exc:
        name = getattr(read_func, "__name__", repr(read_func))
        raise SourceReadError(
            f"The read function {name!r} failed on {source!r}: "
            f"{type(exc).__name__}: {exc}. Check that the file is readable by that "
            "function and that read_kwargs are right.",
            source=source,
            array="",
            region="[all]",
        ) from exc
    if (shape is not None and data.shape != tuple(shape)) or (
        dtype is not None and data.dtype != np.dtype(dtype)
    ):
        raise SourceReadError(
            f"The read function returned shape {data.shape} and dtype {data.dtype} "
            f"for {source!r}, expected shape {shape} and dtype {dtype} as when it "
            "was opened. The file changed since it was opened, or the read "
            "function is not deterministic; reopen the data.",
            source=source,
            array="",
            region="[all]",
        )
    return data


def probe_file(
    item: Any,
    read_func: Callable[..., Any],
    read_kwargs: Mapping[str, Any],
    *,
    source: str,
) -> tuple[tuple[int, ...], str]:
    """Read one file and return only its shape and dtype (runs on a worker).

    Parameters
    ----------
    item : Any
        The file path (or other item).
    read_func : Callable
        The user read function.
    read_kwargs : Mapping[str, Any]
        Its keyword arguments.
    source : str
        The item's name, for error messages.

    Returns
    -------
    tuple
        ``(shape, dtype string)``: all that travels back to the client.

    Raises
    ------
    SourceReadError
        When the read function fails.

    Examples
    --------
    >>> import numpy as np
    >>> probe_file(np.zeros((2, 3), "uint8"), np.asarray, {}, source="array")
    ((2, 3), '|u1')
    """
    data = read_file(item, read_func, read_kwargs, source=source)
    return tuple(int(s) for s in data.shape), data.dtype.str


def _file_identity(item: Any) -> object:
    """Return what makes a file's lazy array stale: path, mtime and size."""
    if isinstance(item, str | os.PathLike):
        try:
            stat = os.stat(item)
        except OSError:
            return os.fspath(item)
        return (os.fspath(item), stat.st_mtime_ns, stat.st_size)
    return item


class ReadFuncLoader(Loader):
    """Open files through a user read function, one Dask task per file.

    A read function has no metadata-only path, yet the shape and dtype of every
    lazy array must be known when it is opened. So opening runs the read function
    once per file inside ``dask.compute`` of a small ``probe_file`` task that
    returns only ``(shape, dtype)``: on a cluster the file is read on a worker and
    only that tuple reaches the client. Computing the data later runs the function
    again, in one ``read_file`` task per file whose single chunk is the whole
    file. With ``in_memory=True`` the function runs once, in this process, and
    the result stays a NumPy array.

    The read function (and its keyword arguments) must pickle with cloudpickle
    to run on a cluster. Items that are not paths (arrays, for example) are
    passed to it unchanged, as the reference allows.

    Parameters
    ----------
    loading : ReadFuncLoading
        The read function, its keyword arguments and the extension filter.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.loaders.loading import ReadFuncLoading
    >>> loader = ReadFuncLoader(ReadFuncLoading(np.asarray))
    >>> [stack] = loader.open(np.ones((2, 8, 8), "uint8"), "SYX")
    >>> stack.shape, stack.data.chunksize
    ((2, 1, 8, 8), (2, 1, 8, 8))
    """

    name: ClassVar[str] = "custom"
    description: ClassVar[str] = "files read whole by a user read function"

    def __init__(self, loading: ReadFuncLoading) -> None:
        self.loading = loading

    def open(
        self, source: Any, axes: str, *, in_memory: bool = False, **kwargs: Any
    ) -> list[xr.DataArray]:
        """Open one file through the read function.

        Parameters
        ----------
        source : Any
            A file path, or any item the read function accepts.
        axes : str
            The axes of the array the read function returns.
        in_memory : bool, default False
            Read the file now, in this process, and keep a NumPy array.
        **kwargs : Any
            Not used; accepted so every loader takes the same call.

        Returns
        -------
        list of xarray.DataArray
            One image stack, a single Dask chunk unless ``in_memory``.

        Raises
        ------
        SourceReadError
            When the read function fails on the file (at open time, through
            the probe).
        AxesError
            When the axes do not match the returned array.
        UnsupportedDtypeError
            When the returned array is not real-valued.
        """
        func = self.loading.read_source_func
        read_kwargs = dict(self.loading.read_kwargs or {})
        name = describe_source(source)
        if in_memory:
            data = read_file(source, func, read_kwargs, source=name)
            return [build_image_stack(data, axes, source=name)]
        token = tokenize(_file_identity(source), func, read_kwargs)
        probe = delayed(probe_file, pure=True)(
            source,
            func,
            read_kwargs,
            source=name,
            dask_key_name=f"probe_file-{token}",
        )
        ((shape, dtype),) = compute(probe)
        logger.debug("probed %s: shape %s, dtype %s", name, shape, dtype)
        value = delayed(read_file, pure=True)(
            source,
            func,
            read_kwargs,
            source=name,
            shape=shape,
            dtype=dtype,
            dask_key_name=f"read_file-{token}",
        )
        data = da.from_delayed(
            value,
            shape=shape,
            dtype=np.dtype(dtype),
            meta=np.empty((0,) * len(shape), dtype=np.dtype(dtype)),
            name=f"careamics-open-{token}",
        )
        return [build_image_stack(data, axes, source=name)]
