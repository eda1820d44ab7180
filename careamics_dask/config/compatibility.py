"""Rules for which axes and data types are compatible with each other."""

from __future__ import annotations

import logging

from careamics_dask.axes import is_3d_axes

__all__ = [
    "are_spatial_dims_maintained",
    "validate_sample_axes",
]

logger = logging.getLogger(__name__)


def are_spatial_dims_maintained(
    old_data_type: str, old_axes: str, new_data_type: str, new_axes: str
) -> bool:
    """Tell whether two data type and axes pairs are both 2-D or both 3-D.

    For CZI, ``T`` is a depth axis too; between two CZI layouts a ``Z`` stack does
    not convert to a ``T`` stack. A CZI ``SCTYX`` and a non-CZI ``ZYX`` are both 3-D.

    Parameters
    ----------
    old_data_type : str
        The current data type.
    old_axes : str
        The current axes.
    new_data_type : str
        The new data type.
    new_axes : str
        The new axes.

    Returns
    -------
    bool
        True when the spatial dimensionality is the same.

    Examples
    --------
    >>> are_spatial_dims_maintained("czi", "SCTYX", "array", "SZYX")
    True
    >>> are_spatial_dims_maintained("czi", "SCZYX", "czi", "SCTYX")
    False
    """
    old_is_3d = is_3d_axes(old_axes, old_data_type)
    new_is_3d = is_3d_axes(new_axes, new_data_type)
    if old_data_type == new_data_type == "czi" and old_is_3d and new_is_3d:
        return ("Z" in old_axes and "Z" in new_axes) or (
            "T" in old_axes and "T" in new_axes
        )
    return old_is_3d == new_is_3d


def validate_sample_axes(axes: str, target_axes: str) -> None:
    """Check that inputs and targets have the same sample axes (``S`` and ``T``).

    ``C`` may differ: ``YX`` inputs with ``CYX`` targets are fine.

    Parameters
    ----------
    axes : str
        The input axes.
    target_axes : str
        The target axes.

    Raises
    ------
    ValueError
        When the sets of sample axes differ.

    Examples
    --------
    >>> validate_sample_axes("SYX", "SCYX")
    >>> validate_sample_axes("SYX", "TYX")
    Traceback (most recent call last):
    ...
    ValueError: Axes 'SYX' are not compatible with target axes 'TYX'. The same sample axes (S and/or T) must be present in both. Found sample axes ['S'] in axes and ['T'] in target axes.
    """  # noqa: E501
    sample_axes = sorted(set(axes) & {"S", "T"})
    target_sample_axes = sorted(set(target_axes) & {"S", "T"})
    if sample_axes != target_sample_axes:
        raise ValueError(
            f"Axes '{axes}' are not compatible with target axes '{target_axes}'. The "
            "same sample axes (S and/or T) must be present in both. Found sample axes "
            f"{sample_axes} in axes and {target_sample_axes} in target axes."
        )
