"""The loader contract: a named source kind that opens sources as image stacks."""

from __future__ import annotations

import abc
import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["Loader"]

_PROBE_LIMIT = 1000
"""How many folder entries a guess looks at before giving up (keeps guesses cheap)."""


def _folder_holds(folder: Path, extensions: tuple[str, ...]) -> bool:
    """Tell whether a folder (or its direct subfolders) holds a matching file.

    Zarr stores inside the folder are not entered: they may hold millions of chunks.
    """
    if not folder.is_dir() or folder.suffix.lower() == ".zarr":
        return False
    entries = itertools.islice(folder.iterdir(), _PROBE_LIMIT)
    subfolders = []
    for entry in entries:
        if entry.name.lower().endswith(extensions):
            return True
        if entry.is_dir() and entry.suffix.lower() != ".zarr":
            subfolders.append(entry)
    for sub in subfolders[:16]:
        for entry in itertools.islice(sub.iterdir(), _PROBE_LIMIT):
            if entry.name.lower().endswith(extensions):
                return True
    return False


class Loader(abc.ABC):
    """Opens one kind of source as labeled, lazy image stacks.

    Subclasses set the class metadata and implement :meth:`open`; third parties
    register theirs under the ``careamics_dask.loaders`` entry-point group.

    Attributes
    ----------
    name : str
        The data type this loader serves (``"tiff"``, ``"zarr"``, ...).
    description : str
        One line for listings.
    extensions : tuple of str
        File name suffixes the loader recognises, lower case, with the dot.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def guess_can_open(cls, source: Any) -> bool:
        """Tell cheaply, without reading pixels, whether this loader fits a source.

        Parameters
        ----------
        source : Any
            One source item (a path, a URL, an array, an object).

        Returns
        -------
        bool
            True when the source looks like this loader's kind.
        """
        if not cls.extensions or not isinstance(source, str | Path):
            return False
        text = str(source).lower().rstrip("/")
        if text.endswith(cls.extensions):
            return True
        return _folder_holds(Path(source), cls.extensions)

    @abc.abstractmethod
    def open(
        self, source: Any, axes: str, *, in_memory: bool = False, **kwargs: Any
    ) -> list[xr.DataArray]:
        """Open one source item as image stacks, reading metadata only.

        Parameters
        ----------
        source : Any
            One source item.
        axes : str
            The axes of the source's arrays.
        in_memory : bool, default False
            Read the pixels now and keep them as NumPy arrays.
        **kwargs : Any
            Loader-specific options.

        Returns
        -------
        list of xarray.DataArray
            One image stack per array (or scene) in the source.
        """
