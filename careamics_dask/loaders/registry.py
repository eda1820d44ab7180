"""The loader registry: built-in source kinds plus entry-point plugins.

Built-ins are named by import path and imported on first use, so an environment
without an optional package (pylibCZIrw, or zarr 3 beside aicsimageio) still imports
careamics_dask. Third-party loaders register under the ``careamics_dask.loaders``
entry-point group, e.g. in ``pyproject.toml``::

    [project.entry-points."careamics_dask.loaders"]
    myformat = "mypackage.loader:MyFormatLoader"
"""

from __future__ import annotations

import functools
import importlib
import logging
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from careamics_dask.errors import MissingDependencyError

if TYPE_CHECKING:
    from careamics_dask.loaders._base import Loader

__all__ = [
    "BUILTIN_LOADERS",
    "ENTRY_POINT_GROUP",
    "get_loader",
    "guess_loader",
    "list_loaders",
    "refresh_loaders",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "careamics_dask.loaders"

BUILTIN_LOADERS: dict[str, str] = {
    "array": "careamics_dask.loaders.array:ArrayLoader",
    "tiff": "careamics_dask.loaders.tiff:TiffLoader",
    "zarr": "careamics_dask.loaders.zarr_:ZarrLoader",
    "czi": "careamics_dask.loaders.czi:CziLoader",
    "bioimage": "careamics_dask.loaders.bioimage:BioImageLoader",
}
"""Built-in loaders by data type, as ``module:Class`` import paths."""

_EXTRAS = {"czi": "czi", "bioimage": "bioio", "zarr": "", "tiff": ""}
"""The careamics-dask extra that provides each optional loader's dependencies."""


@functools.lru_cache(maxsize=1)
def list_loaders() -> dict[str, str]:
    """List every known loader: built-ins, then entry-point plugins.

    Returns
    -------
    dict of str to str
        Loader name to ``module:Class`` import path. A plugin may not replace a
        built-in name; such a plugin is skipped with a log message.

    Examples
    --------
    >>> sorted(list_loaders())[:3]
    ['array', 'bioimage', 'czi']
    """
    loaders = dict(BUILTIN_LOADERS)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in loaders:
            logger.warning(
                "ignoring loader plugin %r (%s): the name is taken by %s",
                entry.name,
                entry.value,
                loaders[entry.name],
            )
            continue
        loaders[entry.name] = entry.value
    return loaders


def refresh_loaders() -> None:
    """Forget the cached list so newly installed plugins are found.

    Examples
    --------
    >>> refresh_loaders()
    """
    list_loaders.cache_clear()


def get_loader(name: str) -> Loader:
    """Instantiate the loader registered under ``name``.

    Parameters
    ----------
    name : str
        A loader name, e.g. ``"tiff"``.

    Returns
    -------
    Loader
        A new loader instance.

    Raises
    ------
    ValueError
        When no loader has that name; the message lists the known names.
    ImportError
        When the loader's module cannot be imported (a missing optional
        dependency); the message names the extra to install.

    Examples
    --------
    >>> type(get_loader("array")).__name__
    'ArrayLoader'
    """
    loaders = list_loaders()
    if name not in loaders:
        raise ValueError(
            f"Unknown loader {name!r}: expected one of {sorted(loaders)}. Check the "
            f"data type, or install the plugin that provides {name!r}."
        )
    module_name, _, class_name = loaders[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = _EXTRAS.get(name)
        fix = (
            f"pip install 'careamics-dask[{extra}]'"
            if extra
            else "reinstall careamics-dask so its dependencies (zarr >= 3, ...) match"
        )
        raise MissingDependencyError(
            f"The {name!r} loader cannot be imported ({module_name}): {exc}. "
            f"Expected its dependencies to be installed; fix: {fix}.",
            extra=extra or "",
        ) from exc
    loader_class: type[Loader] = getattr(module, class_name)
    return loader_class()


def guess_loader(source: Any) -> str:
    """Guess the loader name for one source item from cheap probes.

    Parameters
    ----------
    source : Any
        A path, URL, array or reader object.

    Returns
    -------
    str
        The first loader whose ``guess_can_open`` accepts the source.

    Raises
    ------
    ValueError
        When no loader recognises the source.

    Examples
    --------
    >>> import numpy as np
    >>> guess_loader(np.zeros((4, 4)))
    'array'
    """
    for name in list_loaders():
        try:
            loader = get_loader(name)
        except ImportError as exc:
            logger.debug("loader %r unavailable: %s", name, exc)
            continue
        if loader.guess_can_open(source):
            return name
    raise ValueError(
        f"No loader recognises the source {source!r}: expected a NumPy/Dask array, "
        f"or a path or URL one of {sorted(list_loaders())} can open. Pass "
        "data_type= explicitly, or use a custom read function (ReadFuncLoading)."
    )
