"""Turn a lazy array plus its axes and metadata into a labeled image stack.

Every loader ends here: :func:`build_image_stack` validates the axes and dtype,
reorders to ``S C (Z) Y X`` without computing, and attaches the ``C`` coordinate and
the attributes the rest of the pipeline relies on (``source``, ``array``,
``original_axes``, ``original_shape``, ``original_dtype``, and ``pixel_sizes`` /
``pixel_unit`` where the source records them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
import xarray as xr

from careamics_dask.axes import AxesLayout, canonical_dims, to_canonical
from careamics_dask.errors import AxesError, UnsupportedDtypeError
from careamics_dask.loaders._lazy import RegionReader, reader_of

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt

__all__ = [
    "READER_ENCODING",
    "ReaderBinding",
    "build_image_stack",
    "check_dtype",
    "describe_source",
    "reader_binding",
]

READER_ENCODING = "careamics_dask_reader"
"""Key of the :class:`ReaderBinding` in an image stack's ``encoding``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReaderBinding:
    """Ties an image stack to the region reader of its source.

    Batch tasks read regions straight from the reader (one storage chunk once per
    batch) instead of slicing the stack's Dask graph.

    Attributes
    ----------
    reader : RegionReader
        The picklable reader, in the source's own axes.
    axes : str
        The source's axes.
    shape : tuple of int
        The source's shape.
    canonical_name : str
        The Dask name of the labeled ``S C (Z) Y X`` array the binding is valid for.
    """

    reader: RegionReader
    axes: str
    shape: tuple[int, ...]
    canonical_name: str


def reader_binding(stack: xr.DataArray) -> ReaderBinding | None:
    """Return the reader binding of an unchanged image stack, if it has one.

    Parameters
    ----------
    stack : xarray.DataArray
        An image stack made by a loader.

    Returns
    -------
    ReaderBinding or None
        None when the stack was not made from a region reader, or when its data
        changed since (sliced, rechunked, computed).
    """
    binding = stack.encoding.get(READER_ENCODING)
    if not isinstance(binding, ReaderBinding):
        return None
    if getattr(stack.data, "name", None) != binding.canonical_name:
        return None
    return binding


_ACCEPTED_KINDS = "biuf"


def describe_source(item: Any) -> str:
    """Name a source item for labels and messages.

    Parameters
    ----------
    item : Any
        A path, an array or any other source object.

    Returns
    -------
    str
        The path, ``"array"`` for arrays, or the object's type name.

    Examples
    --------
    >>> describe_source("a/b.tif"), describe_source(3)
    ('a/b.tif', 'int')
    """
    if isinstance(item, str | os.PathLike):
        return os.fspath(item)
    if isinstance(item, np.ndarray | da.Array):
        return "array"
    return type(item).__name__


def check_dtype(dtype: npt.DTypeLike, *, source: str) -> np.dtype[Any]:
    """Check that a dtype holds real-valued pixels.

    Parameters
    ----------
    dtype : numpy.typing.DTypeLike
        The dtype of the source.
    source : str
        The source, for the error message.

    Returns
    -------
    numpy.dtype
        The dtype.

    Raises
    ------
    UnsupportedDtypeError
        For complex, object, string, structured or datetime data.

    Examples
    --------
    >>> check_dtype("uint16", source="a.tif")
    dtype('uint16')
    """
    resolved = np.dtype(dtype)
    if resolved.kind not in _ACCEPTED_KINDS:
        raise UnsupportedDtypeError(
            f"Unsupported pixel dtype in {source!r}: expected booleans, integers or "
            f"real floats (numpy kinds 'b', 'i', 'u', 'f'), got {resolved} "
            f"(kind {resolved.kind!r}). Convert the data to a real-valued dtype "
            "first, e.g. take np.abs() of complex data.",
            source=source,
        )
    return resolved


def build_image_stack(
    data: Any,
    axes: str,
    *,
    source: str,
    array: str = "",
    channel_names: Sequence[str] | None = None,
    pixel_sizes: Mapping[str, float] | None = None,
    pixel_unit: str | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Label a NumPy or Dask array as an image stack ``S C (Z) Y X``.

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array
        The pixels in the source's own layout.
    axes : str
        The source's axes, one letter of ``STCZYX`` per dimension.
    source : str
        The file, store or URL (``"array"`` for in-memory data).
    array : str, default ""
        The array, series or scene inside the source.
    channel_names : Sequence[str], optional
        One name per channel; without names the coordinate holds ``0..C-1``.
    pixel_sizes : Mapping[str, float], optional
        Physical pixel sizes keyed by ``"Z"``, ``"Y"``, ``"X"``.
    pixel_unit : str, optional
        The unit of the pixel sizes, e.g. ``"micrometer"``.
    attrs : Mapping[str, Any], optional
        Further attributes to keep.

    Returns
    -------
    xarray.DataArray
        Dims ``("S","C","Y","X")`` or ``("S","C","Z","Y","X")``.

    Raises
    ------
    AxesError
        When the axes are invalid or do not match the data, or when the channel
        names do not match the channel count.
    UnsupportedDtypeError
        When the data is not real-valued.

    Examples
    --------
    >>> import numpy as np
    >>> stack = build_image_stack(np.zeros((3, 8, 8), "uint8"), "TYX", source="array")
    >>> stack.dims, stack.shape, stack.attrs["original_axes"]
    (('S', 'C', 'Y', 'X'), (3, 1, 8, 8), 'TYX')
    """
    check_dtype(data.dtype, source=source)
    layout = AxesLayout.from_source(axes, data.shape, source=source)
    canonical = to_canonical(data, layout.axes)
    n_channels = canonical.shape[1]
    coords: list[Any]
    if channel_names is not None:
        coords = [str(name) for name in channel_names]
        if len(coords) != n_channels:
            raise AxesError(
                f"Channel names of {source!r} do not match its channels: expected "
                f"{n_channels} names, got {len(coords)} ({coords!r})."
            )
    else:
        coords = list(range(n_channels))
    merged_attrs: dict[str, Any] = {
        "source": source,
        "array": array,
        "original_axes": layout.axes,
        "original_shape": layout.shape,
        "original_dtype": str(np.dtype(data.dtype)),
    }
    if pixel_sizes:
        merged_attrs["pixel_sizes"] = {k: float(v) for k, v in pixel_sizes.items()}
    if pixel_unit:
        merged_attrs["pixel_unit"] = pixel_unit
    if attrs:
        merged_attrs.update(attrs)
    name = f"{source}/{array}" if array else source
    stack = xr.DataArray(
        canonical,
        dims=canonical_dims(layout.axes),
        coords={"C": coords},
        attrs=merged_attrs,
        name=name,
    )
    reader = reader_of(data)
    if isinstance(reader, RegionReader) and isinstance(canonical, da.Array):
        stack.encoding[READER_ENCODING] = ReaderBinding(
            reader=reader,
            axes=layout.axes,
            shape=layout.shape,
            canonical_name=canonical.name,
        )
    return stack
