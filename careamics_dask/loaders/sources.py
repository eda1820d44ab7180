"""Expand what a user passes (a path, a folder, a list, a URI) into source items.

This is the reference's input normalisation (``initialize_data_pair``) made strict:
a missing path is a ``FileNotFoundError`` naming it (the reference silently drops
missing entries of a list), a folder without matching files names the pattern, and
tuples are accepted like lists.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dask.array as da
import numpy as np
import xarray as xr

from careamics_dask.errors import (
    DataPairError,
    SourceNotFoundError,
    UnsupportedSourceError,
)

__all__ = [
    "EXTENSION_PATTERNS",
    "URI_SCHEMES",
    "expand_sources",
    "is_uri",
    "is_zarr_store",
    "list_files",
    "validate_source_pair",
]

EXTENSION_PATTERNS: dict[str, str] = {
    "tiff": "*.tif*",
    "zarr": "*.zarr",
    "czi": "*.czi",
    "custom": "*.*",
}
"""The glob pattern that selects files of each data type in a folder."""

URI_SCHEMES = ("file", "s3", "gs", "az", "https", "http", "zip", "memory")
"""URL schemes treated as URIs rather than local paths."""

_ARRAY_TYPES = (np.ndarray, da.Array, xr.DataArray)


def is_uri(source: object) -> bool:
    """Tell whether a source is a URI (``file://``, ``s3://``, ``http://``...).

    Parameters
    ----------
    source : object
        The source item.

    Returns
    -------
    bool
        True for strings with a known URL scheme; Windows drive letters are paths.

    Examples
    --------
    >>> is_uri("file:///data/a.zarr"), is_uri("C:/data/a.zarr"), is_uri("a.zarr")
    (True, False, False)
    """
    if not isinstance(source, str):
        return False
    scheme = urlparse(source).scheme
    return len(scheme) > 1 and scheme in URI_SCHEMES


def is_zarr_store(path: Path) -> bool:
    """Tell whether a local path is a Zarr store (v2 or v3 metadata, or ``.zarr``).

    Parameters
    ----------
    path : pathlib.Path
        A local path.

    Returns
    -------
    bool
        True when the folder holds Zarr metadata or is named ``*.zarr``.
    """
    if path.suffix.lower() == ".zarr":
        return True
    return path.is_dir() and any(
        (path / name).exists() for name in ("zarr.json", ".zgroup", ".zarray")
    )


def list_files(path: str | Path, pattern: str) -> list[Path]:
    """List the files a path stands for, in sorted order.

    Parameters
    ----------
    path : str or pathlib.Path
        A file, or a folder searched recursively.
    pattern : str
        Glob pattern of the file names, e.g. ``"*.tif*"``.

    Returns
    -------
    list of pathlib.Path
        The matching files, sorted.

    Raises
    ------
    SourceNotFoundError
        When the path does not exist.
    UnsupportedSourceError
        When a file does not match the pattern or a folder has no matching file.
    """
    path = Path(path)
    if not path.exists():
        raise SourceNotFoundError(
            f"Data path {str(path)!r} does not exist. Check the spelling and that "
            "the disk or share holding it is mounted.",
            source=str(path),
        )
    if pattern == "*.zarr" and is_zarr_store(path):
        return [path]
    if path.is_dir():
        if pattern == "*.zarr":
            found = _find_stores(path)
        else:
            found = sorted(p for p in path.rglob(pattern) if p.is_file())
        if not found:
            raise UnsupportedSourceError(
                f"Data path {str(path)!r} is empty or files with extension "
                f"{pattern!r} were not found. Put the files there, or pass the "
                "data type (or extension_filter) that matches them.",
                source=str(path),
            )
        return found
    if not fnmatch.fnmatch(path.name.lower(), pattern.lower()):
        raise UnsupportedSourceError(
            f"File {str(path)!r} does not match the requested extension "
            f"{pattern!r}. Pass a file of that kind, or the data type that matches "
            "the file.",
            source=str(path),
        )
    return [path]


def _find_stores(folder: Path) -> list[Path]:
    """Find ``*.zarr`` stores under a folder, not descending into stores."""
    stores = []
    for root, dirnames, _ in os.walk(folder):
        for name in list(dirnames):
            if name.lower().endswith(".zarr"):
                stores.append(Path(root) / name)
                dirnames.remove(name)
        dirnames.sort()
    return sorted(stores)


def _split_scene(item: str | Path) -> tuple[Path, str]:
    text = str(item)
    stem, sep, scene = text.rpartition("@")
    if sep and scene.isdigit():
        return Path(stem), sep + scene
    return Path(text), ""


def expand_sources(
    data_type: str, source: Any, *, extension_filter: str | None = None
) -> list[Any]:
    """Expand a user's source argument into a list of source items.

    Parameters
    ----------
    data_type : str
        ``"array"``, ``"tiff"``, ``"zarr"``, ``"czi"``, ``"custom"`` or a plugin
        loader name.
    source : Any
        An array, a path, a folder, a URI, or a list or tuple of them.
    extension_filter : str, optional
        Glob pattern for folders (custom data); defaults per data type.

    Returns
    -------
    list
        One entry per file, store, URI or array.

    Raises
    ------
    SourceNotFoundError
        When a path does not exist.
    UnsupportedSourceError
        When a path has the wrong extension, a folder has no match, or the kind of
        input does not fit the data type.

    Examples
    --------
    >>> import numpy as np
    >>> len(expand_sources("array", np.zeros((4, 4))))
    1
    """
    items = list(source) if isinstance(source, list | tuple) else [source]
    if data_type == "array":
        for item in items:
            if not isinstance(item, _ARRAY_TYPES):
                raise UnsupportedSourceError(
                    "Invalid input for data_type='array': expected numpy, Dask or "
                    f"xarray arrays (or a list of them), got {type(item).__name__}. "
                    "Use data_type='tiff', 'zarr' or 'czi' for files.",
                    source=repr(item)[:80],
                )
        return items
    if data_type not in EXTENSION_PATTERNS:
        return items
    pattern = extension_filter or EXTENSION_PATTERNS[data_type]
    expanded: list[Any] = []
    for item in items:
        # custom read functions and zarr objects take non-path items as they are
        as_is = data_type in ("custom", "zarr") and not isinstance(item, str | Path)
        if as_is or (data_type == "zarr" and is_uri(item)):
            expanded.append(item)
        elif isinstance(item, str | Path):
            path, scene = _split_scene(item) if data_type == "czi" else (Path(item), "")
            if scene:
                expanded.extend(f"{p}{scene}" for p in list_files(path, pattern))
            else:
                expanded.extend(list_files(path, pattern))
        else:
            raise UnsupportedSourceError(
                f"Invalid input for data_type={data_type!r}: expected a path, a "
                f"folder or a list of paths, got {type(item).__name__}. For arrays "
                "use data_type='array'.",
                source=repr(item)[:80],
            )
    return expanded


def validate_source_pair(
    inputs: list[Any], targets: list[Any], *, what: str = "target"
) -> None:
    """Check that input and target source lists agree in count and file names.

    Parameters
    ----------
    inputs : list
        Expanded input items.
    targets : list
        Expanded target (or mask) items.
    what : str, default "target"
        The name of the second list, for messages.

    Raises
    ------
    DataPairError
        When the counts differ, or paths have different file names.

    Examples
    --------
    >>> validate_source_pair(["a/x.tif"], ["b/x.tif"])
    """
    if len(inputs) != len(targets):
        raise DataPairError(
            f"The number of source files ({len(inputs)}) is not equal to the number "
            f"of {what} files ({len(targets)}). Give one {what} per input, in the "
            "same order."
        )
    if all(isinstance(i, str | Path) and not is_uri(i) for i in [*inputs, *targets]):
        names_in = {Path(str(i)).name for i in inputs}
        names_out = {Path(str(t)).name for t in targets}
        if names_in != names_out:
            diff = sorted(names_in ^ names_out)
            raise DataPairError(
                f"Source and {what} files have different names: {diff}. Each input "
                f"file needs a {what} file of the same name."
            )
