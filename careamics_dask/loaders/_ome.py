"""Read OME-NGFF (OME-Zarr 0.1 to 0.5) image metadata from Zarr group attributes.

Only what a loader needs is parsed: the path of the full-resolution level, the axes as
CAREamics letters, the channel labels and the physical pixel sizes of that level
(converted to micrometres axis by axis, :mod:`careamics_dask.loaders.units`).
NGFF 0.1 to 0.4 keep ``multiscales`` and ``omero`` at the top of a Zarr v2 group's
``.zattrs``; NGFF 0.5 nests them under an ``ome`` key of a Zarr v3 group's attributes.
NGFF 0.1 and 0.2 have no ``axes``: their images are always ``TCZYX``. Versions
without a ``scale`` transform record no pixel size, so none is reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from careamics_dask.errors import AxesError, UnsupportedSourceError
from careamics_dask.loaders.units import convert_pixel_sizes

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["OmeImage", "check_ome_axes", "find_ome_metadata", "read_ome_image"]

logger = logging.getLogger(__name__)

_LETTERS = {"t": "T", "c": "C", "z": "Z", "y": "Y", "x": "X"}
_TYPES = {"time": "T", "channel": "C"}
_SPATIAL = "ZYX"
_AXES_BEFORE_0_3 = "TCZYX"
"""The fixed axes of NGFF 0.1 and 0.2 images, which have no ``axes`` field."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OmeImage:
    """What a loader needs from the metadata of one OME-Zarr image group.

    Attributes
    ----------
    version : str
        The NGFF version the metadata declares (``""`` when it declares none).
    level_path : str
        Path of the full-resolution array, relative to the image group.
    axes : str
        The level's axes as upper-case letters of ``TCZYX``.
    channel_names : tuple of str, optional
        The ``omero`` channel labels, when every channel has one.
    pixel_sizes : dict of str to float
        Physical sizes of the spatial axes (``Z``, ``Y``, ``X``) at that level, in
        micrometres where the axes have length units; empty without a scale.
    pixel_unit : str, optional
        The unit of the pixel sizes (``"micrometer"``, see
        :mod:`careamics_dask.loaders.units`).
    """

    version: str
    level_path: str
    axes: str
    channel_names: tuple[str, ...] | None
    pixel_sizes: dict[str, float]
    pixel_unit: str | None


def find_ome_metadata(attrs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Return the attribute block holding ``multiscales``, or None.

    Parameters
    ----------
    attrs : Mapping[str, Any]
        A Zarr group's attributes.

    Returns
    -------
    Mapping[str, Any] or None
        ``attrs["ome"]`` (NGFF 0.5), ``attrs`` itself (NGFF 0.4 and older), or
        None when the group is not an OME-Zarr image.

    Examples
    --------
    >>> find_ome_metadata({"ome": {"version": "0.5", "multiscales": []}}) is not None
    True
    >>> find_ome_metadata({"foo": 1}) is None
    True
    """
    ome = attrs.get("ome")
    if isinstance(ome, dict) and "multiscales" in ome:
        return ome
    if "multiscales" in attrs:
        return attrs
    return None


def read_ome_image(attrs: Mapping[str, Any], *, where: str) -> OmeImage | None:
    """Parse the OME-NGFF image metadata of a group.

    Parameters
    ----------
    attrs : Mapping[str, Any]
        The group's attributes.
    where : str
        The group's location, for error messages.

    Returns
    -------
    OmeImage or None
        The parsed metadata of the first multiscale image, or None when the group
        has no ``multiscales`` metadata.

    Raises
    ------
    UnsupportedSourceError
        When the metadata is malformed (no datasets, unknown axes, a scale of the
        wrong length).

    Examples
    --------
    >>> attrs = {
    ...     "multiscales": [
    ...         {
    ...             "version": "0.4",
    ...             "axes": [
    ...                 {"name": "c", "type": "channel"},
    ...                 {"name": "y", "type": "space", "unit": "micrometer"},
    ...                 {"name": "x", "type": "space", "unit": "micrometer"},
    ...             ],
    ...             "datasets": [
    ...                 {
    ...                     "path": "0",
    ...                     "coordinateTransformations": [
    ...                         {"type": "scale", "scale": [1.0, 0.5, 0.25]}
    ...                     ],
    ...                 }
    ...             ],
    ...         }
    ...     ],
    ...     "omero": {"channels": [{"label": "DAPI"}, {"label": "GFP"}]},
    ... }
    >>> image = read_ome_image(attrs, where="a.zarr")
    >>> image.axes, image.level_path, image.channel_names
    ('CYX', '0', ('DAPI', 'GFP'))
    >>> image.pixel_sizes, image.pixel_unit
    ({'Y': 0.5, 'X': 0.25}, 'micrometer')
    """
    block = find_ome_metadata(attrs)
    if block is None:
        return None
    multiscales = block.get("multiscales")
    if not isinstance(multiscales, list) or not multiscales:
        raise _malformed(where, "a non-empty 'multiscales' list", multiscales)
    first = multiscales[0]
    datasets = first.get("datasets") if isinstance(first, dict) else None
    if not isinstance(datasets, list) or not datasets or "path" not in datasets[0]:
        raise _malformed(where, "'datasets' with a 'path' per level", datasets)
    version = str(block.get("version", first.get("version", "")))
    if first.get("axes") is None and version in ("0.1", "0.2"):
        letters = _AXES_BEFORE_0_3
        units: list[str | None] = [None] * len(letters)
    else:
        letters, units = _parse_axes(first.get("axes"), where=where)
    scale = _level_scale(first, datasets[0], len(letters), where=where)
    raw = {
        letter: value
        for letter, value in zip(letters, scale or [0.0] * len(letters), strict=True)
        if letter in _SPATIAL and scale is not None
    }
    by_axis = dict(zip(letters, units, strict=True))
    sizes, unit = convert_pixel_sizes(raw, by_axis, source=where)
    return OmeImage(
        version=version,
        level_path=str(datasets[0]["path"]).strip("/"),
        axes=letters,
        channel_names=_channel_labels(block),
        pixel_sizes=sizes,
        pixel_unit=unit,
    )


def _malformed(where: str, expected: str, got: object) -> UnsupportedSourceError:
    return UnsupportedSourceError(
        f"Invalid OME-Zarr metadata in {where!r}: expected {expected}, got "
        f"{got!r:.200}. Fix the multiscales metadata (OME-NGFF 0.4/0.5), or point a "
        "file:// URI at the full-resolution array and pass its axes.",
        source=where,
    )


def _parse_axes(axes: Any, *, where: str) -> tuple[str, list[str | None]]:
    if not isinstance(axes, list) or not axes:
        raise _malformed(where, "a list of 'axes'", axes)
    letters = []
    units: list[str | None] = []
    for axis in axes:
        # NGFF 0.3 lists axis names as plain strings.
        entry = {"name": axis} if isinstance(axis, str) else axis
        if not isinstance(entry, dict):
            raise _malformed(where, "axes given as names or objects", axis)
        name = str(entry.get("name", "")).lower()
        letter = _LETTERS.get(name) or _TYPES.get(str(entry.get("type", "")).lower())
        if letter is None:
            raise UnsupportedSourceError(
                f"Unsupported OME-Zarr axis {entry!r} in {where!r}: expected axes "
                "named t, c, z, y, x (or of type 'time'/'channel'), got "
                f"{[a if isinstance(a, str) else a.get('name') for a in axes]}. "
                "Rewrite the image with standard axes, or point a file:// URI at "
                "the array and pass its axes.",
                source=where,
            )
        unit = entry.get("unit")
        letters.append(letter)
        units.append(str(unit) if unit else None)
    return "".join(letters), units


def _scale_of(transforms: Any, ndim: int, *, where: str) -> list[float] | None:
    """Multiply the scale transforms together; None when there is none."""
    scale: list[float] | None = None
    if not isinstance(transforms, list):
        return scale
    for transform in transforms:
        if isinstance(transform, dict) and transform.get("type") == "scale":
            values = transform.get("scale")
            if values is None:  # a scale stored in a separate array: not used
                continue
            if not isinstance(values, list) or len(values) != ndim:
                raise _malformed(where, f"a scale with {ndim} values", values)
            scale = [
                a * float(b) for a, b in zip(scale or [1.0] * ndim, values, strict=True)
            ]
    return scale


def _level_scale(
    multiscale: Mapping[str, Any],
    dataset: Mapping[str, Any],
    ndim: int,
    *,
    where: str,
) -> list[float] | None:
    level = _scale_of(dataset.get("coordinateTransformations"), ndim, where=where)
    common = _scale_of(multiscale.get("coordinateTransformations"), ndim, where=where)
    if level is None or common is None:
        return level or common
    return [a * b for a, b in zip(level, common, strict=True)]


def _channel_labels(block: Mapping[str, Any]) -> tuple[str, ...] | None:
    omero = block.get("omero")
    channels = omero.get("channels") if isinstance(omero, dict) else None
    if not isinstance(channels, list) or not channels:
        return None
    labels = [c.get("label") if isinstance(c, dict) else None for c in channels]
    if any(label is None for label in labels):
        return None
    return tuple(str(label) for label in labels)


def check_ome_axes(axes: str | None, ome_axes: str, *, where: str) -> str:
    """Reconcile the user's axes with the axes an OME-Zarr image declares.

    The metadata decides. The user may pass no axes (``None`` or ``""``), or axes
    that agree with the metadata; ``S`` and ``T`` count as the same letter, since
    both become the sample axis.

    Parameters
    ----------
    axes : str or None
        The axes the user passed.
    ome_axes : str
        The axes from the metadata, upper case.
    where : str
        The image's location, for messages.

    Returns
    -------
    str
        ``ome_axes``.

    Raises
    ------
    AxesError
        When the user's axes disagree with the metadata; the message gives both.

    Examples
    --------
    >>> check_ome_axes("", "TCYX", where="a.zarr"), check_ome_axes("scyx", "TCYX", where="a.zarr")
    ('TCYX', 'TCYX')
    """  # noqa: E501
    if not axes:
        return ome_axes
    given = axes.upper()
    if given.replace("S", "T") == ome_axes.replace("S", "T"):
        return ome_axes
    raise AxesError(
        f"Axes {axes!r} disagree with the OME-Zarr metadata of {where!r}: expected "
        f"{ome_axes!r} (from its multiscales axes), got {given!r}. The metadata "
        f"decides the layout of OME-Zarr images: pass axes={ome_axes!r} or axes=''."
    )
