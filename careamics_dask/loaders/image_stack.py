"""Loader for user image-stack loaders: arrays, DataArrays or ImageStack objects."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import dask.array as da
import numpy as np
import xarray as xr
from dask.base import tokenize

from careamics_dask.axes import REFERENCE_ORDER, AxesLayout
from careamics_dask.errors import AxesError, UnsupportedSourceError
from careamics_dask.loaders._base import Loader
from careamics_dask.loaders._labels import build_image_stack, describe_source
from careamics_dask.loaders._lazy import RegionReader, as_dask_array

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from careamics_dask.loaders.loading import ImageStackLoading

__all__ = ["ImageStack", "ImageStackLoader", "ImageStackRegionReader"]

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
            source=describe_source(stack.source),
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
    name = describe_source(stack.source)
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
        name = describe_source(source) if isinstance(source, str | Path) else "custom"
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
