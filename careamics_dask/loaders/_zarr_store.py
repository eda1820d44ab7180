"""Where a Zarr node lives and how to open it: locations, stores, nodes, errors.

A source is a path to a ``.zarr`` store or a URI pointing inside one: the part up to
the first ``.zarr`` component is the store, the rest the node path
(:func:`locate_zarr`). Local stores open as ``LocalStore``, remote ones through fsspec
with ``storage_options``; a node that is missing is reported with the members of its
closest existing parent group.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse, urlunparse
from urllib.request import url2pathname

import zarr
from zarr.errors import NodeNotFoundError
from zarr.storage import FsspecStore, LocalStore

from careamics_dask.errors import (
    CareamicsDaskError,
    MissingDependencyError,
    SourceNotFoundError,
    UnsupportedSourceError,
)
from careamics_dask.loaders._obstore import STORE_OPTION, obstore_s3, wants_obstore
from careamics_dask.loaders.sources import is_uri

if TYPE_CHECKING:
    from collections.abc import Sequence

    from zarr.abc.store import Store
    from zarr.types import AnyArray

__all__ = [
    "REMOTE_SCHEMES",
    "ZarrLocation",
    "locate_zarr",
    "metadata_mtime",
    "open_array",
    "open_node",
    "open_zarr_store",
    "store_index",
    "unlistable",
]

REMOTE_SCHEMES = ("http", "https", "s3", "gs", "az", "abfs")
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
        index = store_index(parts)
        if index is None:
            return ZarrLocation(store=str(Path(*parts)))
        return ZarrLocation(
            store=str(Path(*parts[: index + 1])), path="/".join(parts[index + 1 :])
        )
    parsed = urlparse(text)
    if parsed.scheme == "file":
        local = url2pathname(parsed.path)
        if store_index(Path(local).parts) is None:
            raise UnsupportedSourceError(
                f"No .zarr file extension found in source: {text}. Expected a file "
                "URI with a store folder ending in '.zarr', e.g. "
                "'file:///data/images.zarr/group/array'.",
                source=text,
            )
        return locate_zarr(local)
    if parsed.scheme not in REMOTE_SCHEMES:
        raise UnsupportedSourceError(
            f"Remote file not supported: {text}. Expected one of the schemes "
            f"{['file', *REMOTE_SCHEMES]}; copy the store locally or use a "
            "supported URL.",
            source=text,
        )
    segments = parsed.path.split("/")
    index = store_index(segments)
    if index is None:
        return ZarrLocation(store=text.rstrip("/"), storage_options=storage_options)
    store = urlunparse(parsed._replace(path="/".join(segments[: index + 1])))
    path = "/".join(p for p in segments[index + 1 :] if p)
    return ZarrLocation(store=store, path=path, storage_options=storage_options)


def store_index(parts: Sequence[str]) -> int | None:
    """Return the index of the first ``.zarr`` component of a path, or None."""
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
    if wants_obstore(options, location.store):
        return cast("Store", obstore_s3(location.store, options))
    options.pop(STORE_OPTION, None)
    try:
        if scheme in ("http", "https"):
            client_kwargs = dict(options.get("client_kwargs") or {})
            if "timeout" not in client_kwargs:
                import aiohttp

                client_kwargs["timeout"] = aiohttp.ClientTimeout(
                    **_DEFAULT_HTTP_TIMEOUT
                )
                options["client_kwargs"] = client_kwargs
        if scheme == "s3":
            # s3fs sends a HEAD before each whole-object GET to split large objects
            # into concurrent ranges; chunks are small: one GET each, half the
            # round trips (and a GET's 503 SlowDown is retried, a HEAD's is not)
            options.setdefault("max_concurrency", 1)
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


def open_array(location: ZarrLocation) -> AnyArray:
    """Open the array at a location read-only."""
    return zarr.open_array(
        store=open_zarr_store(location), path=location.path, mode="r"
    )


def metadata_mtime(location: ZarrLocation) -> int | None:
    """Return the modification time of a local array's metadata (None if remote)."""
    if location.is_remote:
        return None
    for name in ("zarr.json", ".zarray"):
        try:
            return Path(location.store, location.path, name).stat().st_mtime_ns
        except OSError:
            continue
    return None


def open_node(location: ZarrLocation) -> AnyArray | zarr.Group:
    """Open the array or group at a location, with errors that name what exists."""
    if not location.is_remote:
        _check_local_store(Path(location.store))
    store = open_zarr_store(location)
    try:
        return zarr.open(store=store, path=location.path, mode="r")
    except NodeNotFoundError:
        if location.is_remote and not _node_exists(replace(location, path="")):
            bucket = _missing_bucket(location)
            if bucket is not None:
                raise SourceNotFoundError(
                    f"The bucket {bucket!r} of {location.describe()!r} does not exist "
                    "(or is not visible with these credentials). Check the bucket "
                    "name in the URL, and the endpoint in storage_options "
                    "(client_kwargs={'endpoint_url': ...}) for non-AWS servers.",
                    source=location.describe(),
                ) from None
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
        if location.is_remote and _denied(exc):
            raise _access_denied(location, exc) from exc
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


def _access_denied(location: ZarrLocation, exc: Exception) -> SourceNotFoundError:
    """Return the error of a store that refused the credentials."""
    return SourceNotFoundError(
        f"Access denied to the Zarr store at {location.describe()!r}: {exc}. "
        "Check the credentials: pass them as storage_options (for s3:// "
        "{'key': ..., 'secret': ...}, or 'profile'; 'anon': True for public "
        "buckets) or set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.",
        source=location.describe(),
    )


def _denied(exc: Exception) -> bool:
    """Whether an error means the credentials were refused (fsspec or obstore)."""
    names = ("PermissionDeniedError", "UnauthenticatedError")
    return isinstance(exc, PermissionError) or type(exc).__name__ in names


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


def _missing_bucket(location: ZarrLocation) -> str | None:
    """Return the bucket name of an ``s3://``/``gs://`` URL whose bucket is absent."""
    parsed = urlparse(location.store)
    if parsed.scheme not in ("s3", "gs") or not parsed.netloc:
        return None
    try:
        import fsspec

        options = dict(location.storage_options or {})
        options.pop(STORE_OPTION, None)
        fs = fsspec.filesystem(parsed.scheme, **options)
        return None if fs.exists(parsed.netloc) else parsed.netloc
    except Exception:  # cannot tell: keep the general message
        return None


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
        if unlistable(node, location):
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


def unlistable(group: zarr.Group, location: ZarrLocation) -> bool:
    """Return whether a remote group cannot list its members (no consolidation)."""
    return location.is_remote and group.metadata.consolidated_metadata is None
