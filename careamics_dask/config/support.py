"""Enumerations of the modes, data types and config names careamics_dask supports.

Differences from CAREamics
--------------------------
- :meth:`SupportedData.get_extension_pattern` and :meth:`SupportedData.get_extension`
  accept any spelling ``SupportedData`` accepts (``".TIFF"``), and
  ``get_extension("custom")`` raises ``NotImplementedError`` instead of returning it.
"""

from __future__ import annotations

import logging
from enum import StrEnum

__all__ = [
    "Mode",
    "SupportedAugmentation",
    "SupportedCoordinateFilters",
    "SupportedData",
    "SupportedNormalization",
    "SupportedPatchFilters",
    "SupportedPatching",
]

logger = logging.getLogger(__name__)


class Mode(StrEnum):
    """What a dataset built from a :class:`~careamics_dask.config.DataConfig` does."""

    TRAINING = "training"
    VALIDATING = "validating"
    PREDICTING = "predicting"


class SupportedData(StrEnum):
    """Kinds of data sources.

    Lookup is case-insensitive and ignores a leading dot, so a file extension works.

    Examples
    --------
    >>> SupportedData(".TIFF") is SupportedData.TIFF
    True
    """

    ARRAY = "array"
    TIFF = "tiff"
    CZI = "czi"
    CUSTOM = "custom"
    ZARR = "zarr"

    @classmethod
    def _missing_(cls, value: object) -> SupportedData | None:
        if isinstance(value, str):
            lower = value.lower().removeprefix(".")
            for member in cls:
                if member.value == lower:
                    return member
        return None

    @classmethod
    def _parse(cls, data_type: str) -> SupportedData:
        try:
            return cls(data_type)
        except ValueError:
            raise ValueError(f"Data type {data_type} is not supported.") from None

    @classmethod
    def get_extension_pattern(cls, data_type: str) -> str:
        """Return a ``Path.rglob``/``fnmatch`` pattern matching files of a data type.

        Parameters
        ----------
        data_type : str or SupportedData
            The data type.

        Returns
        -------
        str
            ``"*.tif*"``, ``"*.zarr"``, ``"*.czi"`` or ``"*.*"`` (custom).

        Raises
        ------
        NotImplementedError
            For ``"array"``, which is not read from files.
        ValueError
            For an unknown data type.

        Examples
        --------
        >>> SupportedData.get_extension_pattern("tiff")
        '*.tif*'
        """
        member = cls._parse(data_type)
        if member is cls.ARRAY:
            raise NotImplementedError(f"Data '{data_type}' is not loaded from a file.")
        patterns = {
            cls.TIFF: "*.tif*",
            cls.ZARR: "*.zarr",
            cls.CZI: "*.czi",
            cls.CUSTOM: "*.*",
        }
        return patterns[member]

    @classmethod
    def get_extension(cls, data_type: str) -> str:
        """Return the file extension written for a data type.

        Parameters
        ----------
        data_type : str or SupportedData
            The data type.

        Returns
        -------
        str
            ``".tiff"``, ``".czi"`` or ``".zarr"``.

        Raises
        ------
        NotImplementedError
            For ``"array"`` (not a file) and ``"custom"`` (extension given elsewhere).
        ValueError
            For an unknown data type.

        Examples
        --------
        >>> SupportedData.get_extension("ZARR")
        '.zarr'
        """
        member = cls._parse(data_type)
        if member is cls.ARRAY:
            raise NotImplementedError(f"Data '{data_type}' is not loaded from a file.")
        if member is cls.CUSTOM:
            raise NotImplementedError("Custom extensions have to be passed elsewhere.")
        extensions = {cls.TIFF: ".tiff", cls.CZI: ".czi", cls.ZARR: ".zarr"}
        return extensions[member]


class SupportedPatching(StrEnum):
    """Names of the patching strategies a :class:`DataConfig` accepts."""

    FIXED_RANDOM = "fixed_random"
    RANDOM = "random"
    STRATIFIED = "stratified"
    TILED = "tiled"
    WHOLE = "whole"


class SupportedNormalization(StrEnum):
    """Names of the normalization schemes."""

    MEAN_STD = "mean_std"
    QUANTILE = "quantile"
    MINMAX = "min_max"
    NONE = "none"


class SupportedPatchFilters(StrEnum):
    """Names of the patch (background) filters."""

    MAX = "max"
    MEANSTD = "mean_std"
    SHANNON = "shannon"


class SupportedCoordinateFilters(StrEnum):
    """Names of the filters driven by a mask rather than by pixel values."""

    MASK = "mask"


class SupportedAugmentation(StrEnum):
    """Names of the spatial augmentations."""

    XY_FLIP = "XYFlip"
    XY_RANDOM_ROTATE90 = "XYRandomRotate90"
