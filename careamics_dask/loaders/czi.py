"""Loader for Zeiss CZI files through pylibCZIrw: one lazy image stack per scene.

Where each scene lies in the file (and what its metadata records) is read by
:mod:`careamics_dask.loaders._czi_layout`; this module reads its pixels plane by
plane and labels the stacks.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from careamics_dask.axes import check_czi_axes_validity
from careamics_dask.errors import (
    AxesError,
    MissingDependencyError,
    SourceNotFoundError,
    UnsupportedSourceError,
)
from careamics_dask.loaders._base import Loader
from careamics_dask.loaders._czi_layout import (
    PIXEL_DTYPES,
    CziDepthAxisError,
    CziLayout,
    read_channel_names,
    read_layouts,
    read_pixel_sizes,
)
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

_SCENE_SUFFIX = re.compile(r"^(?P<path>.+)@(?P<scene>\d+)$")
_NO_LOCK = contextlib.nullcontext()


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
    out = np.zeros(shape, dtype=PIXEL_DTYPES[layout.pixel_type])
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
            dtype=PIXEL_DTYPES[layout.pixel_type],
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
            layouts, root = read_layouts(czi, path, scene, axes)
            loaded = [
                _read_planes(czi, layout, _whole(layout), _NO_LOCK)
                if in_memory
                else None
                for layout in layouts
            ]
        depth = layouts[0].depth
        channel_names = read_channel_names(root, layouts[0].channels[1])
        pixel_sizes = read_pixel_sizes(root, None if depth is None else depth[0])
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
