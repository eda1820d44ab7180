"""Output layout: the restored axes, shape, chunks and metadata of each prediction.

Every input image stack gets one output array in its own axes (or the config's
``target_axes``): ``S`` and ``T`` unmerged, a singleton ``C`` dropped only where the
source had none, and the model's channel count kept (a multi-channel prediction of a
source without ``C`` gains a ``C`` axis before its spatial axes, where the reference
raises). Non-OME inputs give an array ``<i>``; OME-Zarr inputs give an image group
``<i>`` with OME-Zarr 0.5 multiscales metadata and its array ``<i>/0``. Attributes
under ``careamics-dask`` record the axes, the source, the original shape and the pixel
sizes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.axes import AxesLayout, from_canonical, validate_axes

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt
    import xarray as xr

    from careamics_dask.predict.stitch import Region

__all__ = [
    "DEFAULT_CHUNKS",
    "ImageLayout",
    "create_layout",
    "default_spatial_chunks",
    "output_axes",
]

logger = logging.getLogger(__name__)

ATTRIBUTE = "careamics-dask"
"""The attribute key of careamics_dask's metadata in the output store."""

DEFAULT_CHUNKS = {"Z": 16, "Y": 256, "X": 256}
"""Output chunk sizes when the source has no storage chunks to follow."""

_OME_AXES = {
    "T": {"name": "t", "type": "time"},
    "C": {"name": "c", "type": "channel"},
    "Z": {"name": "z", "type": "space"},
    "Y": {"name": "y", "type": "space"},
    "X": {"name": "x", "type": "space"},
    "S": {"name": "s"},
}


def output_axes(original_axes: str, target_axes: str | None, n_channels: int) -> str:
    """Return the axes a prediction is written in.

    Parameters
    ----------
    original_axes : str
        The source's axes.
    target_axes : str, optional
        Axes to write instead (the config's ``target_axes``).
    n_channels : int
        The model's output channels.

    Returns
    -------
    str
        ``target_axes`` or ``original_axes``; with ``C`` inserted before the
        first spatial axis when there are several channels and no ``C``.

    Examples
    --------
    >>> output_axes("SYX", None, 1), output_axes("SYX", None, 2)
    ('SYX', 'SCYX')
    >>> output_axes("YXT", None, 3), output_axes("SCYX", None, 1)
    ('CYXT', 'SCYX')
    """
    axes = validate_axes(target_axes or original_axes)
    if "C" in axes or n_channels == 1:
        return axes
    first = min(axes.index(a) for a in "ZYX" if a in axes)
    return axes[:first] + "C" + axes[first:]


def default_spatial_chunks(stack: xr.DataArray) -> tuple[int, ...]:
    """Return output chunk sizes along ``(Z,) Y, X`` for a stack.

    The source's own storage chunks where it has them (Zarr), else
    :data:`DEFAULT_CHUNKS`.

    Parameters
    ----------
    stack : xarray.DataArray
        An image stack.

    Returns
    -------
    tuple of int
        One size per spatial axis.
    """
    spatial = [str(d) for d in stack.dims[2:]]
    axes = str(stack.attrs.get("original_axes", ""))
    chunks = stack.attrs.get("zarr_chunks")
    if chunks is not None and len(chunks) == len(axes):
        return tuple(int(chunks[axes.index(a)]) for a in spatial)
    return tuple(DEFAULT_CHUNKS[a] for a in spatial)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageLayout:
    """Where and how one image stack's prediction is stored.

    Attributes
    ----------
    index : int
        The image stack (``data_idx``).
    path : str
        The array's path in the output store.
    group : str or None
        The OME-Zarr image group holding the array, or None.
    axes : str
        The output axes.
    shape : tuple of int
        The output shape, in ``axes`` order.
    chunks : tuple of int
        The output chunks, in ``axes`` order.
    original_axes : str
        The source's axes.
    original_shape : tuple of int
        The source's shape.
    attributes : dict
        careamics_dask's metadata of the array.
    ome : dict or None
        The group's OME-Zarr 0.5 ``ome`` attribute, or None.
    """

    index: int
    path: str
    group: str | None
    axes: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    original_axes: str
    original_shape: tuple[int, ...]
    attributes: dict[str, Any]
    ome: dict[str, Any] | None

    def place(
        self, region: Region
    ) -> tuple[tuple[slice, ...], npt.NDArray[np.float32]]:
        """Return where a region goes in the output array, and its pixels there.

        Parameters
        ----------
        region : Region
            Complete chunks ``(C, (Z), Y, X)`` of one sample.

        Returns
        -------
        tuple
            The index into the output array, and the region in output axes
            order (with singleton sample axes).
        """
        data = region.data
        layout = AxesLayout(axes=self.original_axes, shape=self.original_shape)
        position = layout.sample_index(region.sample)
        spatial = [a for a in "ZYX" if a in self.original_axes]
        extents = dict(zip(spatial, data.shape[1:], strict=True))
        starts = dict(zip(spatial, region.start, strict=True))
        block_shape = [
            1 if a in "ST" else data.shape[0] if a == "C" else extents[a]
            for a in self.original_axes
        ]
        restored = from_canonical(
            data[np.newaxis], self.original_axes, block_shape, self.axes
        )
        index: list[slice] = []
        for axis in self.axes:
            if axis in "ST":
                index.append(slice(position[axis], position[axis] + 1))
            elif axis == "C":
                index.append(slice(None))
            else:
                index.append(slice(starts[axis], starts[axis] + extents[axis]))
        return tuple(index), restored


def create_layout(
    stack: xr.DataArray,
    index: int,
    *,
    n_channels: int,
    spatial_chunks: Sequence[int],
    target_axes: str | None = None,
    channels: Sequence[int] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ImageLayout:
    """Describe the output of one image stack.

    Parameters
    ----------
    stack : xarray.DataArray
        The input image stack (its attributes give the original layout).
    index : int
        Its ``data_idx``.
    n_channels : int
        The model's output channels.
    spatial_chunks : Sequence[int]
        Output chunk sizes along ``(Z,) Y, X``.
    target_axes : str, optional
        Axes to write instead of the source's.
    channels : Sequence[int], optional
        The input channels the model saw (the config's ``channels``).
    extra : Mapping[str, Any], optional
        Further metadata for the ``careamics-dask`` attribute.

    Returns
    -------
    ImageLayout
        The layout.

    Raises
    ------
    AxesError
        When ``target_axes`` cannot hold the prediction (other sample or spatial
        axes than the source's).
    """
    attrs = stack.attrs
    original_axes = str(attrs.get("original_axes") or _dims_axes(stack))
    original_shape = tuple(int(s) for s in attrs.get("original_shape", stack.shape))
    axes = output_axes(original_axes, target_axes, n_channels)
    ones = [1 if a != "C" else n_channels for a in original_axes]
    probe = np.zeros((1, n_channels, *([1] * (stack.ndim - 2))), np.float32)
    from_canonical(probe, original_axes, ones, axes)  # raises for incompatible axes
    sizes = AxesLayout(axes=original_axes, shape=original_shape).sizes
    spatial = dict(zip([str(d) for d in stack.dims[2:]], spatial_chunks, strict=True))
    shape = tuple(n_channels if a == "C" else sizes[a] for a in axes)
    chunks = tuple(
        1 if a in "ST" else n_channels if a == "C" else min(spatial[a], sizes[a])
        for a in axes
    )
    pixel_sizes = {str(k): float(v) for k, v in attrs.get("pixel_sizes", {}).items()}
    pixel_unit = attrs.get("pixel_unit")
    channel_names = [str(c) for c in stack.coords["C"].values]
    if channels is not None:
        channel_names = [channel_names[i] for i in channels]
    metadata: dict[str, Any] = {
        "kind": "prediction",
        "axes": axes,
        "source": str(attrs.get("source", "array")),
        "array": str(attrs.get("array", "")),
        "original_axes": original_axes,
        "original_shape": list(original_shape),
        "original_dtype": str(attrs.get("original_dtype", stack.dtype)),
        "pixel_sizes": pixel_sizes,
        "pixel_unit": pixel_unit,
        "input_channels": channel_names,
        **dict(extra or {}),
    }
    ome = None
    if attrs.get("ome_version") is not None:
        names = channel_names if len(channel_names) == n_channels else None
        ome = _ome_metadata(axes, pixel_sizes, pixel_unit, str(stack.name), names)
    return ImageLayout(
        index=int(index),
        path=f"{index}/0" if ome is not None else str(index),
        group=str(index) if ome is not None else None,
        axes=axes,
        shape=shape,
        chunks=chunks,
        original_axes=original_axes,
        original_shape=original_shape,
        attributes=metadata,
        ome=ome,
    )


def _dims_axes(stack: xr.DataArray) -> str:
    return "".join(str(d) for d in stack.dims)


def _ome_metadata(
    axes: str,
    pixel_sizes: Mapping[str, float],
    unit: str | None,
    name: str,
    channel_names: Sequence[str] | None,
) -> dict[str, Any]:
    """Return the ``ome`` attribute (OME-Zarr 0.5) of an image group."""
    entries = []
    for axis in axes:
        entry = dict(_OME_AXES[axis])
        if axis in "ZYX" and unit:
            entry["unit"] = unit
        entries.append(entry)
    scale = [float(pixel_sizes.get(a, 1.0)) if a in "ZYX" else 1.0 for a in axes]
    ome: dict[str, Any] = {
        "version": "0.5",
        "multiscales": [
            {
                "name": name,
                "axes": entries,
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [
                            {"type": "scale", "scale": scale}
                        ],
                    }
                ],
            }
        ],
    }
    if channel_names is not None:
        ome["omero"] = {"channels": [{"label": label} for label in channel_names]}
    return ome
