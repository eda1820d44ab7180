"""Loader for Zeiss CZI files through pylibCZIrw: one lazy image stack per scene.

Over 400 lines because the scene layout (subblock rectangles, depth axis, pixel
types), the region reader over it and the loader are one format's contract that
changes together; the layout parsing is the part to split off next.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from xml.etree import ElementTree

import numpy as np

from careamics_dask.axes import check_czi_axes_validity
from careamics_dask.errors import (
    AxesError,
    MissingDependencyError,
    SourceNotFoundError,
    UnsupportedDtypeError,
    UnsupportedSourceError,
)
from careamics_dask.loaders._base import Loader
from careamics_dask.loaders._handles import cached_open
from careamics_dask.loaders._labels import build_image_stack
from careamics_dask.loaders._lazy import RegionReader, as_dask_array

if TYPE_CHECKING:
    import types
    from collections.abc import Iterator

    import numpy.typing as npt
    import xarray as xr

__all__ = ["CziDepthAxisError", "CziLayout", "CziLoader", "CziRegionReader"]

logger = logging.getLogger(__name__)

_PIXEL_DTYPES = {"Gray8": "uint8", "Gray16": "uint16", "Gray32Float": "float32"}
_DTYPE_PIXELS = {v: k for k, v in _PIXEL_DTYPES.items()}
_NOT_SAMPLES = frozenset("CXY")
_SCENE_SUFFIX = re.compile(r"^(?P<path>.+)@(?P<scene>\d+)$")
_NO_LOCK = contextlib.nullcontext()


class CziDepthAxisError(AxesError, RuntimeError):
    """A 3-D CZI layout names a depth axis (Z or T) the file does not have.

    It is a ``RuntimeError`` too, the builtin the reference raises here.
    """


def _import_pylibczirw() -> types.ModuleType:
    """Import ``pylibCZIrw.czi`` or explain how to install it."""
    try:
        return importlib.import_module("pylibCZIrw.czi")
    except ImportError as exc:
        raise MissingDependencyError(
            "Reading CZI files needs the `pylibCZIrw` package: expected it to be "
            f"importable, got {type(exc).__name__}: {exc}. Install it with "
            "`pip install 'careamics-dask[czi]'`.",
            extra="czi",
        ) from exc


def _split_scene(source: str | Path) -> tuple[Path, int | None]:
    """Split ``file.czi@3`` into the path and the scene index."""
    match = _SCENE_SUFFIX.match(str(source))
    if match is None:
        return Path(source), None
    return Path(match["path"]), int(match["scene"])


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


@contextlib.contextmanager
def _open_reader(module: types.ModuleType, path: Path) -> Iterator[Any]:
    """Open a CZI file for metadata (what ``pylibCZIrw.czi.open_czi`` does)."""
    try:
        reader = module.CziReader(str(path))
    except (RuntimeError, OSError, ValueError) as exc:
        raise UnsupportedSourceError(
            f"Cannot open {str(path)!r} as a CZI file: {type(exc).__name__}: "
            f"{exc}. Check that it is a complete CZI file.",
            source=str(path),
        ) from exc
    try:
        yield reader
    finally:
        reader.close()


def _whole(layout: CziLayout) -> tuple[slice, ...]:
    return tuple(slice(0, n) for n in layout.shape)


class _OpenCzi:
    """A cached CZI reader with the lock that serializes its reads."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.lock = threading.Lock()

    def close(self) -> None:
        self.reader.close()


def _read_planes(
    czi: Any,
    layout: CziLayout,
    region: tuple[slice, ...],
    lock: contextlib.AbstractContextManager[Any],
) -> npt.NDArray[Any]:
    """Read a region plane by plane with an open pylibCZIrw reader."""
    shape = tuple(s.stop - s.start for s in region)
    out = np.zeros(shape, dtype=_PIXEL_DTYPES[layout.pixel_type])
    if out.size == 0:
        return out
    rows, cols = region[-2], region[-1]
    x0, y0 = layout.rect[0], layout.rect[1]
    roi = (x0 + cols.start, y0 + rows.start, shape[-1], shape[-2])
    depth_range: list[int | None] = [None]
    if layout.depth is not None:
        depth_range = list(range(region[2].start, region[2].stop))
    for i, sample in enumerate(range(region[0].start, region[0].stop)):
        base = layout.sample_plane(sample)
        for j, channel in enumerate(range(region[1].start, region[1].stop)):
            plane = {**base, "C": layout.channels[0] + channel}
            for k, depth in enumerate(depth_range):
                index: tuple[int, ...] = (i, j)
                if layout.depth is not None and depth is not None:
                    plane[layout.depth[0]] = layout.depth[1] + depth
                    index = (i, j, k)
                with lock:
                    data = czi.read(
                        roi=roi,
                        plane=plane,
                        scene=layout.scene,
                        pixel_type=layout.pixel_type,
                    )
                out[index] = data[..., 0]
    return out


class CziRegionReader(RegionReader):
    """Reads regions of one CZI scene, opening the file once per process.

    Parameters
    ----------
    layout : CziLayout
        The scene's layout; it holds only the path and numbers, so it pickles.
    """

    def __init__(self, layout: CziLayout) -> None:
        super().__init__(
            source=layout.path,
            array=layout.array_name,
            shape=layout.shape,
            dtype=_PIXEL_DTYPES[layout.pixel_type],
            chunks=layout.chunks,
        )
        self.layout = layout

    def _handle(self) -> _OpenCzi:
        path = self.layout.path
        stat = os.stat(path)
        module = _import_pylibczirw()
        return cached_open(
            ("czi", path, stat.st_mtime_ns, stat.st_size),
            lambda: _OpenCzi(module.CziReader(path)),
        )

    def read(self, region: tuple[slice, ...]) -> npt.NDArray[Any]:
        """Read a region ``(S, C, [depth,] Y, X)`` plane by plane.

        Parameters
        ----------
        region : tuple of slice
            One bounded slice per dimension.

        Returns
        -------
        numpy.ndarray
            The pixels.
        """
        handle = self._handle()
        return _read_planes(handle.reader, self.layout, region, handle.lock)

    def __dask_tokenize__(self) -> object:
        return (super().__dask_tokenize__(), self.layout)


def _channel_names(root: ElementTree.Element, count: int) -> list[str] | None:
    channels = root.findall("Metadata/Information/Image/Dimensions/Channels/Channel")
    names = [channel.get("Name") or "" for channel in channels]
    if len(names) != count or not all(names):
        return None
    return names


def _pixel_sizes(root: ElementTree.Element, depth: str | None) -> dict[str, float]:
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
    unknown = sorted({k for k in pixel_types.values() if k not in _PIXEL_DTYPES})
    if unknown or not pixel_types:
        raise UnsupportedDtypeError(
            f"Unsupported CZI pixel type in {source!r}: expected one of "
            f"{sorted(_PIXEL_DTYPES)}, got {unknown or 'no channels'}. Convert "
            "the file with ZEN or Bio-Formats to 8/16-bit or float32 gray.",
            source=source,
        )
    dtype = np.result_type(*(_PIXEL_DTYPES[k] for k in pixel_types.values()))
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


def _layouts(
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


class CziLoader(Loader):
    """Open Zeiss CZI files lazily, one image stack per scene (needs pylibCZIrw).

    Axes are ``SCYX``, ``SCZYX`` or ``SCTYX``: the depth axis is ``Z`` or ``T``,
    and every other dimension of the file (``T`` and ``Z`` for 2-D, ``R``, ``I``,
    ``H``, ``V``, ``B``...) folds into ``S`` in the reader's bounding-box order,
    the last varying fastest. ``file.czi@N`` opens scene ``N`` only. Each chunk
    is one plane of one sample, channel and depth slice, tiled like the file's
    largest subblock. A stack opened as ``SCTYX`` has dims ``S C Z Y X`` (``T``
    is the depth), so its ``original_axes`` is ``"SCZYX"``; the requested axes
    are kept in ``attrs["czi_axes"]``, the sizes folded into ``S`` in
    ``attrs["czi_sample_dims"]`` and the scene index in ``attrs["czi_scene"]``.
    Channel names and pixel sizes (metres in the file, micrometres here) come
    from the file's metadata.

    Examples
    --------
    >>> [stack] = CziLoader().open("cells.czi@0", "SCZYX")  # doctest: +SKIP
    >>> stack.dims  # doctest: +SKIP
    ('S', 'C', 'Z', 'Y', 'X')
    """

    name: ClassVar[str] = "czi"
    description: ClassVar[str] = "Zeiss CZI files through pylibCZIrw, one per scene"
    extensions: ClassVar[tuple[str, ...]] = (".czi",)

    @classmethod
    def guess_can_open(cls, source: Any) -> bool:
        """Accept paths ending in ``.czi``, with or without an ``@N`` scene.

        Parameters
        ----------
        source : Any
            The source item.

        Returns
        -------
        bool
            True for CZI paths.

        Examples
        --------
        >>> CziLoader.guess_can_open("a/b.CZI@2"), CziLoader.guess_can_open("b.tif")
        (True, False)
        """
        if not isinstance(source, str | Path):
            return False
        return super().guess_can_open(_split_scene(source)[0])

    def open(
        self, source: Any, axes: str, *, in_memory: bool = False, **kwargs: Any
    ) -> list[xr.DataArray]:
        """Open the scenes of one CZI file, reading metadata only.

        Parameters
        ----------
        source : str or pathlib.Path
            The file, optionally with ``@N`` to select scene ``N``.
        axes : str
            ``"SCYX"``, ``"SCZYX"`` or ``"SCTYX"``.
        in_memory : bool, default False
            Read every plane now into NumPy arrays.
        **kwargs : Any
            Not used; accepted so every loader takes the same call.

        Returns
        -------
        list of xarray.DataArray
            One stack per scene (one for a file without scenes).

        Raises
        ------
        AxesError
            For axes other than the three CZI layouts; ``CziDepthAxisError`` when
            the depth axis has size 1.
        SourceNotFoundError
            When the file does not exist.
        MissingDependencyError
            When pylibCZIrw is not installed.
        UnsupportedSourceError
            For RGB files, unreadable files and scenes that do not exist.
        """
        if not check_czi_axes_validity(axes):
            raise AxesError(
                f"Provided axes '{axes}' are not valid. Axes must be in the "
                "`SC(Z/T)YX` format, where Z or T are optional, and S and C can be "
                "singleton dimensions, but must be provided."
            )
        path, scene = _split_scene(source)
        if not path.is_file():
            raise SourceNotFoundError(
                f"CZI file {str(path)!r} does not exist. Check the spelling and that "
                "the disk holding it is mounted.",
                source=str(source),
            )
        with _open_reader(_import_pylibczirw(), path) as czi:
            layouts, root = _layouts(czi, path, scene, axes)
            loaded = [
                _read_planes(czi, layout, _whole(layout), _NO_LOCK)
                if in_memory
                else None
                for layout in layouts
            ]
        depth = layouts[0].depth
        channel_names = _channel_names(root, layouts[0].channels[1])
        pixel_sizes = _pixel_sizes(root, None if depth is None else depth[0])
        stacks = []
        for layout, data in zip(layouts, loaded, strict=True):
            pixels = as_dask_array(CziRegionReader(layout)) if data is None else data
            attrs: dict[str, Any] = {
                "czi_axes": axes,
                "czi_sample_dims": {n: s for n, _, s in layout.sample_dims},
            }
            if layout.scene is not None:
                attrs["czi_scene"] = layout.scene
            stacks.append(
                build_image_stack(
                    pixels,
                    "SCZYX" if depth is not None else "SCYX",
                    source=layout.path,
                    array=layout.array_name,
                    channel_names=channel_names,
                    pixel_sizes=pixel_sizes,
                    pixel_unit="micrometer" if pixel_sizes else None,
                    attrs=attrs,
                )
            )
        return stacks
