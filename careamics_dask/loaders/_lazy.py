"""Laziness as a layer: region readers become Dask arrays with storage-aligned chunks.

A loader describes its source with a :class:`RegionReader`: a small picklable object
with ``shape``, ``dtype``, storage ``chunks`` and a ``read(region)`` method that opens
the source through the per-process handle cache. :func:`as_dask_array` wraps it once;
every read failure is re-raised as :class:`~careamics_dask.errors.SourceReadError`
naming the source, the array inside it and the region.
"""

from __future__ import annotations

import abc
import threading
import weakref
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from careamics_dask.errors import SourceReadError

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "RegionReader",
    "as_dask_array",
    "count_region_reads",
    "format_region",
    "reader_of",
]

_counters: list[list[int]] = []
_counters_lock = threading.Lock()

_readers: weakref.WeakValueDictionary[str, RegionReader] = weakref.WeakValueDictionary()
"""Readers by the name of the Dask array that wraps them (client side only)."""


def _reads_counted() -> bool:
    """Return whether a :class:`count_region_reads` is counting now."""
    return bool(_counters)


def _bump_reads(count: int = 1) -> None:
    if _counters:
        with _counters_lock:
            for counter in _counters:
                counter[0] += count


class count_region_reads:
    """Count region reads made in this process, any thread (a laziness oracle).

    Examples
    --------
    >>> with count_region_reads() as counter:
    ...     pass
    >>> counter.count
    0
    """

    def __init__(self) -> None:
        self._cell = [0]

    @property
    def count(self) -> int:
        """Number of reads seen so far."""
        return self._cell[0]

    def __enter__(self) -> count_region_reads:
        with _counters_lock:
            _counters.append(self._cell)
        return self

    def __exit__(self, *exc: object) -> None:
        with _counters_lock:
            _counters.remove(self._cell)


def format_region(region: tuple[slice, ...]) -> str:
    """Format a region as NumPy slice syntax.

    Parameters
    ----------
    region : tuple of slice
        The region.

    Returns
    -------
    str
        E.g. ``"[0:1, 0:64, 64:128]"``.

    Examples
    --------
    >>> format_region((slice(0, 1), slice(2, 5)))
    '[0:1, 2:5]'
    """
    parts = [
        f"{'' if s.start is None else s.start}:{'' if s.stop is None else s.stop}"
        for s in region
    ]
    return "[" + ", ".join(parts) + "]"


class RegionReader(abc.ABC):
    """Reads rectangular regions of one array inside a source.

    Subclasses hold only picklable descriptions (paths, names, shapes) and open
    their source inside :meth:`read` through
    :func:`careamics_dask.loaders._handles.cached_open`.

    Parameters
    ----------
    source : str
        The file, store or URL.
    array : str
        The array, series or scene inside the source ("" for single-array sources).
    shape : tuple of int
        The array's shape in the source's own axes.
    dtype : numpy.dtype
        The array's dtype.
    chunks : tuple of int
        The storage chunk (page, tile, strip, Zarr chunk) in the source's axes.
    """

    def __init__(
        self,
        *,
        source: str,
        array: str,
        shape: tuple[int, ...],
        dtype: npt.DTypeLike,
        chunks: tuple[int, ...],
    ) -> None:
        self.source = source
        self.array = array
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.chunks = tuple(
            max(1, min(int(c), s)) for c, s in zip(chunks, self.shape, strict=True)
        )

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @abc.abstractmethod
    def read(self, region: tuple[slice, ...]) -> npt.NDArray[Any]:
        """Read one region (a tuple of slices with explicit bounds).

        Parameters
        ----------
        region : tuple of slice
            One slice per dimension, ``start`` and ``stop`` set.

        Returns
        -------
        numpy.ndarray
            The pixels of the region.
        """

    def describe(self) -> str:
        """Describe the array for messages: ``array 'x' in 'store'``."""
        if self.array:
            return f"array {self.array!r} in {self.source!r}"
        return repr(self.source)

    def __getitem__(self, key: tuple[slice, ...] | slice) -> npt.NDArray[Any]:
        region = _normalize_region(key, self.shape)
        _bump_reads()
        try:
            data = self.read(region)
        except SourceReadError:
            raise
        except Exception as exc:
            text = format_region(region)
            raise SourceReadError(
                f"Failed to read region {text} of {self.describe()}: "
                f"{type(exc).__name__}: {exc}. The data may be corrupt, truncated "
                "or no longer reachable; check the source with the library that "
                "wrote it, or regenerate it.",
                source=self.source,
                array=self.array,
                region=text,
            ) from exc
        expected = tuple(s.stop - s.start for s in region)
        if data.shape != expected:
            text = format_region(region)
            raise SourceReadError(
                f"Reading region {text} of {self.describe()} returned shape "
                f"{data.shape}, expected {expected}. The source changed since it was "
                "opened or its metadata is wrong; reopen it.",
                source=self.source,
                array=self.array,
                region=text,
            )
        return np.asarray(data, dtype=self.dtype)

    def __dask_tokenize__(self) -> object:
        return (
            type(self).__name__,
            self.source,
            self.array,
            self.shape,
            str(self.dtype),
            self.chunks,
        )

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.describe()}, shape={self.shape}, dtype={self.dtype})"


def _normalize_region(
    key: tuple[slice, ...] | slice, shape: tuple[int, ...]
) -> tuple[slice, ...]:
    if not isinstance(key, tuple):
        key = (key,)
    key = key + (slice(None),) * (len(shape) - len(key))
    region = []
    for item, size in zip(key, shape, strict=True):
        if not isinstance(item, slice):
            raise TypeError(f"Region readers take slices only, got {item!r}.")
        start, stop, step = item.indices(size)
        if step != 1:
            raise TypeError(f"Region readers take unit-step slices only, got {item!r}.")
        region.append(slice(start, max(start, stop)))
    return tuple(region)


def as_dask_array(reader: RegionReader, *, step: str = "open") -> da.Array:
    """Wrap a region reader as a Dask array chunked like the storage.

    Parameters
    ----------
    reader : RegionReader
        The reader.
    step : str, default "open"
        Middle part of the Dask key name, ``careamics-<step>-<token>``.

    Returns
    -------
    dask.array.Array
        A lazy array; nothing is read until it is computed.
    """
    name = f"careamics-{step}-{tokenize(reader)}"
    array: da.Array = da.from_array(
        reader,
        chunks=reader.chunks,
        name=name,
        lock=False,
        asarray=False,
        fancy=False,
        inline_array=True,
        meta=np.empty((0,) * reader.ndim, dtype=reader.dtype),
    )
    _readers[name] = reader
    return array


def reader_of(array: object) -> RegionReader | None:
    """Return the region reader a Dask array was made from, if it was.

    Parameters
    ----------
    array : object
        Any array.

    Returns
    -------
    RegionReader or None
        The reader behind an array made by :func:`as_dask_array` (and not changed
        since), else None.
    """
    name = getattr(array, "name", None)
    if not isinstance(name, str) or not isinstance(array, da.Array):
        return None
    return _readers.get(name)
