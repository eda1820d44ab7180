"""Patch boxes of local Zarr arrays read through TensorStore, outside the GIL.

With zarr-python, each storage chunk a batch touches is read and decoded by a Python
call on the task's thread (:mod:`careamics_dask.loaders._zarr_chunks`): the decoding
itself releases the GIL, but the Python around it, about a third of the work per
uniformly drawn patch, does not, so threads building batches side by side use about
1.7 of 2 cores. TensorStore (an optional dependency, ``careamics-dask[fast]``) reads
and decodes a box's chunks on its own C++ thread pool: a batch task submits every box
it needs at once and waits, and the chunks of all of them are decoded in parallel.

A :class:`TensorStoreBoxes` opens one array read-only, through a process-wide
TensorStore context whose decoded-chunk cache is bounded in bytes (configuration key
``cache.chunk-bytes``): boxes of one batch that share a storage chunk decode it once,
and a chunk that later batches touch again is not decoded again while it stays in
the cache. It applies to unsharded or sharded Zarr v2 and v3 arrays in local
folders whose shape and dtype TensorStore reads as zarr-python does; anything else
(remote stores, codecs TensorStore lacks, the package not installed) keeps the
zarr-python path, which returns the same pixels.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.cache import LRUCache
from careamics_dask.errors import SourceReadError
from careamics_dask.loaders._lazy import _bump_reads, _counters, format_region
from careamics_dask.loaders._zarr_chunks import zarr_array_of
from careamics_dask.loaders.capabilities import (
    BACKENDS,
    CHUNK_CACHE_BYTES,
    Box,
    check_backend,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    from careamics_dask.loaders._lazy import RegionReader

__all__ = [
    "BACKENDS",
    "CHUNK_CACHE_BYTES",
    "Box",
    "TensorStoreBoxes",
    "tensorstore_available",
]

logger = logging.getLogger(__name__)

_MAX_OPEN = 64
_opened: LRUCache[tuple[Any, ...], TensorStoreBoxes | None] = LRUCache(_MAX_OPEN)
_contexts: dict[tuple[int, int], Any] = {}
_lock = threading.Lock()


def tensorstore_available() -> bool:
    """Return whether the optional ``tensorstore`` package can be imported."""
    try:
        import tensorstore  # noqa: F401
    except ImportError:
        return False
    return True


def _context(cache_bytes: int, threads: int) -> Any:
    """Return this process's TensorStore context for a cache budget and thread count.

    One context per setting, shared by every array opened with it, so that the
    chunk cache is bounded per process, not per array.
    """
    import tensorstore as ts

    key = (int(cache_bytes), int(threads))
    with _lock:
        context = _contexts.get(key)
        if context is None:
            context = _contexts[key] = ts.Context(
                {
                    "cache_pool": {"total_bytes_limit": int(cache_bytes)},
                    "data_copy_concurrency": {"limit": int(threads)},
                }
            )
    return context


class TensorStoreBoxes:
    """Read boxes of one local Zarr array through TensorStore.

    Build it with :meth:`for_reader`, which returns None where this path does not
    apply.

    Parameters
    ----------
    reader : RegionReader
        The region reader of the array (for messages).
    store : tensorstore.TensorStore
        The array, opened read-only.
    """

    def __init__(self, reader: RegionReader, store: Any) -> None:
        self.reader = reader
        self._store = store
        self._chunks = reader.chunks

    @classmethod
    def for_reader(
        cls,
        reader: RegionReader,
        *,
        backend: str = "auto",
        cache_bytes: int = CHUNK_CACHE_BYTES,
        threads: int | None = None,
    ) -> TensorStoreBoxes | None:
        """Return a box reader for a local Zarr region reader, or None.

        Parameters
        ----------
        reader : RegionReader
            Any region reader.
        backend : {"auto", "tensorstore", "zarr"}, default "auto"
            ``zarr`` always returns None; ``tensorstore`` raises where a local Zarr
            array cannot be read through TensorStore instead of falling back.
        cache_bytes : int, default 64 MiB
            This process's budget for decoded chunks.
        threads : int, optional
            Chunks decoded at the same time (default: the CPUs of this process).

        Returns
        -------
        TensorStoreBoxes or None
            None for ``backend="zarr"``, non-Zarr readers, remote stores, and (with
            ``auto``) when TensorStore is missing or cannot open the array.

        Raises
        ------
        ValueError
            With ``backend="tensorstore"``, when TensorStore is not installed or
            cannot read a local Zarr array exactly as zarr-python does.
        """
        check_backend(backend)
        if backend == "zarr":
            return None
        location = _local_array_path(reader)
        if location is None:
            return None
        if not tensorstore_available():
            if backend == "tensorstore":
                raise ValueError(
                    "batching.backend is 'tensorstore' but the tensorstore package is "
                    "not installed: pip install 'careamics-dask[fast]', or set the "
                    "backend to 'auto'."
                )
            return None
        if threads is None:
            threads = (
                len(os.sched_getaffinity(0))
                if hasattr(os, "sched_getaffinity")
                else (os.cpu_count() or 1)
            )
        key = (*location, reader.shape, str(reader.dtype), cache_bytes, threads)
        if key in _opened:
            found = _opened.get(key)
            if found is not None or backend == "auto":
                return found
        boxes, why = cls._open(reader, location, cache_bytes, threads)
        if boxes is None:
            if backend == "tensorstore":
                raise ValueError(
                    f"TensorStore cannot read {reader.describe()} ({why}); set "
                    "careamics-dask.batching.backend to 'auto' or 'zarr'."
                )
            logger.debug("zarr-python reads %s: %s", reader.describe(), why)
        _opened.replace(key, boxes)
        return boxes

    @classmethod
    def _open(
        cls,
        reader: RegionReader,
        location: tuple[str, int],
        cache_bytes: int,
        threads: int,
    ) -> tuple[TensorStoreBoxes | None, str]:
        import tensorstore as ts

        path, zarr_format = location
        spec = {
            "driver": "zarr3" if zarr_format == 3 else "zarr",
            "kvstore": {"driver": "file", "path": path},
            # a training source does not change while it is read
            "recheck_cached_data": "open",
            "recheck_cached_metadata": "open",
        }
        try:
            store = ts.open(
                spec,
                read=True,
                write=False,
                open=True,
                create=False,
                context=_context(cache_bytes, threads),
            ).result()
        except Exception as exc:  # an unsupported codec or layout
            return None, f"{type(exc).__name__}: {exc}"
        shape = tuple(int(s) for s in store.shape)
        if shape != tuple(reader.shape):
            return None, f"TensorStore sees shape {shape}, zarr {reader.shape}"
        if np.dtype(store.dtype.numpy_dtype) != np.dtype(reader.dtype):
            return None, f"TensorStore sees dtype {store.dtype}, zarr {reader.dtype}"
        if any(int(o) != 0 for o in store.domain.origin):
            return None, "a domain that does not start at 0"
        return cls(reader, store), ""

    def submit(self, box: Box, seen: set[tuple[int, ...]] | None = None) -> Any:
        """Start reading a box; return its future.

        Parameters
        ----------
        box : tuple
            Per array axis, ``(start, stop)`` or a sorted list of indices (the
            channels kept), inside the array.
        seen : set of tuple of int, optional
            The storage chunks the caller's batch has read already: where region
            reads are counted, each chunk of the box is counted once per batch
            (and added to ``seen``).

        Returns
        -------
        tensorstore.Future
            Resolves to the box's pixels.
        """
        index = tuple(
            axis if isinstance(axis, list) else slice(axis[0], axis[1]) for axis in box
        )
        if _counters:  # only while a count_region_reads is active
            self._count(box, set() if seen is None else seen)
        return self._store[index].read()

    def _count(self, box: Box, seen: set[tuple[int, ...]]) -> None:
        """Count the storage chunks a box reads that ``seen`` lacks (a check)."""
        ranges = [
            sorted({i // c for i in axis})
            if isinstance(axis, list)
            else range(axis[0] // c, (axis[1] - 1) // c + 1)
            for axis, c in zip(box, self._chunks, strict=True)
        ]
        new = set(itertools.product(*ranges)) - seen
        seen |= new
        _bump_reads(len(new))

    def result(self, future: Any, box: Box) -> npt.NDArray[Any]:
        """Wait for a box submitted with :meth:`submit`.

        Parameters
        ----------
        future : tensorstore.Future
            What :meth:`submit` returned.
        box : tuple
            The same box (for messages).

        Returns
        -------
        numpy.ndarray
            The pixels, in the array's axes.

        Raises
        ------
        SourceReadError
            When a chunk cannot be read or decoded, naming the source, the array
            and the region.
        """
        try:
            data: npt.NDArray[Any] = future.result()
        except Exception as exc:
            text = format_region(
                tuple(
                    slice(min(axis), max(axis) + 1)
                    if isinstance(axis, list)
                    else slice(*axis)
                    for axis in box
                )
            )
            reader = self.reader
            raise SourceReadError(
                f"Failed to read region {text} of {reader.describe()} through "
                f"TensorStore: {type(exc).__name__}: {exc}. The data may be corrupt, "
                "truncated or no longer reachable; check the source with the "
                "library that wrote it, or regenerate it.",
                source=reader.source,
                array=reader.array,
                region=text,
            ) from exc
        return data


def _local_array_path(reader: RegionReader) -> tuple[str, int] | None:
    """Return ``(folder of the array, zarr format)`` of a local Zarr reader."""
    try:
        array = zarr_array_of(reader)
    except Exception:  # the region reader raises a proper error later
        return None
    if array is None:
        return None
    from zarr.storage import LocalStore

    store = array.store_path.store
    if type(store) is not LocalStore:
        return None
    path = os.path.join(str(store.root), array.store_path.path)
    return path, int(array.metadata.zarr_format)
