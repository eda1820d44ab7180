"""Loaders for custom data: a read function per file, or a user image-stack loader."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import dask.array as da
import numpy as np
import xarray as xr
from dask.base import compute, tokenize
from dask.delayed import delayed

from careamics_dask.axes import REFERENCE_ORDER, AxesLayout
from careamics_dask.errors import (
    AxesError,
    SourceReadError,
    UnsupportedSourceError,
)
from careamics_dask.loaders._base import Loader
from careamics_dask.loaders._labels import build_image_stack
from careamics_dask.loaders._lazy import RegionReader, as_dask_array

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import numpy.typing as npt

    from careamics_dask.loaders.loading import ImageStackLoading, ReadFuncLoading

__all__ = [
    "ImageStack",
    "ImageStackLoader",
    "ImageStackRegionReader",
    "ReadFuncLoader",
    "probe_file",
    "read_file",
]

logger = logging.getLogger(__name__)

_STANDARD_ATTRS = frozenset(
    {
        "source",
        "array",
        "original_axes",
        "original_shape",
        "original_dtype",
        "pixel_sizes",
        "pixel_unit",
    }
)


def _describe(item: Any) -> str:
    """Name a source item for labels and messages."""
    if isinstance(item, str | os.PathLike):
        return os.fspath(item)
    if isinstance(item, np.ndarray | da.Array):
        return "array"
    return type(item).__name__


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
        name = _describe(source)
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


@runtime_checkable
class ImageStack(Protocol):
    """The reference's image stack protocol, as custom loaders may return it.

    ``data_shape`` is ``S C (Z) Y X``; ``extract_patch`` returns ``C (Z) Y X``
    pixels of one sample. Optional attributes ``original_axes``,
    ``original_data_shape`` (the source's own layout) and ``chunks`` (the
    storage chunk, spatial or in the original axes) are used when present.
    """

    @property
    def source(self) -> Any:
        """The file, store or ``"array"`` the stack reads."""

    @property
    def data_shape(self) -> Sequence[int]:
        """The shape in ``S C (Z) Y X`` order."""

    @property
    def data_dtype(self) -> npt.DTypeLike:
        """The dtype of the original data."""

    def extract_patch(
        self,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> npt.NDArray[Any]:
        """Read one patch of one sample, ``C (Z) Y X``."""


def _spatial_chunks(stack: ImageStack, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Return the stack's spatial storage chunk, else the whole extent."""
    spatial = shape[2:]
    chunks = getattr(stack, "chunks", None)
    if chunks is None:
        return spatial
    chunks = tuple(int(c) for c in chunks)
    if len(chunks) == len(spatial):
        return chunks
    axes = str(getattr(stack, "original_axes", "") or "").upper()
    letters = [a for a in "ZYX" if a in axes]
    if len(chunks) == len(axes) and len(letters) == len(spatial):
        return tuple(chunks[axes.index(a)] for a in letters)
    return spatial


class ImageStackRegionReader(RegionReader):
    """Reads regions of an ``ImageStack``-protocol object through ``extract_patch``.

    A region (samples x channels x spatial box) is read with one
    ``extract_patch`` call per sample. The object travels with the reader, so it
    must pickle; it should be a small descriptor (a path, a store), not a large
    in-memory array, because every task carries it.

    Parameters
    ----------
    stack : ImageStack
        The object to read.
    token : str
        A deterministic token of the object's state (for Dask key names).
    """

    def __init__(self, stack: ImageStack, *, token: str) -> None:
        shape = tuple(int(s) for s in stack.data_shape)
        super().__init__(
            source=_describe(stack.source),
            array="",
            shape=shape,
            dtype=stack.data_dtype,
            chunks=(1, shape[1], *_spatial_chunks(stack, shape)),
        )
        self.stack = stack
        self.token = token

    def read(self, region: tuple[slice, ...]) -> npt.NDArray[Any]:
        """Read one region sample by sample through ``extract_patch``.

        Parameters
        ----------
        region : tuple of slice
            ``S``, ``C`` and spatial slices with explicit bounds.

        Returns
        -------
        numpy.ndarray
            The region, ``S C (Z) Y X``.

        Raises
        ------
        ValueError
            When ``extract_patch`` returns another shape than asked for.
        """
        samples, channel_slice, *spatial = region
        out_shape = tuple(s.stop - s.start for s in region)
        out = np.empty(out_shape, dtype=self.dtype)
        if out.size == 0:
            return out
        channels = list(range(channel_slice.start, channel_slice.stop))
        coords = [s.start for s in spatial]
        sizes = [s.stop - s.start for s in spatial]
        for index, sample in enumerate(range(samples.start, samples.stop)):
            patch = np.asarray(
                self.stack.extract_patch(
                    sample_idx=sample,
                    channels=channels,
                    coords=coords,
                    patch_size=sizes,
                )
            )
            if patch.shape != out_shape[1:]:
                raise ValueError(
                    f"extract_patch(sample_idx={sample}, channels={channels}, "
                    f"coords={coords}, patch_size={sizes}) returned shape "
                    f"{patch.shape}, expected {out_shape[1:]}"
                )
            out[index] = patch
        return out

    def __dask_tokenize__(self) -> object:
        return (super().__dask_tokenize__(), self.token)


def _original_attrs(stack: ImageStack, shape: tuple[int, ...]) -> dict[str, Any]:
    """Return the stack's own axes and shape, when they agree with its data."""
    axes = getattr(stack, "original_axes", None)
    original = getattr(stack, "original_data_shape", None)
    if not axes or not original:
        return {}
    try:
        layout = AxesLayout.from_source(str(axes), tuple(original))
    except AxesError:
        return {}
    if layout.canonical_shape != shape:
        return {}
    return {"original_axes": layout.axes, "original_shape": layout.shape}


def _open_protocol_stack(
    stack: ImageStack, index: int, *, in_memory: bool
) -> xr.DataArray:
    """Wrap an ``ImageStack``-protocol object as a lazy labeled stack."""
    name = _describe(stack.source)
    shape = tuple(int(s) for s in stack.data_shape)
    if len(shape) not in (4, 5):
        raise AxesError(
            f"Image stack {index} ({type(stack).__name__}, source {name!r}) has "
            f"data_shape {shape}: expected 4 (S C Y X) or 5 (S C Z Y X) "
            "dimensions. Return data_shape in S C (Z) Y X order."
        )
    try:
        payload = pickle.dumps(stack)
    except Exception as exc:
        raise UnsupportedSourceError(
            f"Image stack {index} ({type(stack).__name__}, source {name!r}) cannot "
            f"be pickled: {type(exc).__name__}: {exc}. Objects following the "
            "ImageStack protocol are sent to Dask workers and must pickle: hold "
            "paths rather than open files (drop handles in __getstate__), and "
            "define the class at module level.",
            source=name,
        ) from exc
    reader = ImageStackRegionReader(
        stack, token=tokenize(type(stack).__qualname__, payload)
    )
    data: Any = as_dask_array(reader)
    if in_memory:
        data = reader[tuple(slice(0, s) for s in shape)]
    axes = "SCZYX" if len(shape) == 5 else "SCYX"
    return build_image_stack(
        data, axes, source=name, attrs=_original_attrs(stack, shape)
    )


def _open_data_array(
    item: xr.DataArray, index: int, *, source: str, in_memory: bool
) -> xr.DataArray:
    """Label a DataArray whose dims are axis letters."""
    dims = "".join(str(d) for d in item.dims)
    if len(dims) != item.ndim or not set(dims) <= set(REFERENCE_ORDER):
        raise AxesError(
            f"Image stack {index} returned for {source!r} has dims {item.dims}: "
            "expected one letter of STCZYX per dim, e.g. ('S', 'C', 'Y', 'X'). "
            "Rename the dims, or return the underlying array."
        )
    channel_names = None
    if "C" in item.coords:
        channel_names = [str(c) for c in item.coords["C"].values]
    own_source = item.attrs.get("source")
    data: Any = item.data
    if in_memory and isinstance(data, da.Array):
        data = data.compute()
    return build_image_stack(
        data,
        dims,
        source=own_source if isinstance(own_source, str) and own_source else source,
        array=str(item.attrs.get("array", "")),
        channel_names=channel_names,
        pixel_sizes=item.attrs.get("pixel_sizes"),
        pixel_unit=item.attrs.get("pixel_unit"),
        attrs={k: v for k, v in item.attrs.items() if k not in _STANDARD_ATTRS},
    )


def _as_items(result: Any, source: str) -> list[Any]:
    """Turn what a user loader returned into a list of stacks."""
    if isinstance(result, np.ndarray | da.Array | xr.DataArray | ImageStack):
        return [result]
    try:
        return list(result)
    except TypeError:
        raise UnsupportedSourceError(
            f"The image stack loader returned {type(result).__name__} for "
            f"{source!r}: expected a sequence of image stacks. Return a list.",
            source=source,
        ) from None


class ImageStackLoader(Loader):
    """Open sources through a user image-stack loader.

    The loader is called as ``image_stack_loader(source, axes, **kwargs)`` and
    may return, per image stack:

    - an ``xarray.DataArray`` whose dims are letters of ``STCZYX`` (canonical
      ``S C (Z) Y X`` or any order, which is reordered);
    - a Dask or NumPy array in the layout ``axes`` describes;
    - an object following the reference's ``ImageStack`` protocol
      (``data_shape`` in ``S C (Z) Y X``, ``data_dtype``, ``source``,
      ``extract_patch``), read lazily region by region through
      ``extract_patch``. Such an object must pickle, because it travels with
      every task; a clear error is raised at open time when it does not.

    Parameters
    ----------
    loading : ImageStackLoading
        The user loader and its keyword arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.loaders.loading import ImageStackLoading
    >>> def load(source, axes):
    ...     return [np.zeros((4, 16, 16), "uint8") for _ in source]
    >>> loader = ImageStackLoader(ImageStackLoading(load))
    >>> [s.shape for s in loader.open(["a", "b"], "SYX")]
    [(4, 1, 16, 16), (4, 1, 16, 16)]
    """

    name: ClassVar[str] = "custom"
    description: ClassVar[str] = "image stacks returned by a user loader"

    def __init__(self, loading: ImageStackLoading) -> None:
        self.loading = loading

    def open(
        self, source: Any, axes: str, *, in_memory: bool = False, **kwargs: Any
    ) -> list[xr.DataArray]:
        """Call the user loader and label every stack it returns.

        Parameters
        ----------
        source : Any
            Passed to the user loader unchanged.
        axes : str
            Passed to the user loader, and the axes of returned plain arrays.
        in_memory : bool, default False
            Read lazy stacks into NumPy now.
        **kwargs : Any
            Further keyword arguments for the user loader (after
            ``image_stack_loader_kwargs``).

        Returns
        -------
        list of xarray.DataArray
            One image stack per returned item, in order.

        Raises
        ------
        UnsupportedSourceError
            When an item is of an unknown kind, or a protocol object does not
            pickle.
        AxesError
            When axes or dims do not describe an item.
        """
        call_kwargs = {**(self.loading.image_stack_loader_kwargs or {}), **kwargs}
        name = _describe(source) if isinstance(source, str | Path) else "custom"
        result = self.loading.image_stack_loader(source, axes, **call_kwargs)
        stacks = []
        for index, item in enumerate(_as_items(result, name)):
            if isinstance(item, xr.DataArray):
                stack = _open_data_array(item, index, source=name, in_memory=in_memory)
            elif isinstance(item, np.ndarray | da.Array):
                data = (
                    item.compute() if in_memory and isinstance(item, da.Array) else item
                )
                stack = build_image_stack(data, axes, source=name)
            elif isinstance(item, ImageStack):
                stack = _open_protocol_stack(item, index, in_memory=in_memory)
            else:
                raise UnsupportedSourceError(
                    f"Image stack {index} returned by the image stack loader for "
                    f"{name!r} is a {type(item).__name__}: expected an "
                    "xarray.DataArray, a NumPy or Dask array, or an object with "
                    "data_shape, data_dtype, source and extract_patch.",
                    source=name,
                )
            stacks.append(stack)
        return stacks
