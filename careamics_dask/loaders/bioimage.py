"""Loader for bioio ``BioImage`` / aicsimageio ``AICSImage`` objects, one per scene.

Pixel sizes and channel names follow the project's conventions, not the reader's
guesses: for TIFF files they come from the file's own OME or ImageJ metadata (read
by :func:`~careamics_dask.loaders.tiff.read_tiff_metadata`, converted to micrometres
per axis), so bioio-tifffile's invented ``1.0`` for a file without resolution
metadata is not passed on; channel names a reader generates (bioio's
``Channel:<image>:<index>``) count as no names, and the ``C`` coordinate is then
``0..C-1`` as in every loader.

The module is over 400 lines because the scene selection, the region reader and
these metadata rules are one object kind's contract and change together.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from careamics_dask.errors import (
    AxesError,
    CareamicsDaskError,
    UnsupportedSourceError,
)
from careamics_dask.loaders._base import Loader
from careamics_dask.loaders._handles import cached_open
from careamics_dask.loaders._labels import build_image_stack
from careamics_dask.loaders._lazy import RegionReader, as_dask_array
from careamics_dask.loaders.tiff import TiffMetadata, read_tiff_metadata
from careamics_dask.loaders.units import MICROMETER

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt
    import xarray as xr

__all__ = ["BioImageLoader", "BioImageRegionReader"]

logger = logging.getLogger(__name__)

REQUIRED_ATTRIBUTES = (
    "xarray_dask_data",
    "dims",
    "scenes",
    "set_scene",
    "physical_pixel_sizes",
)
"""What an object must expose to be opened as a bioio-like image."""

_KEPT = "TCZYX"
_TIFF_SUFFIXES = (".tif", ".tiff")
_GENERATED_NAME = re.compile(r"Channel:\d+:\d+")
"""The channel names bioio and bioio-tifffile make up for files without names."""


def _has_attribute(source: Any, name: str) -> bool:
    """Look an attribute up without evaluating properties (a cheap probe)."""
    return hasattr(type(source), name) or name in getattr(source, "__dict__", {})


def _source_of(image: Any) -> str:
    """Return the file behind a bioio-like object, else its ``str``."""
    for holder in (getattr(image, "_reader", None), image):
        path = getattr(holder, "_path", None)
        if isinstance(path, str | os.PathLike) and str(path):
            return str(path)
    return str(image)


def _keep_dims(dims: str, shape: Sequence[int], axes: str, source: str) -> str:
    """Choose the object's dims that become the stack's axes (see the loader)."""
    sizes = dict(zip(dims, shape, strict=True))
    for dim, size in sizes.items():
        if dim in _KEPT or size == 1:
            continue
        if dim == "S":
            raise UnsupportedSourceError(
                f"RGB(A) images are not supported: {source!r} has {size} samples per "
                f"pixel (bioio dim 'S' in {dims!r}), expected gray channels. Convert "
                "the colours to channels first, e.g. an xarray DataArray with C.",
                source=source,
            )
        raise UnsupportedSourceError(
            f"Unsupported dimension {dim!r} of size {size} in {source!r} (dims "
            f"{dims!r}): expected only {_KEPT} beyond singletons. Select one index "
            "of it and pass the result as an array.",
            source=source,
        )
    available = "".join(d for d in dims if d in _KEPT)
    if not axes:
        return available
    wanted = axes.upper()
    unknown = sorted(set(wanted) - set(available))
    dropped = [d for d in available if d not in wanted and sizes[d] > 1]
    if unknown or dropped or len(set(wanted)) != len(wanted):
        raise AxesError(
            f"Axes {axes!r} do not fit the dims of {source!r}: expected letters of "
            f"{available!r} (sizes {sizes}) where every dim left out has size 1, got "
            f"unknown {unknown} and non-singleton dims left out {dropped}. Pass "
            f"axes={available!r}, or axes='' to use the object's dims."
        )
    return "".join(d for d in available if d in wanted)


class BioImageRegionReader(RegionReader):
    """Reads regions of one scene of a pickled bioio-like object.

    The object travels as pickle bytes; each process unpickles its own copy once
    (through the handle cache), selects the scene and reads from its Dask data
    with the synchronous scheduler, so the user's object is never touched.

    Parameters
    ----------
    payload : bytes
        The pickled object.
    scene : int
        The scene index.
    dims : str
        The object's dims for that scene, e.g. ``"TCZYX"``.
    kept : str
        The dims the reader exposes; the others are singletons it drops.
    source : str
        The file behind the object, for messages.
    array : str
        The scene's name.
    shape : tuple of int
        The shape over ``kept``.
    dtype : numpy.typing.DTypeLike
        The pixel dtype.
    chunks : tuple of int
        The object's own chunks over ``kept``.
    """

    def __init__(
        self,
        *,
        payload: bytes,
        scene: int,
        dims: str,
        kept: str,
        source: str,
        array: str,
        shape: tuple[int, ...],
        dtype: npt.DTypeLike,
        chunks: tuple[int, ...],
    ) -> None:
        super().__init__(
            source=source, array=array, shape=shape, dtype=dtype, chunks=chunks
        )
        self.payload = payload
        self.scene = scene
        self.dims = dims
        self.kept = kept
        self.token = hashlib.sha256(payload).hexdigest()

    def _image(self) -> Any:
        def unpickle() -> Any:
            image = pickle.loads(self.payload)  # our own bytes
            image.set_scene(self.scene)
            return image

        return cached_open(("bioimage", self.token, self.scene), unpickle)

    def read(self, region: tuple[slice, ...]) -> npt.NDArray[Any]:
        """Read a region over the kept dims.

        Parameters
        ----------
        region : tuple of slice
            One bounded slice per kept dim.

        Returns
        -------
        numpy.ndarray
            The pixels.
        """
        by_dim = dict(zip(self.kept, region, strict=True))
        full = tuple(by_dim.get(dim, slice(0, 1)) for dim in self.dims)
        data = self._image().xarray_dask_data.data[full]
        values = np.asarray(data.compute(scheduler="synchronous"))
        return values.reshape(tuple(s.stop - s.start for s in region))

    def __dask_tokenize__(self) -> object:
        return (super().__dask_tokenize__(), self.token, self.scene, self.kept)


def _select_scenes(
    available: Sequence[str], scenes: Sequence[int | str] | None, source: str
) -> list[int]:
    if scenes is None:
        return list(range(len(available)))
    chosen = []
    for scene in scenes:
        if isinstance(scene, int) and 0 <= scene < len(available):
            chosen.append(scene)
        elif isinstance(scene, str) and scene in available:
            chosen.append(list(available).index(scene))
        else:
            raise UnsupportedSourceError(
                f"Scene {scene!r} not found in {source!r}: expected an index below "
                f"{len(available)} or one of {list(available)}. Check `scenes=`.",
                source=source,
            )
    return chosen


def _tiff_metadata(source: str, scene: int) -> TiffMetadata | None:
    """Read the file's own metadata when the object reads a local TIFF."""
    if not source.lower().endswith(_TIFF_SUFFIXES) or not os.path.isfile(source):
        return None
    try:
        return read_tiff_metadata(source, series=scene)
    except (CareamicsDaskError, IndexError) as exc:
        logger.debug("no TIFF metadata of %s, scene %d: %s", source, scene, exc)
        return None


def _pixel_sizes(
    image: Any, kept: str, tiff: TiffMetadata | None
) -> tuple[dict[str, float], str | None]:
    if tiff is not None:
        sizes = {k: v for k, v in tiff.pixel_sizes.items() if k in kept}
        return sizes, tiff.pixel_unit if sizes else None
    physical = image.physical_pixel_sizes
    found = {axis: getattr(physical, axis, None) for axis in "ZYX" if axis in kept}
    sizes = {axis: float(value) for axis, value in found.items() if value is not None}
    return sizes, MICROMETER if sizes else None


def _channel_names(
    image: Any, count: int, tiff: TiffMetadata | None
) -> list[str] | None:
    names = getattr(image, "channel_names", None)
    generated = names is not None and all(
        _GENERATED_NAME.fullmatch(str(name)) for name in names
    )
    if names is None or len(names) != count or generated:
        names = None
    if names is None and tiff is not None and tiff.channel_names is not None:
        names = tiff.channel_names if len(tiff.channel_names) == count else None
    return None if names is None else [str(name) for name in names]


class BioImageLoader(Loader):
    """Open bioio ``BioImage`` and aicsimageio ``AICSImage`` objects lazily.

    Any object exposing ``xarray_dask_data``, ``dims``, ``scenes``, ``set_scene``
    and ``physical_pixel_sizes`` is accepted (neither package is imported here).
    Every scene becomes one image stack (or those named by ``scenes=``), with the
    object's dims as its axes: bioio's ``TCZYX`` stays ``TCZYX`` (``T`` merges
    into ``S``), nothing is squeezed. The ``axes`` argument is either empty (use
    the object's dims) or the letters to keep, in any order: each dim left out
    must be a singleton and is dropped (``"CYX"`` makes a 2-D stack of a
    ``TCZYX`` object with ``T = Z = 1``). Channel names come from
    ``channel_names`` (generated ``Channel:0:1`` names are no names), pixel sizes
    (micrometres) from ``physical_pixel_sizes``, or, for TIFF files, both from the
    file's OME/ImageJ metadata (see the module);
    ``source`` is the object's file and ``array`` the scene name. RGB samples
    (bioio dim ``S``) are rejected.

    The object must pickle (bioio and aicsimageio readers on files do): each
    worker reads from its own unpickled copy, chunked like the object's Dask data.
    The caller's object is not modified (its current scene is kept).

    Examples
    --------
    >>> from bioio import BioImage  # doctest: +SKIP
    >>> stacks = BioImageLoader().open(BioImage("cells.tif"), "")  # doctest: +SKIP
    """

    name: ClassVar[str] = "bioimage"
    description: ClassVar[str] = "bioio BioImage and aicsimageio AICSImage objects"

    @classmethod
    def guess_can_open(cls, source: Any) -> bool:
        """Accept objects with the bioio image attributes (duck typing).

        Parameters
        ----------
        source : Any
            The source item.

        Returns
        -------
        bool
            True when every attribute of ``REQUIRED_ATTRIBUTES`` exists; no
            property is evaluated.

        Examples
        --------
        >>> BioImageLoader.guess_can_open("cells.tif")
        False
        """
        return all(_has_attribute(source, name) for name in REQUIRED_ATTRIBUTES)

    def open(
        self,
        source: Any,
        axes: str,
        *,
        in_memory: bool = False,
        scenes: Sequence[int | str] | None = None,
        **kwargs: Any,
    ) -> list[xr.DataArray]:
        """Open the scenes of one bioio-like object, reading metadata only.

        Parameters
        ----------
        source : Any
            A ``bioio.BioImage``, ``aicsimageio.AICSImage`` or a reader alike.
        axes : str
            ``""`` for the object's dims, or the dims to keep (see the class).
        in_memory : bool, default False
            Read each scene now into a NumPy array.
        scenes : Sequence of int or str, optional
            Scene indices or names to open; all scenes when None.
        **kwargs : Any
            Not used; accepted so every loader takes the same call.

        Returns
        -------
        list of xarray.DataArray
            One stack per scene.

        Raises
        ------
        UnsupportedSourceError
            For objects without the bioio attributes, unknown scenes, RGB data,
            unsupported extra dims, or an object that cannot be pickled (lazy only).
        AxesError
            When ``axes`` do not fit the object's dims.
        """
        if not self.guess_can_open(source):
            missing = [n for n in REQUIRED_ATTRIBUTES if not _has_attribute(source, n)]
            raise UnsupportedSourceError(
                "The bioimage loader opens bioio/aicsimageio image objects: expected "
                f"an object with {list(REQUIRED_ATTRIBUTES)}, got "
                f"{type(source).__name__} without {missing}. Pass a bioio.BioImage.",
                source=repr(source)[:80],
            )
        path = _source_of(source)
        try:
            payload: bytes | None = pickle.dumps(source)
        except Exception as exc:  # any pickling failure
            payload = None
            if not in_memory:
                raise UnsupportedSourceError(
                    f"Cannot open {path!r} lazily: the {type(source).__name__} object "
                    f"does not pickle ({type(exc).__name__}: {exc}), so Dask workers "
                    "cannot read it. Open it from a file path, or pass "
                    "in_memory=True.",
                    source=path,
                ) from exc
        image = source if payload is None else pickle.loads(payload)
        original = getattr(image, "current_scene", None)
        try:
            names = [str(s) for s in image.scenes]
            return [
                self._open_scene(
                    image,
                    None if in_memory else payload,
                    index,
                    names[index],
                    axes,
                    path,
                )
                for index in _select_scenes(names, scenes, path)
            ]
        finally:
            if image is source and original is not None:
                image.set_scene(original)

    def _open_scene(
        self,
        image: Any,
        payload: bytes | None,
        scene: int,
        scene_name: str,
        axes: str,
        source: str,
    ) -> xr.DataArray:
        image.set_scene(scene)
        lazy = image.xarray_dask_data
        dims = "".join(str(d) for d in lazy.dims)
        kept = _keep_dims(dims, lazy.shape, axes, source)
        index = tuple(slice(None) if d in kept else 0 for d in dims)
        data: Any
        if payload is None:  # in memory: read with the object's own reader
            data = np.asarray(image.data)[index]
        else:
            chunks = dict(zip(dims, lazy.data.chunksize, strict=True))
            reader = BioImageRegionReader(
                payload=payload,
                scene=scene,
                dims=dims,
                kept=kept,
                source=source,
                array=scene_name,
                shape=tuple(
                    n for d, n in zip(dims, lazy.shape, strict=True) if d in kept
                ),
                dtype=lazy.dtype,
                chunks=tuple(chunks[d] for d in kept),
            )
            data = as_dask_array(reader)
        sizes = dict(zip(dims, lazy.shape, strict=True))
        tiff = _tiff_metadata(source, scene)
        pixel_sizes, unit = _pixel_sizes(image, kept, tiff)
        return build_image_stack(
            data,
            kept,
            source=source,
            array=scene_name,
            channel_names=_channel_names(
                image, sizes.get("C", 1) if "C" in kept else 1, tiff
            ),
            pixel_sizes=pixel_sizes,
            pixel_unit=unit,
            attrs={"scene_index": scene},
        )
