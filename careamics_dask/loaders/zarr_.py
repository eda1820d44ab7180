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
  argument must be empty or agree with it (``S`` and ``T`` count as the same letter).

Remote stores are read through fsspec with ``storage_options``. HTTP cannot list
folders, so a remote group needs consolidated metadata (``zarr.consolidate_metadata``)
or a URL that points at an array. Dask chunks are the read unit: the shard of a
sharded v3 array when it fits dask's ``array.chunk-size`` (one request and one decode
pass per shard), otherwise the chunk; ``read_unit="chunk"`` or ``"shard"`` forces one.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlparse, urlunparse
from urllib.request import url2pathname

import dask
import numpy as np
import zarr
from dask.base import tokenize
from dask.utils import parse_bytes
from zarr.errors import NodeNotFoundError
from zarr.storage import FsspecStore, LocalStore

from careamics_dask.axes import validate_axes
from careamics_dask.errors import (
    CareamicsDaskError,
    MissingDependencyError,
    SourceNotFoundError,
    UnsupportedSourceError,
)
from careamics_dask.loaders._base import Loader
from careamics_dask.loaders._handles import cached_open
from careamics_dask.loaders._labels import build_image_stack, check_dtype
from careamics_dask.loaders._lazy import RegionReader, as_dask_array
from careamics_dask.loaders._ome import OmeImage, check_ome_axes, read_ome_image
from careamics_dask.loaders.sources import is_uri

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt
    import xarray as xr
    from zarr.abc.store import Store
    from zarr.types import AnyArray

__all__ = ["ZarrLoader", "ZarrLocation", "ZarrRegionReader", "locate_zarr"]

logger = logging.getLogger(__name__)

ReadUnit = Literal["auto", "shard", "chunk"]

_REMOTE_SCHEMES = ("http", "https", "s3", "gs", "az", "abfs")
_METADATA_FILES = ("zarr.json", ".zgroup", ".zarray")
_DEFAULT_HTTP_TIMEOUT = {"connect": 10.0, "sock_read": 120.0}


@dataclass(frozen=True, slots=True, kw_only=True)
class ZarrLocation:
    """Where a Zarr node lives: a store (local folder or URL) and a path inside it.

    Attributes
    ----------
    store : str
        Absolute local path or URL of the store's root.
    path : str
        The node's path inside the store (``""`` for the root).
    storage_options : dict, optional
        fsspec options for remote stores (credentials, timeouts).
    """

    store: str
    path: str = ""
    storage_options: dict[str, Any] | None = None

    @property
    def is_remote(self) -> bool:
        """True for stores reached through fsspec (any URL)."""
        return is_uri(self.store)

    def child(self, name: str) -> ZarrLocation:
        """Return the location of a member (or descendant) of this node."""
        path = "/".join(p for p in (self.path, name.strip("/")) if p)
        return replace(self, path=path)

    def describe(self) -> str:
        """Return ``store/path`` for messages."""
        return f"{self.store}/{self.path}" if self.path else self.store

    def uri(self) -> str:
        """Return a URI that opens this node (``file://`` for local stores)."""
        if self.is_remote:
            return self.describe()
        return Path(self.store, self.path).as_uri()


def locate_zarr(
    source: str | Path, storage_options: dict[str, Any] | None = None
) -> ZarrLocation:
    """Split a path or URI into the store and the node path inside it.

    Parameters
    ----------
    source : str or pathlib.Path
        A local path, or a ``file://``, ``http(s)://``, ``s3://``... URI.
    storage_options : dict, optional
        fsspec options kept with remote locations.

    Returns
    -------
    ZarrLocation
        The store is everything up to the first component ending in ``.zarr``
        (the whole path or URL when there is none).

    Raises
    ------
    UnsupportedSourceError
        For a ``file://`` URI without a ``.zarr`` component, or an unknown scheme.

    Examples
    --------
    >>> loc = locate_zarr("file:///data/a.zarr/groupA/groupB/arr")
    >>> loc.store, loc.path
    ('/data/a.zarr', 'groupA/groupB/arr')
    >>> locate_zarr("https://host/x/b.ome.zarr/0").path
    '0'
    """
    text = str(source)
    if not is_uri(text):
        parts = Path(text).expanduser().absolute().parts
        index = _store_index(parts)
        if index is None:
            return ZarrLocation(store=str(Path(*parts)))
        return ZarrLocation(
            store=str(Path(*parts[: index + 1])), path="/".join(parts[index + 1 :])
        )
    parsed = urlparse(text)
    if parsed.scheme == "file":
        local = url2pathname(parsed.path)
        if _store_index(Path(local).parts) is None:
            raise UnsupportedSourceError(
                f"No .zarr file extension found in source: {text}. Expected a file "
                "URI with a store folder ending in '.zarr', e.g. "
                "'file:///data/images.zarr/group/array'.",
                source=text,
            )
        return locate_zarr(local)
    if parsed.scheme not in _REMOTE_SCHEMES:
        raise UnsupportedSourceError(
            f"Remote file not supported: {text}. Expected one of the schemes "
            f"{['file', *_REMOTE_SCHEMES]}; copy the store locally or use a "
            "supported URL.",
            source=text,
        )
    segments = parsed.path.split("/")
    index = _store_index(segments)
    if index is None:
        return ZarrLocation(store=text.rstrip("/"), storage_options=storage_options)
    store = urlunparse(parsed._replace(path="/".join(segments[: index + 1])))
    path = "/".join(p for p in segments[index + 1 :] if p)
    return ZarrLocation(store=store, path=path, storage_options=storage_options)


def _store_index(parts: Sequence[str]) -> int | None:
    for index, part in enumerate(parts):
        if part.lower().endswith(".zarr"):
            return index
    return None


def open_zarr_store(location: ZarrLocation) -> Store:
    """Open the store of a location read-only (``LocalStore`` or ``FsspecStore``).

    Parameters
    ----------
    location : ZarrLocation
        The location.

    Returns
    -------
    zarr.abc.store.Store
        A read-only store.

    Raises
    ------
    MissingDependencyError
        When fsspec or the backend for the URL's scheme is not installed.
    """
    if not location.is_remote:
        return LocalStore(location.store, read_only=True)
    options = dict(location.storage_options or {})
    scheme = urlparse(location.store).scheme
    try:
        if scheme in ("http", "https"):
            client_kwargs = dict(options.get("client_kwargs") or {})
            if "timeout" not in client_kwargs:
                import aiohttp

                client_kwargs["timeout"] = aiohttp.ClientTimeout(
                    **_DEFAULT_HTTP_TIMEOUT
                )
                options["client_kwargs"] = client_kwargs
        return FsspecStore.from_url(
            location.store, storage_options=options, read_only=True
        )
    except ImportError as exc:
        raise MissingDependencyError(
            f"Opening {location.store!r} needs the fsspec backend for {scheme!r} "
            f"URLs, which is not installed ({exc}). Install careamics-dask[remote] "
            "and the backend, e.g. `pip install s3fs` (s3), `gcsfs` (gs) or "
            "`adlfs` (az).",
            extra="remote",
        ) from exc


def _open_array(location: ZarrLocation) -> AnyArray:
    return zarr.open_array(
        store=open_zarr_store(location), path=location.path, mode="r"
    )


def _metadata_mtime(location: ZarrLocation) -> int | None:
    if location.is_remote:
        return None
    for name in ("zarr.json", ".zarray"):
        try:
            return Path(location.store, location.path, name).stat().st_mtime_ns
        except OSError:
            continue
    return None


class ZarrRegionReader(RegionReader):
    """Read regions of one Zarr array, reopened by location in each process.

    Parameters
    ----------
    location : ZarrLocation
        The store and the array's path (with storage options for remote stores).
    shape : tuple of int
        The array's shape.
    dtype : numpy.typing.DTypeLike
        The array's dtype.
    chunks : tuple of int
        The read unit (chunk or shard).
    """

    def __init__(
        self,
        *,
        location: ZarrLocation,
        shape: tuple[int, ...],
        dtype: npt.DTypeLike,
        chunks: tuple[int, ...],
    ) -> None:
        super().__init__(
            source=location.store,
            array=location.path,
            shape=shape,
            dtype=dtype,
            chunks=chunks,
        )
        self.location = location
        self.options_token = tokenize(location.storage_options)

    def read(self, region: tuple[slice, ...]) -> npt.NDArray[Any]:
        """Read one region through the per-process cache of open arrays."""
        mtime = _metadata_mtime(self.location)
        key = ("zarr", self.source, self.array, self.options_token, mtime)
        array = cached_open(key, functools.partial(_open_array, self.location))
        return np.asarray(array[region])


class ZarrObjectRegionReader(RegionReader):
    """Read regions through a ``zarr.Array`` whose store has no location (memory).

    Parameters
    ----------
    array : zarr.Array
        The array; it travels to workers by pickling its store.
    chunks : tuple of int
        The read unit.
    """

    def __init__(self, array: AnyArray, *, chunks: tuple[int, ...]) -> None:
        super().__init__(
            source=str(array.store_path.store),
            array=array.path,
            shape=array.shape,
            dtype=array.dtype,
            chunks=chunks,
        )
        self.zarr_array = array

    def read(self, region: tuple[slice, ...]) -> npt.NDArray[Any]:
        """Read one region of the array object."""
        return np.asarray(self.zarr_array[region])


@dataclass(frozen=True, slots=True, kw_only=True)
class _Image:
    array: AnyArray
    location: ZarrLocation
    reopen: bool = True
    ome: OmeImage | None = None


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
            return scheme in ("file", *_REMOTE_SCHEMES) and ".zarr" in text.lower()
        return _store_index(Path(text.lower()).parts) is not None

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
            node, reopen = _open_node(location), True
        else:
            raise UnsupportedSourceError(
                "Zarr sources must be a path, a URI or a zarr.Array/zarr.Group, got "
                f"{type(source).__name__}. Pass the store's path or a file:// URI.",
                source=repr(source)[:80],
            )
        images = _collect_images(node, location, reopen=reopen)
        return [_build_stack(image, axes, in_memory, read_unit) for image in images]


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


def _open_node(location: ZarrLocation) -> AnyArray | zarr.Group:
    if not location.is_remote:
        _check_local_store(Path(location.store))
    store = open_zarr_store(location)
    try:
        return zarr.open(store=store, path=location.path, mode="r")
    except NodeNotFoundError:
        if location.is_remote and not _node_exists(replace(location, path="")):
            raise SourceNotFoundError(
                f"No Zarr store found at {location.store!r}: expected zarr.json (Zarr "
                "v3) or .zgroup/.zarray (Zarr v2) metadata there. Check the URL.",
                source=location.describe(),
            ) from None
        raise SourceNotFoundError(
            f"Did not find array at '{location.path}' in store '{location.store}'. "
            f"{_nearest_members(location)}",
            source=location.describe(),
        ) from None
    except CareamicsDaskError:
        raise
    except Exception as exc:
        if location.is_remote:
            raise SourceNotFoundError(
                f"Could not reach the Zarr store at {location.describe()!r}: "
                f"{type(exc).__name__}: {exc}. Check the URL and the network, and "
                "pass credentials or timeouts through storage_options.",
                source=location.describe(),
            ) from exc
        raise UnsupportedSourceError(
            f"Invalid Zarr metadata at {location.describe()!r}: {type(exc).__name__}:"
            f" {exc}. Check the store with the library that wrote it.",
            source=location.describe(),
        ) from exc


def _check_local_store(root: Path) -> None:
    if not root.exists():
        raise SourceNotFoundError(
            f"Zarr store {str(root)!r} does not exist. Check the spelling and that "
            "the disk or share holding it is mounted.",
            source=str(root),
        )
    found = sorted(p.name for p in root.iterdir())[:10] if root.is_dir() else "a file"
    if not root.is_dir() or not any((root / n).exists() for n in _METADATA_FILES):
        raise UnsupportedSourceError(
            f"{str(root)!r} is not a Zarr store: expected a folder with zarr.json "
            f"(Zarr v3) or .zgroup/.zarray (Zarr v2) at its top level, got {found}. "
            "Point at the store's root folder, or write the data with zarr first.",
            source=str(root),
        )


def _node_exists(location: ZarrLocation) -> bool:
    try:
        zarr.open(store=open_zarr_store(location), path=location.path, mode="r")
    except Exception:  # any failure means "not there"
        return False
    return True


def _nearest_members(location: ZarrLocation) -> str:
    """Describe the closest existing ancestor group of a missing node."""
    parts = location.path.split("/")
    store = open_zarr_store(location)
    for depth in range(len(parts) - 1, -1, -1):
        parent = "/".join(parts[:depth])
        try:
            node = zarr.open(store=store, path=parent, mode="r")
        except Exception:  # keep walking up
            continue
        where = f"group '{parent}'" if parent else "the store's root group"
        if isinstance(node, zarr.Array):
            return f"'{parent}' is an array, not a group. Point the URI at it."
        if _unlistable(node, location):
            return (
                f"Its closest existing parent ({where}) cannot be listed remotely "
                "without consolidated metadata; check the path."
            )
        arrays, groups = sorted(node.array_keys()), sorted(node.group_keys())
        members = [*arrays, *groups]
        example = replace(location, path=parent).child(members[0]) if members else None
        return f"Found in {where}: arrays {arrays}, groups {groups}." + (
            f" Point the URI at one of them, e.g. {example.uri()!r}." if example else ""
        )
    return "The store's root could not be opened either; check the store."


def _collect_images(
    node: AnyArray | zarr.Group, location: ZarrLocation, *, reopen: bool
) -> list[_Image]:
    if isinstance(node, zarr.Array):
        return [_Image(array=node, location=location, reopen=reopen)]
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


def _unlistable(group: zarr.Group, location: ZarrLocation) -> bool:
    return location.is_remote and group.metadata.consolidated_metadata is None


def _no_arrays_error(
    group: zarr.Group, location: ZarrLocation
) -> UnsupportedSourceError:
    groups = sorted(group.group_keys())
    example = location.child(groups[0] if groups else "array").uri()
    if _unlistable(group, location):
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
    layout_axes = validate_axes(axes, array.shape, source=where)
    check_dtype(array.dtype, source=where)
    chunks = _read_chunks(array, read_unit)
    reader: RegionReader
    if image.reopen:
        reader = ZarrRegionReader(
            location=location, shape=array.shape, dtype=array.dtype, chunks=chunks
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
