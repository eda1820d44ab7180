"""Capability Protocols of region readers: what a reader can do beyond reading regions.

Every loader describes its arrays with a region reader (:class:`SupportsRegionRead`).
Some formats offer faster ways to read the same pixels, and their readers say so by
implementing a capability:

- :class:`SupportsChunkRead`: it hands out a :class:`ChunkReader` that reads whole
  storage chunks by their grid index on the calling thread (the synchronous Zarr
  chunk decoder);
- :class:`SupportsBoxRead`: it hands out a :class:`BoxReader` that reads boxes
  asynchronously, many at once (TensorStore for local Zarr arrays).

Callers (the graph's patch reader) ask through :func:`chunk_reader_of` and
:func:`box_reader_of` once per reader and keep the answer: ``isinstance`` against a
runtime-checkable Protocol is too slow to ask per patch. A reader that lacks a
capability, or where it does not apply, answers None and keeps being read region by
region; the pixels are the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy as np
    import numpy.typing as npt
    from zarr.types import AnyArray

__all__ = [
    "BACKENDS",
    "CHUNK_CACHE_BYTES",
    "Box",
    "BoxReader",
    "ChunkReader",
    "Runner",
    "SupportsBoxRead",
    "SupportsChunkRead",
    "SupportsRegionRead",
    "SupportsZarrArray",
    "box_reader_of",
    "check_backend",
    "chunk_reader_of",
    "read_chunks_of",
    "reads_over_network",
]

Box = tuple[tuple[int, int] | list[int], ...]
"""A box of an array: ``(start, stop)`` or a sorted list of indices per axis."""

BACKENDS = ("auto", "tensorstore", "zarr")
"""Values of ``batching.backend``: TensorStore where it applies (``auto``), TensorStore
required for every local Zarr source (``tensorstore``), or zarr-python only."""

Runner: TypeAlias = "Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]"
"""``run(function, items)``: ``function`` applied to each item, results in order, on
threads where the caller has them (a :meth:`ChunkReader.read_many` argument)."""

CHUNK_CACHE_BYTES = 64 * 2**20
"""Default per-process budget for decoded chunks (``cache.chunk-bytes``)."""


@runtime_checkable
class SupportsRegionRead(Protocol):
    """Reads rectangular regions of one array (every loader's region reader)."""

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape in the source's own axes."""
        ...

    @property
    def dtype(self) -> np.dtype[Any]:
        """The array's dtype."""
        ...

    @property
    def chunks(self) -> tuple[int, ...]:
        """The storage chunk (the read unit) in the source's own axes."""
        ...

    def __getitem__(self, key: tuple[slice, ...]) -> npt.NDArray[Any]:
        """Read one region (a tuple of unit-step slices)."""
        ...


class ChunkReader(Protocol):
    """Reads whole storage chunks of one array by their index in the chunk grid."""

    @property
    def chunks(self) -> tuple[int, ...]:
        """The chunk grid it reads by index.

        The storage chunk, or a sharded array's inner chunk (finer than the
        reader's own ``chunks``).
        """
        ...

    def read(self, index: tuple[int, ...]) -> npt.NDArray[Any]:
        """Return storage chunk ``index``, cropped to the array's bounds."""
        ...

    def read_many(
        self, indexes: Sequence[tuple[int, ...]], run: Runner
    ) -> list[npt.NDArray[Any]]:
        """Return several chunks (neighbours in one request where the store allows).

        ``run(function, items)`` maps a function over items in order, on the
        caller's threads.
        """
        ...


class BoxReader(Protocol):
    """Reads boxes of one array asynchronously: submit many, then wait for each."""

    def submit(self, box: Box, seen: set[tuple[int, ...]] | None = None) -> Any:
        """Start reading a box; return its future.

        ``seen`` holds the storage chunks already read by the caller's batch, so
        that read counting counts each chunk once.
        """
        ...

    def result(self, future: Any, box: Box) -> npt.NDArray[Any]:
        """Wait for a box that :meth:`submit` started; return its pixels."""
        ...


@runtime_checkable
class SupportsChunkRead(Protocol):
    """A region reader that can read its storage chunks directly."""

    def chunk_reader(self) -> ChunkReader | None:
        """Return a chunk reader of this array, or None where it cannot apply."""
        ...


@runtime_checkable
class SupportsBoxRead(Protocol):
    """A region reader that can read boxes asynchronously."""

    def box_reader(self, *, backend: str, cache_bytes: int) -> BoxReader | None:
        """Return a box reader of this array, or None where it does not apply."""
        ...


@runtime_checkable
class SupportsZarrArray(Protocol):
    """A region reader backed by a zarr-python array it can open in this process."""

    def open_zarr_array(self) -> AnyArray:
        """Return the opened array (the same handle the reader's reads use)."""
        ...


def read_chunks_of(reader: object) -> tuple[int, ...] | None:
    """Return the grid a region reader is best read by, where finer than its chunks.

    Parameters
    ----------
    reader : object
        Any region reader.

    Returns
    -------
    tuple of int or None
        Its ``read_chunks`` (a remote sharded array's inner chunk), or None: read
        it by its ``chunks``.

    Examples
    --------
    >>> read_chunks_of(object()) is None
    True
    """
    chunks = getattr(reader, "read_chunks", None)
    return None if chunks is None else tuple(int(c) for c in chunks)


def reads_over_network(reader: object) -> bool:
    """Return whether a region reader's reads wait on the network (a remote store).

    Such reads spend their time waiting, not computing: more of them may run at once
    than there are cores.

    Parameters
    ----------
    reader : object
        Any region reader.

    Returns
    -------
    bool
        True for readers that say so with a true ``over_network`` attribute.

    Examples
    --------
    >>> reads_over_network(object())
    False
    """
    return bool(getattr(reader, "over_network", False))


def check_backend(backend: str) -> None:
    """Check a ``batching.backend`` value.

    Parameters
    ----------
    backend : str
        The value.

    Raises
    ------
    ValueError
        When it is not one of :data:`BACKENDS`.

    Examples
    --------
    >>> check_backend("auto")
    """
    if backend not in BACKENDS:
        raise ValueError(
            f"Unknown batching backend {backend!r}: expected one of {BACKENDS}. "
            "Set careamics-dask.batching.backend in dask's configuration."
        )


def chunk_reader_of(reader: object) -> ChunkReader | None:
    """Return the chunk reader a region reader offers, or None.

    Ask once per reader and keep the answer: the check is not cheap.

    Parameters
    ----------
    reader : object
        Any region reader.

    Returns
    -------
    ChunkReader or None
        None when the reader lacks :class:`SupportsChunkRead` or it does not apply.

    Examples
    --------
    >>> chunk_reader_of(object()) is None
    True
    """
    if isinstance(reader, SupportsChunkRead):
        return reader.chunk_reader()
    return None


def box_reader_of(
    reader: object, *, backend: str = "auto", cache_bytes: int = CHUNK_CACHE_BYTES
) -> BoxReader | None:
    """Return the asynchronous box reader a region reader offers, or None.

    Ask once per reader and keep the answer: the check is not cheap.

    Parameters
    ----------
    reader : object
        Any region reader.
    backend : {"auto", "tensorstore", "zarr"}, default "auto"
        ``zarr`` always gives None; ``tensorstore`` makes a reader that should
        offer boxes raise where it cannot instead of answering None.
    cache_bytes : int, default 64 MiB
        This process's budget for chunks the box reader keeps decoded.

    Returns
    -------
    BoxReader or None
        None when the reader lacks :class:`SupportsBoxRead` or it does not apply.

    Raises
    ------
    ValueError
        For an unknown ``backend``, or where the reader cannot offer boxes with
        ``backend="tensorstore"``.

    Examples
    --------
    >>> box_reader_of(object()) is None
    True
    """
    check_backend(backend)
    if backend == "zarr" or not isinstance(reader, SupportsBoxRead):
        return None
    return reader.box_reader(backend=backend, cache_bytes=cache_bytes)
