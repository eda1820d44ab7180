"""Loader for TIFF files: series 0 of each file, read lazily page by page or by tile.

Opening reads the file's metadata only: the shape and dtype of series 0 (the series
the reference reads), the storage chunk layout (one chunk per page, strip or tile,
as tifffile's Zarr view of the file defines it), and, where the file records them,
channel names and physical pixel sizes (OME-TIFF ``Pixels`` attributes and channel
names; ImageJ hyperstack ``spacing`` and the X/Y resolution tags). Pixels are read
region by region through :class:`TiffRegionReader`, which opens the file through the
per-process handle cache, so a task carries a path and never an open file.

Bad input is reported as follows:

- a path that does not exist: :class:`~careamics_dask.errors.SourceNotFoundError`;
- a file tifffile cannot parse (not a TIFF, a broken header or image directory, no
  image series): :class:`~careamics_dask.errors.UnsupportedSourceError` at open time;
- a file whose metadata is intact but whose pixel data is truncated or corrupt:
  :class:`~careamics_dask.errors.SourceReadError` naming the file and the region
  when that region is computed (with ``in_memory=True``, at open time);
- axes that do not match the series' dimensions:
  :class:`~careamics_dask.errors.AxesError` naming the file.

The module is over 400 lines because the metadata parsing (OME and ImageJ), the
region reader and the loader are one format's contract and change together.
"""

from __future__ import annotations

import logging
import os
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import tifffile

from careamics_dask.axes import AxesLayout
from careamics_dask.errors import (
    CareamicsDaskWarning,
    SourceNotFoundError,
    SourceReadError,
    UnsupportedSourceError,
)
from careamics_dask.loaders._base import Loader
from careamics_dask.loaders._handles import cached_open
from careamics_dask.loaders._labels import build_image_stack
from careamics_dask.loaders._lazy import RegionReader, as_dask_array
from careamics_dask.loaders.units import convert_pixel_sizes

if TYPE_CHECKING:
    import numpy.typing as npt
    import xarray as xr

__all__ = ["TiffLoader", "TiffMetadata", "TiffRegionReader", "read_tiff_metadata"]

logger = logging.getLogger(__name__)

_SERIES = 0
_FILE_AXES = frozenset("TCZYX")


class _OpenTiff:
    """An open Zarr view of one TIFF series, cached per process."""

    def __init__(self, path: str, series: int) -> None:
        import zarr  # lazy: the bioimage loader imports this module beside zarr 2

        self._store = tifffile.imread(path, aszarr=True, series=series, level=0)
        try:
            self.array = zarr.open_array(self._store, mode="r")
        except Exception:
            self._store.close()
            raise

    def close(self) -> None:
        self._store.close()


class TiffRegionReader(RegionReader):
    """Reads regions of series 0 of a TIFF file through tifffile's Zarr view.

    Only the pages, strips or tiles a region touches are read and decoded. The
    reader holds the path, the file's modification time and size at open time; a
    read from a file that changed since then fails with a clear message instead of
    returning pixels that do not match the recorded shape.

    Parameters
    ----------
    source : str
        The TIFF file.
    shape : tuple of int
        The series' shape, in the file's own axes.
    dtype : numpy.typing.DTypeLike
        The series' dtype.
    chunks : tuple of int
        The storage chunk (page, strip or tile) in the file's axes.
    mtime_ns : int
        The file's modification time when it was opened, in nanoseconds.
    size : int
        The file's size in bytes when it was opened.
    series : int, default 0
        The image series read.
    """

    def __init__(
        self,
        *,
        source: str,
        shape: tuple[int, ...],
        dtype: npt.DTypeLike,
        chunks: tuple[int, ...],
        mtime_ns: int,
        size: int,
        series: int = _SERIES,
    ) -> None:
        super().__init__(
            source=source, array="", shape=shape, dtype=dtype, chunks=chunks
        )
        self.mtime_ns = int(mtime_ns)
        self.size = int(size)
        self.series = int(series)

    def read(self, region: tuple[slice, ...]) -> npt.NDArray[Any]:
        """Read one region of the series.

        Parameters
        ----------
        region : tuple of slice
            One slice per dimension, with explicit bounds.

        Returns
        -------
        numpy.ndarray
            The region's pixels.

        Raises
        ------
        OSError
            When the file changed since it was opened (wrapped into a
            :class:`~careamics_dask.errors.SourceReadError` by the caller).
        """
        stat = os.stat(self.source)
        if (stat.st_mtime_ns, stat.st_size) != (self.mtime_ns, self.size):
            raise OSError(
                f"the file changed since it was opened (size {self.size} -> "
                f"{stat.st_size} bytes, or a new modification time); reopen it"
            )
        key = ("tiff", self.source, self.series, self.mtime_ns, self.size)
        handle = cached_open(key, lambda: _OpenTiff(self.source, self.series))
        return np.asarray(handle.array[region])

    def __dask_tokenize__(self) -> object:
        return (super().__dask_tokenize__(), self.series, self.mtime_ns, self.size)


@dataclass(frozen=True, slots=True, kw_only=True)
class TiffMetadata:
    """What opening a TIFF file learns without reading pixels.

    Attributes
    ----------
    shape : tuple of int
        Shape of series 0 (tifffile's squeezed shape, as the reference reads it).
    dtype : numpy.dtype
        Its dtype.
    chunks : tuple of int
        The storage chunk shape (page, strip or tile), in the series' axes.
    tiff_axes : str
        tifffile's axes letters for the series (informational only).
    channel_names : tuple of str, optional
        Channel names from OME metadata.
    pixel_sizes : dict of str to float
        Physical pixel sizes keyed by ``"Z"``, ``"Y"``, ``"X"`` (may be empty), in
        micrometres whenever the file gives a length unit for them.
    pixel_unit : str, optional
        The unit of the pixel sizes (``"micrometer"``, see
        :mod:`careamics_dask.loaders.units`).
    file_axes : str, optional
        The series' axes as the file's OME or ImageJ metadata records them, in
        letters of ``TCZYX``; None for plain TIFFs, or axes outside ``TCZYX``
        (RGB samples, tifffile's generic ``I``/``Q``).
    """

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    chunks: tuple[int, ...]
    tiff_axes: str
    channel_names: tuple[str, ...] | None
    pixel_sizes: dict[str, float]
    pixel_unit: str | None
    file_axes: str | None = None


def _ome_metadata(
    xml: str, series: int, *, source: str
) -> tuple[tuple[str, ...] | None, dict[str, float], str | None]:
    """Channel names, pixel sizes (converted per axis) and unit of an OME image."""
    root = ET.fromstring(xml)
    images = root.findall("{*}Image")
    image = images[series] if series < len(images) else None
    pixels = image.find("{*}Pixels") if image is not None else None
    if pixels is None:
        return None, {}, None
    sizes = {
        axis: float(pixels.attrib[f"PhysicalSize{axis}"])
        for axis in "ZYX"
        if f"PhysicalSize{axis}" in pixels.attrib
    }
    # the OME schema's default unit of every PhysicalSize is the micrometre
    units = {a: pixels.attrib.get(f"PhysicalSize{a}Unit", "µm") for a in sizes}
    names = [c.attrib.get("Name") for c in pixels.findall("{*}Channel")]
    channel_names = tuple(str(n) for n in names) if names and all(names) else None
    converted, unit = convert_pixel_sizes(sizes, units, source=source)
    return channel_names, converted, unit


def _imagej_metadata(
    tif: tifffile.TiffFile, tiff_axes: str, *, source: str
) -> tuple[dict[str, float], str | None]:
    """Pixel sizes and unit of an ImageJ hyperstack (spacing, X/Y resolution).

    ImageJ's ``unit`` holds for every axis unless ``yunit`` / ``zunit`` say
    otherwise (ImageJ's per-axis calibration).
    """
    meta = tif.imagej_metadata or {}
    unit = meta.get("unit")
    units = {"X": unit, "Y": meta.get("yunit", unit), "Z": meta.get("zunit", unit)}
    sizes: dict[str, float] = {}
    if "spacing" in meta and "Z" in tiff_axes:
        sizes["Z"] = float(meta["spacing"])
    tags = tif.pages.first.tags
    for axis in "YX":
        tag = tags.get(f"{axis}Resolution")
        if tag is None:
            continue
        numerator, denominator = tag.value
        if numerator and (unit is not None or (numerator, denominator) != (1, 1)):
            sizes[axis] = float(denominator) / float(numerator)
    return convert_pixel_sizes(sizes, units, source=source)


def read_tiff_metadata(path: str | Path, series: int = _SERIES) -> TiffMetadata:
    """Read the shape, chunk layout and physical metadata of a TIFF series.

    The file is opened, its image directories parsed and closed again; no pixel
    is read. Pixel sizes are converted to micrometres axis by axis (an OME-TIFF
    may give X and Y in nanometres and Z in micrometres).

    Parameters
    ----------
    path : str or pathlib.Path
        The TIFF file.
    series : int, default 0
        The image series (OME image) whose metadata is read.

    Returns
    -------
    TiffMetadata
        The series' shape, dtype, storage chunks, channel names and pixel sizes.

    Raises
    ------
    SourceNotFoundError
        When the file does not exist.
    UnsupportedSourceError
        When tifffile cannot parse the file as a TIFF with an image series.
    SourceReadError
        When the operating system fails to read the file.

    Examples
    --------
    >>> import tifffile, numpy as np  # doctest: +SKIP
    >>> data = np.zeros((2, 64, 64), "uint8")  # doctest: +SKIP
    >>> tifffile.imwrite("a.tif", data, tile=(32, 32))  # doctest: +SKIP
    >>> read_tiff_metadata("a.tif").chunks  # doctest: +SKIP
    (1, 32, 32)
    """
    text = str(path)
    if not Path(text).is_file():
        raise SourceNotFoundError(
            f"TIFF file {text!r} does not exist or is not a file. Check the path.",
            source=text,
        )
    try:
        with tifffile.TiffFile(text) as tif:
            chosen = tif.series[series]
            shape = tuple(int(s) for s in chosen.shape)
            dtype = np.dtype(chosen.dtype)
            tiff_axes = str(chosen.axes)
            store = chosen.aszarr(level=0)
            import zarr  # lazy, as in _OpenTiff

            try:
                chunks = tuple(int(c) for c in zarr.open_array(store, mode="r").chunks)
            finally:
                store.close()
            names: tuple[str, ...] | None = None
            sizes: dict[str, float] = {}
            unit = None
            described = False
            if tif.is_ome and tif.ome_metadata:
                names, sizes, unit = _ome_metadata(
                    tif.ome_metadata, series, source=text
                )
                described = True
            elif tif.is_imagej:
                sizes, unit = _imagej_metadata(tif, tiff_axes, source=text)
                described = True
    except OSError as exc:
        raise SourceReadError(
            f"Failed to read the metadata of TIFF file {text!r}: {exc}. Check that "
            "the file is readable and the disk or share holding it is mounted.",
            source=text,
            array="",
            region="metadata",
        ) from exc
    except Exception as exc:
        raise UnsupportedSourceError(
            f"File {text!r} is not a valid TIFF: expected a TIFF header and image "
            f"directories tifffile can parse, got {type(exc).__name__}: {exc}. "
            "Check that the file is a complete TIFF, or pass the data type that "
            "matches it.",
            source=text,
        ) from exc
    return TiffMetadata(
        shape=shape,
        dtype=dtype,
        chunks=chunks,
        tiff_axes=tiff_axes,
        channel_names=names,
        pixel_sizes=sizes,
        pixel_unit=unit,
        file_axes=tiff_axes if described and set(tiff_axes) <= _FILE_AXES else None,
    )


def _axes_conflict(given: str, file_axes: str) -> bool:
    """Whether the user's axes contradict the file's (``S`` may stand for T or Z)."""
    if len(given) != len(file_axes):
        return True
    return any(
        g != f and not (g == "S" and f in "TZ")
        for g, f in zip(given, file_axes, strict=True)
    )


def _warn_axes_conflict(path: str, given: str, meta: TiffMetadata) -> None:
    names = meta.channel_names
    dropped = (
        f"its {len(names)} channel names {list(names)} are dropped"
        if names
        else "the file's layout is overridden"
    )
    warnings.warn(
        f"Axes {given!r} given for TIFF file {path!r} conflict with the axes its "
        f"metadata records: expected {meta.file_axes!r} (S may stand for T or Z), "
        f"got {given!r}. The given axes are used and {dropped}. Pass "
        f"axes={meta.file_axes!r} (or axes='' to use the file's axes) if the "
        "metadata is right.",
        CareamicsDaskWarning,
        stacklevel=4,
    )


def _read_whole(path: str) -> npt.NDArray[Any]:
    """Read series 0 of a TIFF into memory, naming the file on failure."""
    try:
        return np.asarray(tifffile.imread(path, series=_SERIES))
    except Exception as exc:
        raise SourceReadError(
            f"Failed to read the pixels of TIFF file {path!r}: "
            f"{type(exc).__name__}: {exc}. The file may be truncated or corrupt; "
            "check it with the program that wrote it, or regenerate it.",
            source=path,
            array="",
            region="[all]",
        ) from exc


class TiffLoader(Loader):
    """Open TIFF files (``.tif``, ``.tiff``) as image stacks.

    Series 0 of the file is read (as in the reference). Lazily, each Dask chunk is
    one storage chunk: a page of a multi-page file, a strip, or a tile of a tiled
    file, so a region read decodes only the pages or tiles it touches. With
    ``in_memory=True`` the series is read with ``tifffile.imread`` into NumPy.
    Compressed files (zlib, zstd, LZW, JPEG, ... through imagecodecs) read the same
    way.

    Examples
    --------
    >>> import numpy as np, tifffile  # doctest: +SKIP
    >>> tifffile.imwrite("a.tif", np.zeros((3, 64, 64), "uint16"))  # doctest: +SKIP
    >>> [stack] = TiffLoader().open("a.tif", "SYX")  # doctest: +SKIP
    >>> stack.dims, stack.shape, stack.data.chunksize  # doctest: +SKIP
    (('S', 'C', 'Y', 'X'), (3, 1, 64, 64), (1, 1, 64, 64))
    """

    name: ClassVar[str] = "tiff"
    description: ClassVar[str] = "TIFF, OME-TIFF and ImageJ TIFF files (series 0)"
    extensions: ClassVar[tuple[str, ...]] = (".tif", ".tiff")

    def open(
        self, source: Any, axes: str, *, in_memory: bool = False, **kwargs: Any
    ) -> list[xr.DataArray]:
        """Open series 0 of one TIFF file, reading metadata only.

        Parameters
        ----------
        source : str or pathlib.Path
            The TIFF file.
        axes : str
            The axes of the series, one letter per dimension of tifffile's
            (squeezed) series shape; ``""`` uses the axes the file's OME or
            ImageJ metadata records. Axes that conflict with those get a
            :class:`~careamics_dask.errors.CareamicsDaskWarning`.
        in_memory : bool, default False
            Read the pixels now with ``tifffile.imread``.
        **kwargs : Any
            Not used; accepted so every loader takes the same call.

        Returns
        -------
        list of xarray.DataArray
            One image stack, with channel names and pixel sizes where the file
            records them.

        Raises
        ------
        SourceNotFoundError
            When the file does not exist.
        UnsupportedSourceError
            When the source is not a path, or not a TIFF tifffile can parse.
        SourceReadError
            When the operating system fails to read the file, or (with
            ``in_memory=True``) its pixel data is truncated or corrupt.
        AxesError
            When the axes are invalid or do not match the series' dimensions.
        """
        if not isinstance(source, str | os.PathLike):
            raise UnsupportedSourceError(
                "TIFF sources must be paths: expected a str or pathlib.Path, got "
                f"{type(source).__name__}. Use data_type='array' for arrays.",
                source=repr(source)[:80],
            )
        path = os.fspath(source)
        meta = read_tiff_metadata(path)
        if not axes and meta.file_axes:
            axes = meta.file_axes
        elif meta.file_axes and _axes_conflict(axes.upper(), meta.file_axes):
            _warn_axes_conflict(path, axes.upper(), meta)
        layout = AxesLayout.from_source(axes, meta.shape, source=path)
        names = meta.channel_names
        if names is not None and len(names) != layout.canonical_shape[1]:
            logger.debug(
                "ignoring %d channel names of %s: the axes %r give %d channels",
                len(names),
                path,
                layout.axes,
                layout.canonical_shape[1],
            )
            names = None
        sizes = {k: v for k, v in meta.pixel_sizes.items() if k in layout.axes}
        data: Any
        if in_memory:
            data = _read_whole(path)
        else:
            stat = os.stat(path)
            reader = TiffRegionReader(
                source=path,
                shape=meta.shape,
                dtype=meta.dtype,
                chunks=meta.chunks,
                mtime_ns=stat.st_mtime_ns,
                size=stat.st_size,
            )
            data = as_dask_array(reader)
        return [
            build_image_stack(
                data,
                layout.axes,
                source=path,
                channel_names=names,
                pixel_sizes=sizes or None,
                pixel_unit=meta.pixel_unit if sizes else None,
            )
        ]
