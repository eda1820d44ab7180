"""Region readers of Zarr arrays, and the fast chunk and box reads they offer.

A :class:`ZarrRegionReader` describes one array by its location and reopens it in
each process through the per-process handle cache; a :class:`ZarrObjectRegionReader`
holds a ``zarr.Array`` whose store has no location (memory). Both implement the
capabilities of :mod:`careamics_dask.loaders.capabilities`: whole storage chunks
decoded synchronously (:class:`~careamics_dask.loaders._zarr_chunks.ChunkDecoder`) and
boxes read through TensorStore
(:class:`~careamics_dask.loaders._zarr_tensorstore.TensorStoreBoxes`), each where it
applies.
"""

from __future__ import annotations

import abc
import functools
import itertools
from typing import TYPE_CHECKING, Any

import numpy as np
from dask.base import tokenize

from careamics_dask.errors import SourceReadError
from careamics_dask.loaders._handles import cached_open
from careamics_dask.loaders._lazy import RegionReader, format_region
from careamics_dask.loaders._zarr_chunks import ChunkDecoder
from careamics_dask.loaders._zarr_store import metadata_mtime, open_array
from careamics_dask.loaders._zarr_tensorstore import TensorStoreBoxes

if TYPE_CHECKING:
    import numpy.typing as npt
    from zarr.types import AnyArray

    from careamics_dask.loaders._zarr_store import ZarrLocation

__all__ = ["ZarrObjectRegionReader", "ZarrRegionReader", "stored_keys"]

_KEYS_NAMED = 4
"""Stored keys a failed remote read names (then a count of the others)."""


def stored_keys(array: AnyArray, region: tuple[slice, ...]) -> list[str]:
    """Return the store keys (chunk or shard objects) a region of an array reads.

    Parameters
    ----------
    array : zarr.Array
        The opened array.
    region : tuple of slice
        A region with explicit starts and stops.

    Returns
    -------
    list of str
        Keys relative to the store's root, e.g. ``"x.zarr/a/c/0/1/0"`` minus the
        store, as ``"a/c/0/1/0"``.
    """
    grid = array.shards or array.chunks
    ranges = [
        range(r.start // g, max(r.start // g + 1, -(-r.stop // g)))
        for r, g in zip(region, grid, strict=True)
    ]
    prefix = f"{array.path}/" if array.path else ""
    return [
        prefix + array.metadata.encode_chunk_key(index)
        for index in itertools.product(*ranges)
    ]


class _ZarrReads(RegionReader):
    """The fast reads every Zarr region reader offers, given its opened array."""

    @abc.abstractmethod
    def open_zarr_array(self) -> AnyArray:
        """Return the opened zarr array (the same handle region reads use)."""

    def chunk_reader(self) -> ChunkDecoder | None:
        """Return the synchronous chunk decoder of this array, or None.

        Returns
        -------
        ChunkDecoder or None
            None where it cannot apply (sharded arrays, read units other than the
            storage chunk, asynchronous stores, codecs without synchronous decoding).
        """
        return ChunkDecoder.for_reader(self)

    def box_reader(self, *, backend: str, cache_bytes: int) -> TensorStoreBoxes | None:
        """Return a TensorStore box reader of this array, or None.

        Parameters
        ----------
        backend : {"auto", "tensorstore", "zarr"}
            See :meth:`TensorStoreBoxes.for_reader`.
        cache_bytes : int
            This process's budget for decoded chunks.

        Returns
        -------
        TensorStoreBoxes or None
            None where TensorStore does not apply.
        """
        return TensorStoreBoxes.for_reader(
            self, backend=backend, cache_bytes=cache_bytes
        )


class ZarrRegionReader(_ZarrReads):
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
    inner_chunks : tuple of int, optional
        The inner chunk of a sharded array.
    """

    def __init__(
        self,
        *,
        location: ZarrLocation,
        shape: tuple[int, ...],
        dtype: npt.DTypeLike,
        chunks: tuple[int, ...],
        inner_chunks: tuple[int, ...] | None = None,
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
        self.inner_chunks = inner_chunks

    @property
    def over_network(self) -> bool:
        """Whether the array lies in a remote store (its reads wait on the network)."""
        return self.location.is_remote

    @property
    def read_chunks(self) -> tuple[int, ...] | None:
        """The grid batches read by, where finer than ``chunks``.

        The inner chunk of a sharded array: an inner chunk is read with byte
        ranges of its shard (zarr-python's partial reads, or this package's
        shard layout), where a whole shard would be read and decoded for each
        patch. None otherwise.
        """
        return self.inner_chunks

    def open_zarr_array(self) -> AnyArray:
        """Return the array from this process's cache of open arrays."""
        mtime = metadata_mtime(self.location)
        key = ("zarr", self.source, self.array, self.options_token, mtime)
        array: AnyArray = cached_open(key, functools.partial(open_array, self.location))
        return array

    def read(self, region: tuple[slice, ...]) -> npt.NDArray[Any]:
        """Read one region through the per-process cache of open arrays.

        A remote read that still fails once s3fs's and botocore's retries are spent
        raises a :class:`~careamics_dask.errors.SourceReadError` naming the URLs of
        the stored objects it needed and the options that tune the retries.
        """
        array = self.open_zarr_array()
        try:
            return np.asarray(array[region])
        except Exception as exc:
            if not self.location.is_remote:
                raise
            keys = [f"{self.location.store}/{k}" for k in stored_keys(array, region)]
            named = ", ".join(repr(k) for k in keys[:_KEYS_NAMED])
            more = len(keys) - _KEYS_NAMED
            text = format_region(region)
            raise SourceReadError(
                f"Failed to read region {text} of {self.describe()} from the "
                f"object store: {named}{f' and {more} more' if more > 0 else ''} "
                f"could not be fetched ({type(exc).__name__}: {exc}) after the "
                "client's retries. Check that the server is reachable; for slow or "
                "throttling servers raise the retries and timeouts through "
                "storage_options, e.g. for s3:// {'config_kwargs': {'retries': "
                "{'max_attempts': 10, 'mode': 'adaptive'}, 'read_timeout': 120}}.",
                source=self.source,
                array=self.array,
                region=text,
            ) from exc


class ZarrObjectRegionReader(_ZarrReads):
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

    def open_zarr_array(self) -> AnyArray:
        """Return the array object."""
        return self.zarr_array

    def read(self, region: tuple[slice, ...]) -> npt.NDArray[Any]:
        """Read one region of the array object."""
        return np.asarray(self.zarr_array[region])
