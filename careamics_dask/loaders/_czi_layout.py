"""Where the stacks of a CZI file lie: scenes, depth axis, pixel types, metadata.

:func:`read_layouts` describes each scene of an open pylibCZIrw reader as a
:class:`CziLayout` (a path and numbers, so it pickles); :func:`read_channel_names`
and :func:`read_pixel_sizes` read the labels the file's XML metadata records.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import numpy as np

from careamics_dask.errors import (
    AxesError,
    UnsupportedDtypeError,
    UnsupportedSourceError,
)

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "PIXEL_DTYPES",
    "CziDepthAxisError",
    "CziLayout",
    "read_channel_names",
    "read_layouts",
    "read_pixel_sizes",
]

logger = logging.getLogger(__name__)

PIXEL_DTYPES = {"Gray8": "uint8", "Gray16": "uint16", "Gray32Float": "float32"}
_DTYPE_PIXELS = {v: k for k, v in PIXEL_DTYPES.items()}
_NOT_SAMPLES = frozenset("CXY")


class CziDepthAxisError(AxesError, RuntimeError):
    """A 3-D CZI layout names a depth axis (Z or T) the file does not have.

    It is a ``RuntimeError`` too, the builtin the reference raises here.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class CziLayout:
    """Where one scene's ``S C (depth) Y X`` array lies inside a CZI file.

    Attributes
    ----------
    path : str
        The CZI file.
    mtime_ns : int
        The file's modification time when it was opened (part of the Dask keys).
    scene : int or None
        The scene index, None for a file without scenes.
    rect : tuple of int
        The scene's bounding rectangle ``(x, y, w, h)`` in the file's pixels.
    depth : tuple of (str, int, int) or None
        The depth axis (``"Z"`` or ``"T"``), its first index and its size.
    sample_dims : tuple of (str, int, int)
        The dimensions folded into ``S`` with their first index and size, in the
        reader's bounding-box order (the last varies fastest).
    channels : tuple of (int, int)
        The first channel index and the channel count.
    pixel_type : str
        The pylibCZIrw pixel type every plane is read as.
    tile : tuple of int
        The chunk's ``(height, width)``: the largest layer-0 subblock of the
        scene, so a chunk reads about one subblock.
    """

    path: str
    mtime_ns: int
    scene: int | None
    rect: tuple[int, int, int, int]
    depth: tuple[str, int, int] | None
    sample_dims: tuple[tuple[str, int, int], ...]
    channels: tuple[int, int]
    pixel_type: str
    tile: tuple[int, int]

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape ``(S, C, [depth,] Y, X)``."""
        samples = math.prod(size for _, _, size in self.sample_dims)
        depth = () if self.depth is None else (self.depth[2],)
        return (samples, self.channels[1], *depth, self.rect[3], self.rect[2])

    @property
    def chunks(self) -> tuple[int, ...]:
        """One plane (or one subblock-sized tile of it) per chunk."""
        depth = () if self.depth is None else (1,)
        return (1, 1, *depth, *self.tile)

    @property
    def array_name(self) -> str:
        """The scene's name in messages and attrs, ``"scene N"`` or ``""``."""
        return "" if self.scene is None else f"scene {self.scene}"

    def sample_plane(self, index: int) -> dict[str, int]:
        """Return the plane coordinates of merged sample ``index``.

        Parameters
        ----------
        index : int
            Index along ``S``.

        Returns
        -------
        dict of str to int
            CZI dimension name to coordinate, e.g. ``{"T": 1, "Z": 0}``.
        """
        if not self.sample_dims:
            return {}
        sizes = tuple(size for _, _, size in self.sample_dims)
        coords = np.unravel_index(index, sizes)
        return {
            name: start + int(c)
            for (name, start, _), c in zip(self.sample_dims, coords, strict=True)
        }


def read_channel_names(root: ElementTree.Element, count: int) -> list[str] | None:
    channels = root.findall("Metadata/Information/Image/Dimensions/Channels/Channel")
    names = [channel.get("Name") or "" for channel in channels]
    if len(names) != count or not all(names):
        return None
    return names


def read_pixel_sizes(root: ElementTree.Element, depth: str | None) -> dict[str, float]:
    """Read Scaling/Items/Distance values (metres) as micrometres."""
    wanted = ("Z", "Y", "X") if depth == "Z" else ("Y", "X")
    sizes: dict[str, float] = {}
    for distance in root.findall("Metadata/Scaling/Items/Distance"):
        axis = distance.get("Id") or ""
        text = distance.findtext("Value")
        if axis not in wanted or text is None:
            continue
        try:
            metres = float(text)
        except ValueError:
            continue
        if math.isfinite(metres) and metres > 0:
            sizes[axis] = float(f"{metres * 1e6:.12g}")
    return {axis: sizes[axis] for axis in wanted if axis in sizes}


def _pixel_type(pixel_types: dict[int, str], source: str) -> str:
    if any("Bgr" in kind for kind in pixel_types.values()):
        raise UnsupportedSourceError(
            "CZI files with RGB channels are currently not supported. Expected "
            f"gray-level channels in {source!r}, got pixel types "
            f"{sorted(set(pixel_types.values()))}. Convert the file to gray "
            "channels (e.g. export each colour as a channel) first.",
            source=source,
        )
    unknown = sorted({k for k in pixel_types.values() if k not in PIXEL_DTYPES})
    if unknown or not pixel_types:
        raise UnsupportedDtypeError(
            f"Unsupported CZI pixel type in {source!r}: expected one of "
            f"{sorted(PIXEL_DTYPES)}, got {unknown or 'no channels'}. Convert "
            "the file with ZEN or Bio-Formats to 8/16-bit or float32 gray.",
            source=source,
        )
    dtype = np.result_type(*(PIXEL_DTYPES[k] for k in pixel_types.values()))
    return _DTYPE_PIXELS.get(str(dtype), "Gray32Float")


def _tile(
    czi: Any, rect: tuple[int, int, int, int], plane: dict[str, int]
) -> tuple[int, int]:
    """Return the largest layer-0 subblock of a scene's plane, capped by the scene."""
    heights: list[int] = []
    widths: list[int] = []

    def visit(_index: int, info: Any) -> bool:
        heights.append(int(info.logicalRect.h))
        widths.append(int(info.logicalRect.w))
        return True

    try:
        czi.enumerate_subblocks_subset(visit, plane=plane, roi=rect, only_layer0=True)
    except (RuntimeError, ValueError) as exc:  # the tile is an optimisation only
        logger.debug("could not enumerate subblocks of %r: %s", rect, exc)
    height = min(max(heights, default=rect[3]), rect[3])
    width = min(max(widths, default=rect[2]), rect[2])
    return max(height, 1), max(width, 1)


def _rect(rect: Any) -> tuple[int, int, int, int]:
    """Convert a pylibCZIrw ``Rectangle(x, y, w, h)`` to plain integers."""
    return int(rect[0]), int(rect[1]), int(rect[2]), int(rect[3])


def read_layouts(
    czi: Any, path: Path, scene: int | None, axes: str
) -> tuple[list[CziLayout], ElementTree.Element]:
    """Describe the stacks of one CZI file from its metadata."""
    source = str(path)
    bbox: dict[str, tuple[int, int]] = czi.total_bounding_box
    try:
        scenes: dict[int, Any] = dict(czi.scenes_bounding_rectangle)
    except ValueError as exc:
        raise UnsupportedSourceError(
            f"Cannot read the scenes of CZI file {source!r}: {exc}. Check the file "
            "with ZEN or Bio-Formats.",
            source=source,
        ) from exc
    depth_name = axes[2] if len(axes) == 5 else None
    depth = None
    if depth_name is not None:
        start, stop = bbox.get(depth_name, (0, 1))
        if stop - start <= 1:
            raise CziDepthAxisError(
                f"The CZI file {source} does not contain a {depth_name} axis to use "
                f"for 3-D denoising: expected {depth_name} larger than 1, got "
                f'{stop - start}. Consider setting `axes="SCYX"` to perform 2-D '
                "denoising instead."
            )
        depth = (depth_name, start, stop - start)
    sample_dims = tuple(
        (name, start, stop - start)
        for name, (start, stop) in bbox.items()
        if name not in _NOT_SAMPLES and name != depth_name
    )
    c_start, c_stop = bbox.get("C", (0, 1))
    pixel_type = _pixel_type(dict(czi.pixel_types), source)
    if scene is not None and scene not in scenes:
        raise UnsupportedSourceError(
            f"Scene {scene} not found in CZI file {source!r}: expected one of "
            f"{sorted(scenes) or 'no scenes (the file has none)'}. Use "
            f"'{path.name}@N' with an existing scene, or the bare path for all.",
            source=f"{source}@{scene}",
        )
    rects: dict[int | None, tuple[int, int, int, int]]
    if scenes:
        chosen = [scene] if scene is not None else sorted(scenes)
        rects = {n: _rect(scenes[n]) for n in chosen}
    else:
        rects = {None: _rect(czi.total_bounding_rectangle)}
    first_plane = {name: start for name, start, _ in sample_dims}
    first_plane["C"] = c_start
    if depth is not None:
        first_plane[depth[0]] = depth[1]
    mtime = path.stat().st_mtime_ns
    layouts = [
        CziLayout(
            path=source,
            mtime_ns=mtime,
            scene=number,
            rect=rect,
            depth=depth,
            sample_dims=sample_dims,
            channels=(c_start, c_stop - c_start),
            pixel_type=pixel_type,
            tile=_tile(czi, rect, first_plane),
        )
        for number, rect in rects.items()
    ]
    try:
        root = ElementTree.fromstring(czi.raw_metadata)
    except ElementTree.ParseError as exc:
        logger.warning("ignoring unreadable metadata of %s: %s", source, exc)
        root = ElementTree.Element("ImageDocument")
    return layouts, root
