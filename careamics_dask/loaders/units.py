r"""Physical units of pixel sizes: one spelling (``micrometer``) and converted values.

Every loader reports ``pixel_sizes`` in micrometres with ``pixel_unit="micrometer"``
(the OME-NGFF name), whatever the file records per axis: OME-TIFF's
``PhysicalSizeXUnit`` (``"nm"``, ``"µm"``, ...), ImageJ's ``unit`` (``"micron"``,
``"\u00B5m"``), OME-Zarr's per-axis ``unit`` (``"nanometer"``, ``"millimeter"``).
Sizes whose unit is not a length (``"pixel"``) or not given are kept unconverted only
when every axis shares that unit; otherwise those axes are left out, never mixed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MICROMETER",
    "convert_pixel_sizes",
    "micrometers_per",
    "normalize_unit",
]

logger = logging.getLogger(__name__)

MICROMETER = "micrometer"
"""The unit every loader reports pixel sizes in."""

_PER_UNIT: dict[str, float] = {
    "picometer": 1e-6,
    "angstrom": 1e-4,
    "nanometer": 1e-3,
    "micrometer": 1.0,
    "millimeter": 1e3,
    "centimeter": 1e4,
    "decimeter": 1e5,
    "meter": 1e6,
    "kilometer": 1e9,
    "inch": 25_400.0,
    "foot": 304_800.0,
}
"""Micrometres per unit, by OME-NGFF unit name."""

_SPELLINGS: dict[str, str] = {
    "pm": "picometer",
    "å": "angstrom",
    "\u212b": "angstrom",
    "nm": "nanometer",
    "um": "micrometer",
    "µm": "micrometer",
    "μm": "micrometer",
    "\\u00b5m": "micrometer",
    "micron": "micrometer",
    "microns": "micrometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "dm": "decimeter",
    "m": "meter",
    "km": "kilometer",
    "in": "inch",
    "inches": "inch",
    "ft": "foot",
    "feet": "foot",
}
"""Symbols and other spellings of the units in ``_PER_UNIT`` (lower case)."""


def normalize_unit(unit: object) -> str | None:
    """Return the OME-NGFF name of a length unit, or the unit as given.

    Parameters
    ----------
    unit : object
        A unit as a file records it (``"nm"``, ``"µm"``, ``"micron"``, ...), or
        None.

    Returns
    -------
    str or None
        The NGFF name (``"nanometer"``, ``"micrometer"``, ...) for known lengths,
        the stripped text otherwise, None for None or an empty string.

    Examples
    --------
    >>> normalize_unit("µm"), normalize_unit("NM"), normalize_unit("micron")
    ('micrometer', 'nanometer', 'micrometer')
    >>> normalize_unit("pixel"), normalize_unit(""), normalize_unit("meters")
    ('pixel', None, 'meter')
    """
    if unit is None:
        return None
    text = str(unit).strip()
    if not text:
        return None
    lower = text.lower()
    if lower in _SPELLINGS:
        return _SPELLINGS[lower]
    # NGFF names, also in British spelling or the plural
    name = lower.replace("metre", "meter").removesuffix("s")
    if name in _PER_UNIT:
        return name
    return text


def micrometers_per(unit: object) -> float | None:
    """Return how many micrometres one ``unit`` is, None when it is not a length.

    Parameters
    ----------
    unit : object
        Any spelling :func:`normalize_unit` understands.

    Returns
    -------
    float or None
        The factor, or None for unknown units and None.

    Examples
    --------
    >>> micrometers_per("nm"), micrometers_per("millimeter"), micrometers_per("pixel")
    (0.001, 1000.0, None)
    """
    name = normalize_unit(unit)
    return None if name is None else _PER_UNIT.get(name)


def convert_pixel_sizes(
    sizes: Mapping[str, float],
    units: Mapping[str, object],
    *,
    source: str = "",
) -> tuple[dict[str, float], str | None]:
    """Convert per-axis pixel sizes to micrometres.

    Parameters
    ----------
    sizes : Mapping[str, float]
        Pixel sizes by axis letter (``"Z"``, ``"Y"``, ``"X"``).
    units : Mapping[str, object]
        The unit of each axis as the file records it (missing or None: not given).
    source : str, default ""
        The file or store, for the log message when axes are left out.

    Returns
    -------
    tuple of (dict of str to float, str or None)
        The sizes and their unit: all in ``"micrometer"`` when any axis has a
        length unit (axes without one are left out); unconverted, with the shared
        unit (or None), when no axis has a length unit and all share one unit;
        empty otherwise.

    Examples
    --------
    >>> convert_pixel_sizes({"Z": 0.3, "Y": 108.0}, {"Z": "µm", "Y": "nm"})
    ({'Z': 0.3, 'Y': 0.108}, 'micrometer')
    >>> convert_pixel_sizes({"Y": 2.0, "X": 2.0}, {})
    ({'Y': 2.0, 'X': 2.0}, None)
    >>> convert_pixel_sizes({"Y": 2.0, "X": 2.0}, {"Y": "pixel", "X": "pixel"})
    ({'Y': 2.0, 'X': 2.0}, 'pixel')
    """
    if not sizes:
        return {}, None
    converted: dict[str, float] = {}
    left_out: dict[str, object] = {}
    for axis, value in sizes.items():
        factor = micrometers_per(units.get(axis))
        if factor is None:
            left_out[axis] = units.get(axis)
        else:
            converted[axis] = round(float(value) * factor, 12)
    if converted:
        if left_out:
            logger.debug(
                "pixel sizes of %s: leaving out %s (no length unit: %s)",
                source,
                sorted(left_out),
                left_out,
            )
        return converted, MICROMETER
    names = {normalize_unit(unit) for unit in left_out.values()}
    if len(names) == 1:
        return {axis: float(value) for axis, value in sizes.items()}, names.pop()
    logger.debug("pixel sizes of %s dropped: mixed non-length units %s", source, names)
    return {}, None
