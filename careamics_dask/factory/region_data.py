"""What ``dataset[i]`` hands out: one region with its metadata (the reference's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    import numpy.typing as npt

__all__ = ["ImageRegionData"]


class ImageRegionData(NamedTuple):
    """One patch or tile with its metadata: the reference's ``__getitem__`` element.

    Attributes
    ----------
    data : numpy.ndarray
        ``C (Z) Y X`` float32 pixels (normalized, augmented in training).
    source : str
        The file, store or ``"array"``.
    data_shape : Sequence[int]
        ``S C (Z) Y X`` shape of the stack (C adjusted to the selected channels).
    dtype : str
        The source's dtype.
    axes : str
        The source's axes.
    target_axes : str
        The target's axes.
    original_data_shape : Sequence[int]
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
