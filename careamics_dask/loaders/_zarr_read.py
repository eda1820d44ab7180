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
from typing import TYPE_CHECKING, Any

import numpy as np
from dask.base import tokenize

from careamics_dask.loaders._handles import cached_open
from careamics_dask.loaders._lazy import RegionReader
from careamics_dask.loaders._zarr_chunks import ChunkDecoder
from careamics_dask.loaders._zarr_store import metadata_mtime, open_array
from careamics_dask.loaders._zarr_tensorstore import TensorStoreBoxes

if TYPE_CHECKING:
    import numpy.typing as npt
    from zarr.types import AnyArray

    from careamics_dask.loaders._zarr_store import ZarrLocation

__all__ = ["ZarrObjectRegionReader", "ZarrRegionReader"]


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

    def open_zarr_array(self) -> AnyArray:
        """Return the array from this process's cache of open arrays."""
        mtime = metadata_mtime(self.location)
        key = ("zarr", self.source, self.array, self.options_token, mtime)
        array: AnyArray = cached_open(key, functools.partial(open_array, self.location))
        return array

    def read(self, region: tuple[slice, ...]) -> npt.NDArray[Any]:
        """Read one region through the per-process cache of open arrays."""
        return np.asarray(self.open_zarr_array()[region])


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
