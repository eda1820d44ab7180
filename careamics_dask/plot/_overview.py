"""Downsampled overviews of one plane of a lazy image stack, read chunk by chunk."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
import numpy.typing as npt

from careamics_dask.plot._style import channel_labels, stretch

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.axes import Axes

__all__ = ["Overview", "read_overview", "show_overview"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Overview:
    """One ``Y X`` plane of an image stack, block-averaged to a displayable size.

    Attributes
    ----------
    image : numpy.ndarray
        ``(h, w)`` float32 block means; pixel ``(i, j)`` averages the image pixels
        ``[i * scale, (i + 1) * scale) x [j * scale, (j + 1) * scale)``.
    scale : int
        The downsampling factor.
    shape : tuple of int
        The full-resolution ``(Y, X)`` shape of the plane.
    sample, channel : int
        The plane's index along ``S`` and ``C``.
    z : int or None
        The plane's index along ``Z`` (3-D stacks), else None.
    label : str
        What the plane is, e.g. ``"sample 0, nuclei"``.
    """

    image: npt.NDArray[np.float32]
    scale: int
    shape: tuple[int, int]
    sample: int
    channel: int
    z: int | None
    label: str

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """The ``imshow`` extent that puts the overview in image pixel coordinates."""
        height, width = self.image.shape
        return (
            -0.5,
            width * self.scale - 0.5,
            height * self.scale - 0.5,
            -0.5,
        )


def _channel_label(stack: xr.DataArray, channel: int) -> str:
    return channel_labels(stack)[channel]


def _check_index(name: str, index: int, size: int, stack: xr.DataArray) -> int:
    if not -size <= index < size:
        raise IndexError(
            f"{name} index out of range: expected {-size} <= {name.lower()} < {size} "
            f"for the stack {stack.attrs.get('source', 'array')!r} of shape "
            f"{tuple(stack.shape)}, got {index}."
        )
    return int(index) % size


def _block_mean(plane: da.Array, scale: int) -> da.Array:
    """Average ``scale x scale`` blocks of a 2-D Dask array (edges trimmed)."""
    height, width = (int(v) // scale * scale for v in plane.shape)
    trimmed = plane[:height, :width].astype(np.float32)
    if scale == 1:
        whole: da.Array = trimmed
        return whole
    # coarsen needs chunks that are multiples of the factor; round them up
    chunks = tuple(max(scale, -(-int(max(c)) // scale) * scale) for c in trimmed.chunks)
    aligned = trimmed.rechunk(chunks)
    result: da.Array = da.coarsen(np.mean, aligned, {0: scale, 1: scale})
    return result


def read_overview(
    stack: xr.DataArray,
    *,
    sample: int = 0,
    channel: int = 0,
    z: int | None = None,
    max_side: int = 1024,
) -> Overview:
    """Read one plane of a lazy stack, block-averaged to at most ``max_side`` a side.

    Only the storage chunks of that one plane are read, each once, and reduced
    where they are read; memory holds the small result, never the plane.

    Parameters
    ----------
    stack : xarray.DataArray
        An image stack with dims ``S C (Z) Y X`` (as :func:`~careamics_dask.open_image`
        returns), Dask- or NumPy-backed.
    sample : int, default 0
        Index along ``S``.
    channel : int, default 0
        Index along ``C``.
    z : int, optional
        Index along ``Z`` of a 3-D stack (default: the middle plane).
    max_side : int, default 1024
        Largest side of the overview, in pixels.

    Returns
    -------
    Overview
        The plane, its scale and its label.

    Raises
    ------
    ValueError
        When the stack's dims are not ``S C (Z) Y X`` or ``max_side < 1``.
    IndexError
        When ``sample``, ``channel`` or ``z`` is out of range.

    Examples
    --------
    >>> import xarray as xr
    >>> stack = xr.DataArray(np.ones((1, 2, 100, 60), "uint16"),
    ...                      dims=("S", "C", "Y", "X"))
    >>> overview = read_overview(stack, channel=1, max_side=25)
    >>> overview.scale, overview.image.shape, overview.label
    (4, (25, 15), 'sample 0, channel 1')
    """
    dims = tuple(str(d) for d in stack.dims)
    if dims not in (("S", "C", "Y", "X"), ("S", "C", "Z", "Y", "X")):
        raise ValueError(
            "Overviews are read from image stacks: expected dims ('S', 'C', (Z,) "
            f"'Y', 'X'), got {dims}. Open the source with careamics_dask.open_image."
        )
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}.")
    sample = _check_index("Sample", sample, int(stack.shape[0]), stack)
    channel = _check_index("Channel", channel, int(stack.shape[1]), stack)
    index: tuple[int, ...] = (sample, channel)
    if len(dims) == 5:
        depth = int(stack.shape[2])
        z = _check_index("Z", depth // 2 if z is None else z, depth, stack)
        index = (*index, z)
    else:
        z = None
    data: Any = stack.data
    plane = data[index] if isinstance(data, da.Array) else da.from_array(data[index])
    height, width = (int(v) for v in plane.shape)
    scale = max(1, -(-max(height, width) // max_side))
    image = np.asarray(_block_mean(plane, scale).compute(), dtype=np.float32)
    label = f"sample {sample}, {_channel_label(stack, channel)}"
    if z is not None:
        label += f", z {z}"
    logger.debug("read a 1:%d overview of %s", scale, label)
    return Overview(
        image=image,
        scale=scale,
        shape=(height, width),
        sample=sample,
        channel=channel,
        z=z,
        label=label,
    )


def show_overview(axis: Axes, overview: Overview, *, cmap: str = "gray") -> None:
    """Draw an overview in full-resolution pixel coordinates.

    Parameters
    ----------
    axis : matplotlib.axes.Axes
        The axis.
    overview : Overview
        The plane.
    cmap : str, default "gray"
        The colour map.
    """
    low, high = stretch(overview.image)
    axis.imshow(
        overview.image,
        cmap=cmap,
        vmin=low,
        vmax=high,
        extent=overview.extent,
        interpolation="nearest",
    )
    axis.set_xlim(-0.5, overview.shape[1] - 0.5)
    axis.set_ylim(overview.shape[0] - 0.5, -0.5)
    axis.set_xlabel("X (pixels)", fontsize=8)
    axis.set_ylabel("Y (pixels)", fontsize=8)
    axis.tick_params(labelsize=7)
