"""What ``dataset[i]`` hands out: one region with its metadata (the reference's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    import numpy.typing as npt
    import xarray as xr

__all__ = ["ImageRegionData", "region_of_stack"]


class ImageRegionData(NamedTuple):
    """One patch or tile with its metadata: the reference's ``__getitem__`` element.

    Attributes
    ----------
    data : numpy.ndarray
        ``C (Z) Y X`` float32 pixels (normalized, augmented in training).
    source : str
        The file, store or ``"array"``.
    data_shape : tuple of int
        ``S C (Z) Y X`` shape of the stack (C adjusted to the selected channels).
    dtype : str
        The source's dtype.
    axes : str
        The source's axes.
    target_axes : str
        The target's axes.
    original_data_shape : tuple of int
        The source's shape in its own axes (C adjusted to the selected channels).
    region_spec : dict
        The reference's ``PatchSpecs`` / ``TileSpecs`` for this region.
    additional_metadata : dict
        Source details (Zarr ``chunks`` and ``shards``).
    """

    data: npt.NDArray[np.float32]
    source: str
    data_shape: Sequence[int]
    dtype: str
    axes: str
    target_axes: str
    original_data_shape: Sequence[int]
    region_spec: Any
    additional_metadata: dict[str, Any]

    def from_model_output(
        self, output_data: npt.NDArray[np.float32]
    ) -> ImageRegionData:
        """Copy the metadata onto a model's output for this region.

        Parameters
        ----------
        output_data : numpy.ndarray
            The prediction for this region.

        Returns
        -------
        ImageRegionData
            The same region with ``data`` replaced.
        """
        return self._replace(data=output_data)


def region_of_stack(
    data: npt.NDArray[np.float32],
    spec: Any,
    stack: xr.DataArray,
    *,
    axes: str,
    target_axes: str,
    channels: Sequence[int] | None,
    target: bool,
) -> ImageRegionData:
    """Return a region's pixels with its stack's metadata, as the reference does.

    Parameters
    ----------
    data : numpy.ndarray
        The region's ``C (Z) Y X`` pixels.
    spec : dict
        The region's ``PatchSpecs`` / ``TileSpecs``.
    stack : xarray.DataArray
        The image stack it was read from.
    axes : str
        The inputs' axes.
    target_axes : str
        The targets' axes.
    channels : Sequence[int] or None
        The selected input channels (adjusting the input's shapes).
    target : bool
        Whether the region is a target.

    Returns
    -------
    ImageRegionData
        The region.
    """
    data_shape = list(stack.shape)
    original = list(stack.attrs.get("original_shape", stack.shape))
    own_axes = str(stack.attrs.get("original_axes", axes))
    if not target and channels:
        n = len(channels)
        data_shape[1] = n
        if "C" in own_axes:
            original[own_axes.index("C")] = n
    metadata = {
        key: stack.attrs[f"zarr_{key}"]
        for key in ("chunks", "shards")
        if stack.attrs.get(f"zarr_{key}") is not None
    }
    return ImageRegionData(
        data=data,
        source=str(stack.attrs.get("source", "array")),
        data_shape=tuple(int(v) for v in data_shape),
        dtype=str(stack.attrs.get("original_dtype", stack.dtype)),
        axes=target_axes if target else axes,
        target_axes=target_axes,
        original_data_shape=tuple(int(v) for v in original),
        region_spec=spec,
        additional_metadata=metadata,
    )
