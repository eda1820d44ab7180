"""Loader for in-process data: NumPy arrays, Dask arrays and xarray DataArrays."""

from __future__ import annotations

from typing import Any, ClassVar

import dask.array as da
import numpy as np
import xarray as xr

from careamics_dask.axes import REFERENCE_ORDER
from careamics_dask.errors import AxesError, UnsupportedSourceError
from careamics_dask.loaders._base import Loader
from careamics_dask.loaders._labels import build_image_stack, reader_binding

__all__ = ["ArrayLoader"]


def _fits_stack(axes: str, stack: xr.DataArray) -> bool:
    """Whether axes describe an image stack: its letters, singletons left out.

    ``"SYX"`` fits an ``S C Y X`` stack with one channel (``T`` counts as ``S``).
    """
    if not axes:
        return True
    given = set(axes.upper().replace("T", "S"))
    dims = dict(zip((str(d) for d in stack.dims), stack.shape, strict=True))
    if not given <= set(dims):
        return False
    return all(size == 1 for dim, size in dims.items() if dim not in given)


class ArrayLoader(Loader):
    """Label arrays already in the process as image stacks.

    NumPy arrays stay NumPy-backed (they are in memory already), Dask arrays keep
    their chunks, and DataArrays whose dims are axis letters keep their labels,
    channel names and pixel-size attributes. An image stack a loader made
    (``open_image(...)``, unchanged since) is kept as it is, with its source and
    its region reader, so batches read from the file as they would from the path.

    Examples
    --------
    >>> import numpy as np
    >>> [stack] = ArrayLoader().open(np.ones((2, 16, 16), "float32"), "SYX")
    >>> stack.dims, stack.shape
    (('S', 'C', 'Y', 'X'), (2, 1, 16, 16))
    """

    name: ClassVar[str] = "array"
    description: ClassVar[str] = "NumPy arrays, Dask arrays and xarray DataArrays"

    @classmethod
    def guess_can_open(cls, source: Any) -> bool:
        """Accept NumPy arrays, Dask arrays and DataArrays.

        Parameters
        ----------
        source : Any
            The source item.

        Returns
        -------
        bool
            True for in-process arrays.
        """
        return isinstance(source, np.ndarray | da.Array | xr.DataArray)

    def open(
        self, source: Any, axes: str, *, in_memory: bool = False, **kwargs: Any
    ) -> list[xr.DataArray]:
        """Label one array.

        Parameters
        ----------
        source : numpy.ndarray, dask.array.Array or xarray.DataArray
            The array.
        axes : str
            Its axes. For a DataArray whose dims are all letters of ``STCZYX``,
            the dims are used and ``axes`` must name the same set (or be empty).
        in_memory : bool, default False
            Compute a Dask-backed input into a NumPy array now.
        **kwargs : Any
            Not used; accepted so every loader takes the same call.

        Returns
        -------
        list of xarray.DataArray
            One image stack.

        Raises
        ------
        UnsupportedSourceError
            When the source is not an array.
        AxesError
            When the axes do not match the array.
        """
        channel_names = None
        pixel_sizes = None
        unit = None
        if (
            isinstance(source, xr.DataArray)
            and reader_binding(source) is not None
            and _fits_stack(axes, source)
        ):
            stack = source.copy(deep=False)
            return [stack.compute() if in_memory else stack]
        if isinstance(source, xr.DataArray):
            dims = "".join(str(d) for d in source.dims)
            if len(dims) == source.ndim and set(dims) <= set(REFERENCE_ORDER):
                if axes and set(axes.upper()) != set(dims):
                    raise AxesError(
                        f"Axes {axes!r} do not match the DataArray's dims "
                        f"{source.dims}: expected the same letters. Pass axes={dims!r} "
                        "or rename the dims."
                    )
                axes = dims
                if "C" in source.coords:
                    channel_names = [str(c) for c in source.coords["C"].values]
            pixel_sizes = source.attrs.get("pixel_sizes")
            unit = source.attrs.get("pixel_unit")
            data: Any = source.data
        elif isinstance(source, np.ndarray | da.Array):
            data = source
        else:
            raise UnsupportedSourceError(
                "Array data must be a numpy.ndarray, dask.array.Array or "
                f"xarray.DataArray, got {type(source).__name__}. Use data_type='tiff', "
                "'zarr' or 'czi' for files.",
                source=repr(type(source)),
            )
        if in_memory and isinstance(data, da.Array):
            data = data.compute()
        return [
            build_image_stack(
                data,
                axes,
                source="array",
                channel_names=channel_names,
                pixel_sizes=pixel_sizes,
                pixel_unit=unit,
            )
        ]
