"""Loader for Zarr v2/v3 stores, groups, arrays and OME-Zarr images, local or remote.

What a source stands for (the reference's Zarr conventions, extended):

- a path to a ``.zarr`` store, or a URI pointing inside one
  (``file:///data/a.zarr/groupA/arr``, ``https://host/a.zarr/arr``, ``s3://...``): the
  part up to the first ``.zarr`` component is the store, the rest the node path;
- a group gives one image stack per **first-level** array, sorted by name (nested
  groups are ignored); an array gives one stack;
- a group with OME-NGFF metadata (0.4 in ``.zattrs``, 0.5 under ``ome`` in
  ``zarr.json``) gives one stack: its full-resolution level, with axes, channel labels
  and pixel sizes from the metadata. The metadata decides the axes; the ``axes``
  argument must be empty or agree with it (``S`` and ``T`` count as the same letter);
- an OME-Zarr HCS plate gives one stack whose samples are the fields of its wells
  (in plate order), with ``well`` and ``field`` coordinates along ``S`` (one stack
  per field when the fields differ in shape, dtype or channels);
- the root of a ``predict_to_zarr`` output gives its images in index order, with
  the axes the prediction recorded (``axes=""`` is enough);
- a pre-release ("zarrita" draft) v3 store is refused with an error naming it.

Remote stores are read through fsspec with ``storage_options``. HTTP cannot list
folders, so a remote group needs consolidated metadata (``zarr.consolidate_metadata``)
or a URL that points at an array. Dask chunks are the read unit: the shard of a
sharded v3 array when it fits dask's ``array.chunk-size`` (one request and one decode
pass per shard), otherwise the chunk; ``read_unit="chunk"`` or ``"shard"`` forces one.

Locations and stores live in :mod:`careamics_dask.loaders._zarr_store`, the region
readers and their fast reads in :mod:`careamics_dask.loaders._zarr_read`; this module
resolves a node to its images and labels them, and exports the format's public names.
It is over 400 lines because resolving a node (array, group, OME image, plate,
prediction root) and labelling what it finds are one step that changes together.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlparse
from urllib.request import url2pathname

import dask
import numpy as np
import xarray as xr
import zarr
from dask.utils import parse_bytes
from zarr.storage import FsspecStore, LocalStore

from careamics_dask.axes import validate_axes
from careamics_dask.errors import AxesError, UnsupportedSourceError
from careamics_dask.loaders._base import Loader
from careamics_dask.loaders._labels import build_image_stack, check_dtype
from careamics_dask.loaders._lazy import as_dask_array
from careamics_dask.loaders._ome import OmeImage, check_ome_axes, read_ome_image
from careamics_dask.loaders._zarr_layouts import (
    PlateField,
    check_stored_axes,
    draft_v3_error,
    plate_fields,
    prediction_axes,
    prediction_members,
)
from careamics_dask.loaders._zarr_read import ZarrObjectRegionReader, ZarrRegionReader
from careamics_dask.loaders._zarr_store import (
    REMOTE_SCHEMES,
    ZarrLocation,
    locate_zarr,
    open_node,
    store_index,
    unlistable,
)
from careamics_dask.loaders.sources import is_uri

if TYPE_CHECKING:
    from zarr.types import AnyArray

    from careamics_dask.loaders._lazy import RegionReader

__all__ = [
    "ZarrLoader",
    "ZarrLocation",
    "ZarrObjectRegionReader",
    "ZarrRegionReader",
    "locate_zarr",
]

logger = logging.getLogger(__name__)

ReadUnit = Literal["auto", "shard", "chunk"]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Image:
    array: AnyArray
    location: ZarrLocation
    reopen: bool = True
    ome: OmeImage | None = None
    stored_axes: str | None = None


class ZarrLoader(Loader):
    """Open Zarr v2/v3 stores, groups, arrays and OME-Zarr images lazily.

    Examples
    --------
    >>> ZarrLoader.guess_can_open("file:///data/a.zarr/group/array")
    True
    >>> ZarrLoader.guess_can_open("image.tif")
    False
    """

    name: ClassVar[str] = "zarr"
    description: ClassVar[str] = (
        "Zarr v2/v3 stores and OME-Zarr images, local or remote"
    )
    extensions: ClassVar[tuple[str, ...]] = (".zarr",)

    @classmethod
    def guess_can_open(cls, source: Any) -> bool:
        """Accept ``.zarr`` paths, URIs into ``.zarr`` stores and zarr objects.

        Parameters
        ----------
        source : Any
            One source item.

        Returns
        -------
        bool
            True when the source looks like Zarr.
        """
        if isinstance(source, zarr.Array | zarr.Group):
            return True
        if not isinstance(source, str | Path):
            return False
        text = str(source)
        if is_uri(text):
            scheme = urlparse(text).scheme
            return scheme in ("file", *REMOTE_SCHEMES) and ".zarr" in text.lower()
        return store_index(Path(text.lower()).parts) is not None

    def open(
        self,
        source: Any,
        axes: str,
        *,
        in_memory: bool = False,
        storage_options: dict[str, Any] | None = None,
        read_unit: ReadUnit = "auto",
        **kwargs: Any,
    ) -> list[xr.DataArray]:
        """Open a store, group, array or OME-Zarr image as image stacks.

        Parameters
        ----------
        source : str, pathlib.Path, zarr.Array or zarr.Group
            A store path, a URI into a store, or an opened zarr node.
        axes : str
            The arrays' axes. For OME-Zarr images the metadata decides: pass
            ``""`` or axes that agree with it.
        in_memory : bool, default False
            Read the pixels now into NumPy arrays.
        storage_options : dict, optional
            fsspec options for remote stores (credentials, ``client_kwargs``).
        read_unit : {"auto", "shard", "chunk"}, default "auto"
            The Dask chunk of sharded arrays: the shard when it fits dask's
            ``array.chunk-size`` ("auto"), always the shard, or the inner chunk.
        **kwargs : Any
            Not used; accepted so every loader takes the same call.

        Returns
        -------
        list of xarray.DataArray
            One image stack per first-level array (sorted by name), one for an
            array, or one for an OME-Zarr image's full-resolution level.

        Raises
        ------
        SourceNotFoundError
            When the store, the node or the URL does not exist or is unreachable.
        UnsupportedSourceError
            When the path is not a Zarr store, or a group holds no arrays.
        AxesError
            When the axes do not fit an array, or disagree with OME metadata.
        UnsupportedDtypeError
            When an array is not real-valued.
        """
        if read_unit not in ("auto", "shard", "chunk"):
            raise ValueError(
                f"Invalid read_unit {read_unit!r}: expected 'auto', 'shard' or 'chunk'."
            )
        if isinstance(source, zarr.Array | zarr.Group):
            node, location, reopen = _locate_node(source)
        elif isinstance(source, str | Path):
            location = locate_zarr(source, storage_options)
            try:
                node, reopen = open_node(location), True
            except UnsupportedSourceError as exc:
                draft = draft_v3_error(location.store, exc)
                if draft is not None:
                    raise draft from exc
                raise
        else:
            raise UnsupportedSourceError(
                "Zarr sources must be a path, a URI or a zarr.Array/zarr.Group, got "
                f"{type(source).__name__}. Pass the store's path or a file:// URI.",
                source=repr(source)[:80],
            )
        if isinstance(node, zarr.Group):
            fields = plate_fields(node, where=location.describe())
            if fields is not None:
                return _open_plate(
                    node, location, fields, axes, in_memory, read_unit, reopen
                )
        images = _collect_images(node, location, reopen=reopen)
        return [_build_stack(image, axes, in_memory, read_unit) for image in images]


def _open_plate(
    plate: zarr.Group,
    location: ZarrLocation,
    fields: list[PlateField],
    axes: str,
    in_memory: bool,
    read_unit: ReadUnit,
    reopen: bool,
) -> list[xr.DataArray]:
    """Open every field of a plate; one stack of all fields when they match."""
    stacks = []
    for field in fields:
        group = plate.get(field.path)
        if not isinstance(group, zarr.Group):
            raise UnsupportedSourceError(
                f"HCS plate {location.describe()!r} lists field {field.path!r}, but "
                f"no image group is there: expected an OME-Zarr image at "
                f"'{field.path}', got {type(group).__name__}. Fix the well metadata.",
                source=location.describe(),
            )
        images = _collect_images(group, location.child(field.path), reopen=reopen)
        for image in images:
            if image.ome is not None:
                _check_plate_axes(axes, image.ome.axes, where=location.describe())
            stack = _build_stack(image, "", in_memory, read_unit)
            n = stack.sizes["S"]
            stacks.append(
                stack.assign_coords(
                    well=("S", [field.well] * n), field=("S", [field.field] * n)
                )
            )
    first = stacks[0]
    same = all(
        s.shape[1:] == first.shape[1:]
        and s.dtype == first.dtype
        and list(s.coords["C"].values) == list(first.coords["C"].values)
        for s in stacks
    )
    if not same:
        logger.info(
            "fields of plate %s differ in shape, dtype or channels: one stack each",
            location.describe(),
        )
        return stacks
    combined = xr.concat(
        stacks,
        dim="S",
        join="exact",
        coords="minimal",
        compat="override",
        combine_attrs="override",
    )
    sizes = [s.attrs.get("pixel_sizes") for s in stacks]
    attrs = dict(first.attrs)
    attrs.update(
        source=location.store,
        array=location.path,
        original_axes="".join(str(d) for d in combined.dims),
        original_shape=tuple(int(n) for n in combined.shape),
        plate_fields=len(fields),
    )
    if any(size != sizes[0] for size in sizes):
        attrs.pop("pixel_sizes", None)
        attrs.pop("pixel_unit", None)
    combined.attrs = attrs
    combined.name = location.describe()
    return [combined]


def _check_plate_axes(axes: str, field_axes: str, *, where: str) -> None:
    """Accept the fields' axes, with or without a leading sample axis."""
    if not axes:
        return
    given = axes.upper().replace("T", "S")
    own = field_axes.replace("T", "S")
    if given in (own, own if own.startswith("S") else "S" + own):
        return
    raise AxesError(
        f"Axes {axes!r} disagree with the fields of HCS plate {where!r}: expected "
        f"{field_axes!r} (each field's multiscales axes), or 'S' + those for the "
        f"plate's stack of fields, got {axes.upper()!r}. Pass axes='' to use the "
        "metadata."
    )


def _locate_node(
    node: AnyArray | zarr.Group,
) -> tuple[AnyArray | zarr.Group, ZarrLocation, bool]:
    store = node.store
    if isinstance(store, LocalStore):
        return node, ZarrLocation(store=str(store.root), path=node.path), True
    if isinstance(store, FsspecStore):
        url = store.fs.unstrip_protocol(store.path)
        if urlparse(url).scheme == "file":
            local = url2pathname(urlparse(url).path)
            return node, ZarrLocation(store=local, path=node.path), True
        options = {
            k: v for k, v in store.fs.storage_options.items() if k != "asynchronous"
        }
        location = ZarrLocation(store=url, path=node.path, storage_options=options)
        return node, location, True
    return node, ZarrLocation(store=str(store), path=node.path), False


def _collect_images(
    node: AnyArray | zarr.Group, location: ZarrLocation, *, reopen: bool
) -> list[_Image]:
    if isinstance(node, zarr.Array):
        stored = prediction_axes(node.attrs.asdict())
        return [
            _Image(array=node, location=location, reopen=reopen, stored_axes=stored)
        ]
    ome = read_ome_image(node.attrs.asdict(), where=location.describe())
    if ome is not None:
        level = node.get(ome.level_path)
        if not isinstance(level, zarr.Array):
            raise UnsupportedSourceError(
                f"OME-Zarr image {location.describe()!r} names its full-resolution "
                f"level {ome.level_path!r}, but no array is there: expected an array "
                f"at '{ome.level_path}', got {type(level).__name__}. Rewrite the "
                "image, or point a URI at the array and pass its axes.",
                source=location.describe(),
            )
        return [
            _Image(
                array=level,
                location=location.child(ome.level_path),
                reopen=reopen,
                ome=ome,
            )
        ]
    members = prediction_members(node)
    if members:
        return [
            image
            for name in members
            for image in _collect_images(
                node[name], location.child(name), reopen=reopen
            )
        ]
    names = sorted(node.array_keys())
    if not names:
        raise _no_arrays_error(node, location)
    images = []
    for name in names:
        array = node[name]
        if isinstance(array, zarr.Array):  # listed by array_keys, so always true
            images.append(
                _Image(array=array, location=location.child(name), reopen=reopen)
            )
    return images


def _no_arrays_error(
    group: zarr.Group, location: ZarrLocation
) -> UnsupportedSourceError:
    groups = sorted(group.group_keys())
    example = location.child(groups[0] if groups else "array").uri()
    if unlistable(group, location):
        found = "nothing it could list (a remote group needs consolidated metadata)"
        fix = (
            "Run zarr.consolidate_metadata() on the store, or point the URL at the "
            f"array or image group, e.g. {example!r}."
        )
    else:
        found = f"only the groups {groups}" if groups else "no arrays and no groups"
        fix = (
            "Point a file:// URI at the array or group that holds the images, e.g. "
            f"{example!r}."
        )
    message = (
        f"No arrays found in Zarr group {location.describe()!r}: expected arrays at "
        "its first level, or an OME-Zarr image (multiscales metadata), got "
        f"{found}. {fix}"
    )
    if "bioformats2raw.layout" in group.attrs:
        message += " This is a bioformats2raw layout: each numbered group is an image."
    return UnsupportedSourceError(message, source=location.describe())


def _read_chunks(array: AnyArray, read_unit: ReadUnit) -> tuple[int, ...]:
    chunks = tuple(int(c) for c in array.chunks)
    shards = array.shards
    if shards is None or read_unit == "chunk":
        return chunks
    limit = parse_bytes(dask.config.get("array.chunk-size"))
    shard_bytes = math.prod(shards) * np.dtype(array.dtype).itemsize
    if read_unit == "shard" or shard_bytes <= limit:
        return tuple(int(s) for s in shards)
    return chunks


def _build_stack(
    image: _Image, axes: str, in_memory: bool, read_unit: ReadUnit
) -> xr.DataArray:
    array, location = image.array, image.location
    where = location.describe()
    ome = image.ome
    if ome is not None:
        axes = check_ome_axes(axes, ome.axes, where=where)
    elif image.stored_axes is not None:
        axes = check_stored_axes(axes, image.stored_axes, where=where)
    layout_axes = validate_axes(axes, array.shape, source=where)
    check_dtype(array.dtype, source=where)
    chunks = _read_chunks(array, read_unit)
    reader: RegionReader
    if image.reopen:
        reader = ZarrRegionReader(
            location=location,
            shape=array.shape,
            dtype=array.dtype,
            chunks=chunks,
            inner_chunks=None if array.shards is None else tuple(array.chunks),
        )
    else:
        reader = ZarrObjectRegionReader(array, chunks=chunks)
    data: Any = reader[()] if in_memory else as_dask_array(reader)
    attrs: dict[str, Any] = {
        "zarr_format": array.metadata.zarr_format,
        "zarr_chunks": tuple(array.chunks),
    }
    if array.shards is not None:
        attrs["zarr_shards"] = tuple(array.shards)
    channel_names = None
    if ome is not None:
        attrs["ome_version"] = ome.version
        n_channels = array.shape[layout_axes.index("C")] if "C" in layout_axes else 1
        if ome.channel_names is not None and len(ome.channel_names) == n_channels:
            channel_names = list(ome.channel_names)
        elif ome.channel_names is not None:
            logger.warning(
                "ignoring %d omero channel labels of %s: the image has %d channels",
                len(ome.channel_names),
                where,
                n_channels,
            )
    logger.debug("opened zarr array %s (chunks %s)", where, chunks)
    return build_image_stack(
        data,
        layout_axes,
        source=location.store,
        array=location.path,
        channel_names=channel_names,
        pixel_sizes=ome.pixel_sizes if ome is not None else None,
        pixel_unit=ome.pixel_unit if ome is not None else None,
        attrs=attrs,
    )
