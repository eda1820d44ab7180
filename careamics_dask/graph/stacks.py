"""Read zero-padded patches of image stacks inside tasks, each storage chunk once.

A :class:`StackSource` is the small picklable description of one image stack that a
batch task receives: the region reader of its source (when the stack came from a
loader unchanged), or its NumPy or Dask data. :class:`PatchReader` serves the
patches of one batch: it works out which storage chunks the batch touches, reads each
of them once (several at a time), and cuts the patches out, zero-padding where a
patch leaves its image as the reference's ``pad_patch`` does.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from operator import getitem
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np

from careamics_dask.graph._chunk_reads import ChunkDecoder
from careamics_dask.graph._tensorstore_reads import CHUNK_CACHE_BYTES, TensorStoreBoxes
from careamics_dask.loaders._labels import reader_binding
from careamics_dask.loaders._lazy import _bump_reads, _reads_counted

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy.typing as npt
    import xarray as xr

    from careamics_dask.loaders._labels import ReaderBinding
    from careamics_dask.loaders._lazy import RegionReader

__all__ = ["BlockCache", "PatchReader", "StackSource", "pad_patch"]

logger = logging.getLogger(__name__)

ChunkKey = tuple[int, tuple[int, ...]]


class BlockCache:
    """A per-process cache of computed Dask blocks, bounded in bytes.

    Stacks that have no region reader (a custom read function decoding whole files,
    a user's Dask array) are read block by block; a block that several batches need
    (a whole file, typically) is decoded once per visit to this worker.

    Parameters
    ----------
    max_bytes : int
        The budget; the least recently used blocks are dropped beyond it.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._blocks: OrderedDict[tuple[str, tuple[int, ...]], npt.NDArray[Any]] = (
            OrderedDict()
        )
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def get(
        self, array: da.Array, index: tuple[int, ...], *, budget: int | None = None
    ) -> npt.NDArray[Any]:
        """Return block ``index`` of ``array``, computing it when not cached.

        Parameters
        ----------
        array : dask.array.Array
            The array.
        index : tuple of int
            The block index.
        budget : int, optional
            A new byte budget for this cache (the caller's configured value).

        Returns
        -------
        numpy.ndarray
            The block.
        """
        if budget is not None:
            self.max_bytes = int(budget)
        key = (str(array.name), index)
        with self._lock:
            if key in self._blocks:
                self._blocks.move_to_end(key)
                return self._blocks[key]
        block = np.asarray(array.blocks[index].compute(scheduler="sync"))
        with self._lock:
            if key not in self._blocks:
                self._blocks[key] = block
                self._bytes += block.nbytes
            while self._bytes > self.max_bytes and len(self._blocks) > 1:
                _, old = self._blocks.popitem(last=False)
                self._bytes -= old.nbytes
        return block

    def clear(self) -> None:
        """Drop every block."""
        with self._lock:
            self._blocks.clear()
            self._bytes = 0


_block_cache = BlockCache(512 * 2**20)


@dataclass(frozen=True, slots=True, kw_only=True)
class StackSource:
    """What a task needs to read one image stack.

    Attributes
    ----------
    source : str
        The file, store or URL (for messages).
    shape : tuple of int
        The stack's canonical shape ``S C (Z) Y X``.
    dtype : str
        The pixels' dtype in the source.
    binding : ReaderBinding or None
        The source's region reader; regions are read through it when set.
    data : Any
        Otherwise the stack's NumPy or Dask array (``S C (Z) Y X``).
    """

    source: str
    shape: tuple[int, ...]
    dtype: str
    binding: ReaderBinding | None = None
    data: Any = None

    @classmethod
    def from_stack(cls, stack: xr.DataArray) -> StackSource:
        """Describe an image stack for tasks.

        Parameters
        ----------
        stack : xarray.DataArray
            A canonical image stack.

        Returns
        -------
        StackSource
            The reader binding when the stack is a loader's unchanged output, else
            its data.

        Examples
        --------
        >>> import numpy as np
        >>> from careamics_dask.loaders import open_image
        >>> source = StackSource.from_stack(open_image(np.zeros((2, 8, 8)), "SYX"))
        >>> source.shape, source.binding is None
        ((2, 1, 8, 8), True)
        """
        binding = reader_binding(stack)
        return cls(
            source=str(stack.attrs.get("source", stack.name)),
            shape=tuple(int(s) for s in stack.shape),
            dtype=str(stack.attrs.get("original_dtype", stack.dtype)),
            binding=binding,
            data=None if binding is not None else stack.data,
        )

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """The ``(Z,) Y, X`` shape."""
        return self.shape[2:]

    @property
    def n_channels(self) -> int:
        """The number of channels."""
        return self.shape[1]


def pad_patch(
    coords: Sequence[int],
    patch_size: Sequence[int],
    region: npt.NDArray[Any],
) -> npt.NDArray[np.float32]:
    """Place the in-image part of a patch into a zero patch (the reference's rule).

    Parameters
    ----------
    coords : Sequence[int]
        Patch start along ``(Z,) Y, X``; may be negative.
    patch_size : Sequence[int]
        Patch size.
    region : numpy.ndarray
        ``C (Z) Y X`` pixels of the patch clipped to the image.

    Returns
    -------
    numpy.ndarray
        ``C (Z) Y X`` float32 patch, zero where it leaves the image.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3)
    >>> pad_patch((-1, 0), (2, 2), image[:, 0:1, 0:2])[0].tolist()
    [[0.0, 0.0], [1.0, 2.0]]
    """
    out = np.zeros((region.shape[0], *patch_size), dtype=np.float32)
    offset = [max(0, -c) for c in coords]
    spatial = [slice(o, o + s) for o, s in zip(offset, region.shape[1:], strict=True)]
    target = (slice(None), *spatial)
    out[target] = region
    return out


def _clip(
    coords: Sequence[int], patch_size: Sequence[int], spatial: Sequence[int]
) -> tuple[tuple[int, int], ...]:
    return tuple(
        (min(max(c, 0), s), min(max(c + p, 0), s))
        for c, p, s in zip(coords, patch_size, spatial, strict=True)
    )


class PatchReader:
    """Reads the patches of one batch, each storage chunk once.

    Parameters
    ----------
    sources : Sequence[StackSource]
        The image stacks, indexed by a patch's ``data_idx``.
    threads : int, default 4
        How many storage chunks are read at the same time through region readers
        (Zarr chunks decoded by a :class:`ChunkDecoder` are read on the calling
        thread: file reads and zstd decoding release the GIL, so batch tasks
        running in parallel threads already use the cores, and a pool per batch
        would only add overhead).
    cache_bytes : int, optional
        Byte budget of this process's cache of whole Dask blocks (sources without a
        region reader); unchanged when None.
    channels : Sequence[int], optional
        The only channels the caller will keep: storage chunks holding none of them
        are not read (regions then hold undefined values in the other channels).
        All channels by default.
    backend : {"auto", "tensorstore", "zarr"}, default "auto"
        How boxes of local Zarr arrays are read: ``auto`` reads them through
        TensorStore where it is installed and applies
        (:mod:`careamics_dask.graph._tensorstore_reads`), ``zarr`` always through
        zarr-python chunk by chunk; the pixels are the same.
    chunk_cache_bytes : int, default 64 MiB
        This process's budget for chunks TensorStore keeps decoded.
    """

    def __init__(
        self,
        sources: Sequence[StackSource],
        *,
        threads: int = 4,
        cache_bytes: int | None = None,
        channels: Sequence[int] | None = None,
        backend: str = "auto",
        chunk_cache_bytes: int = CHUNK_CACHE_BYTES,
    ) -> None:
        self.sources = list(sources)
        self.threads = max(1, int(threads))
        self.cache_bytes = cache_bytes
        self.channels = None if channels is None else frozenset(map(int, channels))
        self.backend = backend
        self.chunk_cache_bytes = int(chunk_cache_bytes)
        self._chunks: dict[ChunkKey, npt.NDArray[Any]] = {}
        self._geometries: dict[int, _Geometry] = {}
        self._decoders: dict[int, ChunkDecoder | None] = {}
        self._box_readers: dict[int, TensorStoreBoxes | None] = {}
        # boxes submitted to TensorStore: (data_idx, sample_idx, bounds) -> read
        self._pending: dict[tuple[int, int, tuple[tuple[int, int], ...]], _Pending] = {}
        self._box_chunks: set[ChunkKey] = set()  # counted where reads are counted

    def _boxes(self, data_idx: int, binding: ReaderBinding) -> TensorStoreBoxes | None:
        if data_idx not in self._box_readers:
            self._box_readers[data_idx] = _boxes_of(
                binding, self.backend, self.chunk_cache_bytes
            )
        return self._box_readers[data_idx]

    def _geometry(self, data_idx: int, binding: ReaderBinding) -> _Geometry:
        geometry = self._geometries.get(data_idx)
        if geometry is None:
            geometry = self._geometries[data_idx] = _geometry_of(binding)
        return geometry

    def _decoder(self, data_idx: int, binding: ReaderBinding) -> ChunkDecoder | None:
        if data_idx not in self._decoders:
            self._decoders[data_idx] = _decoder_of(binding)
        return self._decoders[data_idx]

    def prefetch(
        self,
        data_idx: npt.NDArray[np.int64],
        sample_idx: npt.NDArray[np.int64],
        coords: npt.NDArray[np.int64],
        patch_size: npt.NDArray[np.int64],
    ) -> int:
        """Read every storage chunk the given patches touch, concurrently.

        Parameters
        ----------
        data_idx, sample_idx : numpy.ndarray
            Stack and sample of each patch, ``(N,)``.
        coords, patch_size : numpy.ndarray
            Start and size of each patch, ``(N, ndim)``.

        Returns
        -------
        int
            The number of chunks read.
        """
        low, high = self.clipped(data_idx, coords, patch_size)
        return self.prefetch_bounds(data_idx, sample_idx, low, high)

    def clipped(
        self,
        data_idx: npt.NDArray[np.int64],
        coords: npt.NDArray[np.int64],
        patch_size: npt.NDArray[np.int64],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Clip patches to their images: starts and stops, ``(N, ndim)`` each.

        Parameters
        ----------
        data_idx : numpy.ndarray
            Stack of each patch, ``(N,)``.
        coords, patch_size : numpy.ndarray
            Start and size of each patch, ``(N, ndim)``.

        Returns
        -------
        tuple of numpy.ndarray
            The in-image ``start`` and ``stop`` of each patch (equal where a patch
            lies outside its image).
        """
        coords = np.asarray(coords, dtype=np.int64)
        if len(coords) == 0:
            return coords, coords
        shapes = np.array([s.spatial_shape for s in self.sources], dtype=np.int64)
        spatial = shapes[np.asarray(data_idx, dtype=np.int64)]
        low = np.clip(coords, 0, spatial)
        high = np.clip(coords + np.asarray(patch_size, dtype=np.int64), 0, spatial)
        return low, high

    def prefetch_bounds(
        self,
        data_idx: npt.NDArray[np.int64],
        sample_idx: npt.NDArray[np.int64],
        low: npt.NDArray[np.int64],
        high: npt.NDArray[np.int64],
    ) -> int:
        """Read every storage chunk the given clipped boxes touch, concurrently.

        Parameters
        ----------
        data_idx, sample_idx : numpy.ndarray
            Stack and sample of each box, ``(N,)``.
        low, high : numpy.ndarray
            In-image start and stop of each box, ``(N, ndim)`` (from :meth:`clipped`).

        Returns
        -------
        int
            The number of chunks read.
        """
        wanted: dict[ChunkKey, tuple[RegionReader, tuple[slice, ...]]] = {}
        submitted = 0
        for d, s, lo, hi in zip(
            data_idx.tolist(),
            sample_idx.tolist(),
            low.tolist(),
            high.tolist(),
            strict=True,
        ):
            binding = self.sources[d].binding
            if binding is None:
                continue
            bounds = tuple(zip(lo, hi, strict=True))
            geometry = self._geometry(d, binding)
            boxes = self._boxes(d, binding)
            if boxes is not None:
                submitted += self._submit(d, s, bounds, boxes, geometry)
                continue
            _, touched = geometry.box(s, bounds)
            for index, region in touched:
                if not geometry.holds_any(index, self.channels):
                    continue
                if (d, index) not in self._chunks:
                    wanted[(d, index)] = (binding.reader, region)
        if not wanted:
            return submitted
        decoded: list[ChunkKey] = []
        threaded: list[ChunkKey] = []
        for key in wanted:
            binding = self.sources[key[0]].binding
            has_decoder = (
                binding is not None and self._decoder(key[0], binding) is not None
            )
            (decoded if has_decoder else threaded).append(key)
        for key in decoded:
            decoder = self._decoders[key[0]]
            if decoder is not None:  # always, by construction
                self._chunks[key] = decoder.read(key[1])

        def read(key: ChunkKey) -> npt.NDArray[Any]:
            reader, region = wanted[key]
            return reader[region]

        if self.threads == 1 or len(threaded) <= 1:
            results = [read(k) for k in threaded]
        else:
            with ThreadPoolExecutor(min(self.threads, len(threaded))) as pool:
                results = list(pool.map(read, threaded))
        self._chunks.update(zip(threaded, results, strict=True))
        logger.debug("read %d storage chunks", len(wanted))
        return len(wanted) + submitted

    def _submit(
        self,
        data_idx: int,
        sample_idx: int,
        bounds: tuple[tuple[int, int], ...],
        boxes: TensorStoreBoxes,
        geometry: _Geometry,
    ) -> int:
        """Start reading one box through TensorStore (once); return 1 if started."""
        key = (data_idx, sample_idx, bounds)
        if key in self._pending or any(a >= b for a, b in bounds):
            return 0
        regions = geometry.regions(sample_idx, bounds)
        axis = geometry.channel_axis
        index: list[tuple[int, int] | list[int]] = list(regions)
        widen = None
        kept = geometry.kept_channels(self.channels)
        if axis is not None and kept is not None:  # only the channels kept
            index[axis] = kept
            widen = (axis, regions[axis][1], kept)
        box = tuple(index)
        self._pending[key] = _Pending(boxes, boxes.submit(box), box, widen)
        if _reads_counted():
            self._count_box(data_idx, sample_idx, bounds, geometry)
        return 1

    def _count_box(
        self,
        data_idx: int,
        sample_idx: int,
        bounds: tuple[tuple[int, int], ...],
        geometry: _Geometry,
    ) -> None:
        """Count the storage chunks a TensorStore box reads, each once (a check)."""
        _, touched = geometry.box(sample_idx, bounds)
        new = {
            (data_idx, chunk)
            for chunk, _ in touched
            if geometry.holds_any(chunk, self.channels)
        } - self._box_chunks
        self._box_chunks |= new
        _bump_reads(len(new))

    def submit_direct(
        self,
        rows: npt.NDArray[np.intp],
        data_idx: npt.NDArray[np.int64],
        sample_idx: npt.NDArray[np.int64],
        low: npt.NDArray[np.int64],
        high: npt.NDArray[np.int64],
    ) -> tuple[list[_Direct], npt.NDArray[np.bool_]]:
        """Start reading whole patch boxes through TensorStore, with no per-box setup.

        For stacks read through TensorStore whose source axes are already in
        canonical order (``S C (Z) Y X`` with any of them absent), the common case:
        each box is one read whose result is its ``C (Z) Y X`` pixels. Patches of
        other stacks are left to :meth:`prefetch_bounds` and :meth:`region`.

        Parameters
        ----------
        rows : numpy.ndarray
            The caller's row number of each box, ``(N,)``.
        data_idx, sample_idx : numpy.ndarray
            Stack and sample of each box, ``(N,)``.
        low, high : numpy.ndarray
            In-image start and stop of each box, ``(N, ndim)``; boxes must not be
            empty.

        Returns
        -------
        tuple of (list, numpy.ndarray)
            The reads started, for :meth:`place_direct`, and which boxes they cover.
        """
        started: list[_Direct] = []
        covered = np.zeros(len(rows), dtype=np.bool_)
        if not len(rows):
            return started, covered
        first = int(data_idx[0])
        stacks = [first] if (data_idx == first).all() else np.unique(data_idx).tolist()
        for d in stacks:
            binding = self.sources[d].binding
            if binding is None:
                continue
            boxes = self._boxes(d, binding)
            geometry = self._geometry(d, binding)
            if boxes is None or not geometry.in_canonical_order:
                continue
            mine = np.flatnonzero(data_idx == d)
            covered[mine] = True
            prefix, channels = geometry.direct_index(self.channels)
            counted = _reads_counted()
            for row, s, lo, hi in zip(
                rows[mine].tolist(),
                sample_idx[mine].tolist(),
                low[mine].tolist(),
                high[mine].tolist(),
                strict=True,
            ):
                box = (
                    *((s, s + 1) for _ in prefix),
                    *channels,
                    *zip(lo, hi, strict=True),
                )
                started.append(_Direct(row, boxes, boxes.submit(box), box, lo, hi))
                if counted:
                    bounds = tuple(zip(lo, hi, strict=True))
                    self._count_box(d, s, bounds, geometry)
        return started, covered

    def place_direct(
        self,
        started: list[_Direct],
        out: npt.NDArray[np.float32],
        coords: npt.NDArray[np.int64],
        selection: Sequence[int] | None,
    ) -> None:
        """Wait for reads of :meth:`submit_direct` and place them in their patches.

        Parameters
        ----------
        started : list
            What :meth:`submit_direct` returned.
        out : numpy.ndarray
            The batch ``(N, C, (Z), Y, X)``, zero where patches leave their images.
        coords : numpy.ndarray
            Start of each of the caller's rows, ``(N, ndim)`` (may be negative).
        selection : Sequence[int] or None
            The channels to keep, in order (the reader's ``channels``).
        """
        order = None
        if selection is not None:
            kept = sorted(set(selection))
            order = [kept.index(c) for c in selection]
            if order == list(range(len(kept))):
                order = None
        size = out.shape[2:]
        starts = coords.tolist()
        for read in started:
            data = read.boxes.result(read.future, read.box)
            spatial = data.shape[data.ndim - len(size) :]
            data = data.reshape(-1, *spatial)
            if order is not None:
                data = data[order]
            start = starts[read.row]
            if spatial == size and start == read.low:
                out[read.row] = data
                continue
            place: tuple[int | slice, ...] = (
                read.row,
                slice(None),
                *(
                    slice(a - c, b - c)
                    for a, b, c in zip(read.low, read.high, start, strict=True)
                ),
            )
            out[place] = data

    def region(
        self, data_idx: int, sample_idx: int, bounds: tuple[tuple[int, int], ...]
    ) -> npt.NDArray[Any]:
        """Return all channels of a clipped region, ``C (Z) Y X``, source dtype.

        Parameters
        ----------
        data_idx : int
            The stack.
        sample_idx : int
            The sample along ``S``.
        bounds : tuple of (int, int)
            ``(start, stop)`` per spatial axis, inside the image.

        Returns
        -------
        numpy.ndarray
            The pixels.
        """
        source = self.sources[data_idx]
        spatial = tuple(slice(a, b) for a, b in bounds)
        if isinstance(source.data, da.Array):
            return self._from_blocks(source.data, sample_idx, bounds)
        if source.binding is None:
            return np.asarray(source.data[(sample_idx, slice(None), *spatial)])
        pending = self._pending.get((data_idx, sample_idx, bounds))
        if pending is not None:
            return self._geometry(data_idx, source.binding).canonical(pending.result())
        return self._assemble(data_idx, source.binding, sample_idx, bounds)

    def _from_blocks(
        self, array: da.Array, sample_idx: int, bounds: tuple[tuple[int, int], ...]
    ) -> npt.NDArray[Any]:
        """Assemble a region from cached whole blocks of a Dask array."""
        wanted = [(sample_idx, sample_idx + 1), (0, array.shape[1]), *bounds]
        edges = [np.cumsum((0, *c)) for c in array.chunks]
        ranges = [
            range(
                int(np.searchsorted(e, lo, side="right")) - 1,
                int(np.searchsorted(e, hi, side="left")),
            )
            for (lo, hi), e in zip(wanted, edges, strict=True)
        ]
        out = np.empty(tuple(hi - lo for lo, hi in wanted), dtype=array.dtype)
        for index in itertools.product(*ranges):
            block = _block_cache.get(array, index, budget=self.cache_bytes)
            src, dst = [], []
            for (lo, hi), e, i in zip(wanted, edges, index, strict=True):
                start, stop = max(lo, int(e[i])), min(hi, int(e[i + 1]))
                src.append(slice(start - int(e[i]), stop - int(e[i])))
                dst.append(slice(start - lo, stop - lo))
            out[tuple(dst)] = block[tuple(src)]
        region: npt.NDArray[Any] = out[0]
        return region

    def patch(
        self,
        data_idx: int,
        sample_idx: int,
        coords: Sequence[int],
        patch_size: Sequence[int],
        channels: Sequence[int] | None = None,
    ) -> npt.NDArray[np.float32]:
        """Return one zero-padded float32 patch, ``C (Z) Y X``.

        Parameters
        ----------
        data_idx : int
            The stack.
        sample_idx : int
            The sample along ``S``.
        coords : Sequence[int]
            Patch start (may be negative or beyond the image).
        patch_size : Sequence[int]
            Patch size.
        channels : Sequence[int], optional
            Channels to keep, in order; all when None.

        Returns
        -------
        numpy.ndarray
            The patch.
        """
        source = self.sources[data_idx]
        bounds = _clip(coords, patch_size, source.spatial_shape)
        if any(a == b for a, b in bounds):
            n = source.n_channels if channels is None else len(channels)
            return np.zeros((n, *patch_size), dtype=np.float32)
        block = self.region(data_idx, sample_idx, bounds)
        if channels is not None:
            block = block[list(channels)]
        return pad_patch(coords, patch_size, block)

    def _chunk(
        self, data_idx: int, binding: ReaderBinding, key: ChunkKey, region: Region
    ) -> npt.NDArray[Any]:
        """Return a storage chunk, reading it now if the prefetch did not."""
        chunk = self._chunks.get(key)
        if chunk is None:
            decoder = self._decoder(data_idx, binding)
            if decoder is not None:
                chunk = decoder.read(key[1])
            else:
                chunk = binding.reader[region]
            self._chunks[key] = chunk
        return chunk

    def _assemble(
        self,
        data_idx: int,
        binding: ReaderBinding,
        sample_idx: int,
        bounds: tuple[tuple[int, int], ...],
    ) -> npt.NDArray[Any]:
        geometry = self._geometry(data_idx, binding)
        regions, touched = geometry.box(sample_idx, bounds)
        if len(touched) == 1:  # inside one chunk: a view, no copy
            index, chunk_region = touched[0]
            chunk = self._chunk(data_idx, binding, (data_idx, index), chunk_region)
            view = tuple(
                slice(lo - piece.start, hi - piece.start)
                for (lo, hi), piece in zip(regions, chunk_region, strict=True)
            )
            return geometry.canonical(chunk[view])
        out = np.empty(tuple(r[1] - r[0] for r in regions), dtype=binding.reader.dtype)
        for index, chunk_region in touched:
            if not geometry.holds_any(index, self.channels):
                continue  # channels the caller drops: left undefined
            chunk = self._chunk(data_idx, binding, (data_idx, index), chunk_region)
            src, dst = [], []
            for (lo, hi), piece in zip(regions, chunk_region, strict=True):
                start, stop = max(lo, piece.start), min(hi, piece.stop)
                src.append(slice(start - piece.start, stop - piece.start))
                dst.append(slice(start - lo, stop - lo))
            out[tuple(dst)] = chunk[tuple(src)]
        return geometry.canonical(out)


Region = tuple[slice, ...]


@dataclass(frozen=True, slots=True)
class _Direct:
    """A patch box read through TensorStore for :meth:`PatchReader.place_direct`."""

    row: int
    boxes: TensorStoreBoxes
    future: Any
    box: tuple[tuple[int, int] | list[int], ...]
    low: list[int]
    high: list[int]


class _Pending:
    """A box submitted to TensorStore, and its pixels once they have arrived.

    ``channels`` is ``(axis, size, kept)`` where only the ``kept`` channels were
    read: the box is then widened to all ``size`` channels, the others undefined.
    """

    __slots__ = ("_box", "_boxes", "_channels", "_data", "_future")

    def __init__(
        self,
        boxes: TensorStoreBoxes,
        future: Any,
        box: tuple[tuple[int, int] | list[int], ...],
        channels: tuple[int, int, list[int]] | None,
    ) -> None:
        self._boxes, self._future, self._box = boxes, future, box
        self._channels = channels
        self._data: npt.NDArray[Any] | None = None

    def result(self) -> npt.NDArray[Any]:
        """Return the box in source axes."""
        if self._data is None:
            data = self._boxes.result(self._future, self._box)
            if self._channels is not None:
                axis, size, kept = self._channels
                whole = np.empty(
                    (*data.shape[:axis], size, *data.shape[axis + 1 :]), data.dtype
                )
                where: list[slice | list[int]] = [slice(None)] * data.ndim
                where[axis] = kept
                whole[tuple(where)] = data
                data = whole
            self._data = data
        return self._data


_MAX_BOXES = 4096
_MAX_AXIS_SLICES = 1 << 16


class _AxisSlices:
    """``slices[i]``: the region of chunk ``i`` along one axis (a list when short)."""

    __slots__ = ("_chunk", "_length", "_table")

    def __init__(self, chunk: int, length: int) -> None:
        self._chunk, self._length = int(chunk), int(length)
        n = -(-self._length // self._chunk) if self._chunk else 0
        self._table = (
            [self._slice(i) for i in range(n)] if n <= _MAX_AXIS_SLICES else None
        )

    def _slice(self, i: int) -> slice:
        return slice(i * self._chunk, min((i + 1) * self._chunk, self._length))

    def __getitem__(self, i: int) -> slice:
        table = self._table
        return table[i] if table is not None else self._slice(i)


_MAX_GEOMETRIES = 64
_geometries: OrderedDict[int, tuple[ReaderBinding, Any]] = OrderedDict()
_geometries_lock = threading.Lock()


_decoders: OrderedDict[int, tuple[ReaderBinding, Any]] = OrderedDict()


def _kept(
    cache: OrderedDict[int, tuple[ReaderBinding, Any]],
    binding: ReaderBinding,
    build: Callable[[ReaderBinding], Any],
) -> Any:
    """Return ``build(binding)``, built once per binding and kept in ``cache``.

    A worker unpickles a plan once and keeps it, so its bindings, and what is kept
    for them (chunk decoders, geometries and the chunk regions they remember),
    serve every batch. The cache holds the binding itself, so its ``id`` is not
    reused while the entry lives.
    """
    key = id(binding)
    with _geometries_lock:
        found = cache.get(key)
        if found is not None and found[0] is binding:
            cache.move_to_end(key)
            return found[1]
    value = build(binding)
    with _geometries_lock:
        cache[key] = (binding, value)
        while len(cache) > _MAX_GEOMETRIES:
            cache.popitem(last=False)
    return value


def _decoder_of(binding: ReaderBinding) -> ChunkDecoder | None:
    """Return the chunk decoder of a binding (or None), kept across batches."""
    decoder: ChunkDecoder | None = _kept(
        _decoders, binding, lambda b: ChunkDecoder.for_reader(b.reader)
    )
    return decoder


_tensorstore_readers: OrderedDict[int, tuple[ReaderBinding, Any]] = OrderedDict()


def _boxes_of(
    binding: ReaderBinding, backend: str, cache_bytes: int
) -> TensorStoreBoxes | None:
    """Return the TensorStore reader of a binding (or None), kept across batches."""
    by_setting: dict[tuple[str, int], TensorStoreBoxes | None] = _kept(
        _tensorstore_readers, binding, lambda b: {}
    )
    setting = (backend, cache_bytes)
    if setting not in by_setting:
        by_setting[setting] = TensorStoreBoxes.for_reader(
            binding.reader, backend=backend, cache_bytes=cache_bytes
        )
    return by_setting[setting]


def _geometry_of(binding: ReaderBinding) -> _Geometry:
    """Return the geometry of a binding, kept across batches in this process."""
    geometry: _Geometry = _kept(_geometries, binding, _Geometry)
    return geometry


class _Geometry:
    """How a canonical sample and spatial box map onto one source's axes and chunks.

    Computed once per stack and batch, so that cutting a patch costs no axes
    parsing; the chunks of each box are remembered for the patch that follows its
    prefetch.
    """

    __slots__ = (
        "_boxes",
        "_channel_axis",
        "_chunk_slices",
        "_chunks",
        "_order",
        "_roles",
        "_shape",
        "_spatial",
        "_t",
    )

    def __init__(self, binding: ReaderBinding) -> None:
        axes = binding.axes
        self._shape = binding.shape
        self._chunks = binding.reader.chunks
        spatial = [a for a in "ZYX" if a in axes]
        # per source axis: a sample axis letter, "C", or the index of a spatial axis
        self._roles: list[str | int] = [
            spatial.index(a) if a in spatial else a for a in axes
        ]
        # the merged sample index is s * T + t when both S and T are present
        sizes = dict(zip(axes, binding.shape, strict=True))
        self._t = sizes["T"] if "S" in sizes and "T" in sizes else 0
        # source axes in canonical order: S, T, C, Z, Y, X
        self._order = [axes.index(a) for a in "STCZYX" if a in axes]
        self._spatial = len(spatial)
        self._boxes: dict[
            tuple[int, tuple[tuple[int, int], ...]],
            tuple[list[tuple[int, int]], list[tuple[tuple[int, ...], Region]]],
        ] = {}
        # the region of chunk i along each source axis, built once
        self._chunk_slices = [
            _AxisSlices(c, n) for c, n in zip(self._chunks, self._shape, strict=True)
        ]
        self._channel_axis = axes.index("C") if "C" in axes else None

    @property
    def channel_axis(self) -> int | None:
        """The source axis of channels, or None."""
        return self._channel_axis

    @property
    def in_canonical_order(self) -> bool:
        """Whether the source axes are ``S C (Z) Y X`` already (any may be absent).

        A sample axis ``S`` or ``T`` (not both) comes first, then ``C``, then the
        spatial axes: a box read from the source is its canonical region.
        """
        return self._t == 0 and self._order == sorted(self._order)

    def direct_index(
        self, channels: frozenset[int] | None
    ) -> tuple[list[str], list[tuple[int, int] | list[int]]]:
        """Return the sample axes and the channel entry of a canonical-order box.

        Parameters
        ----------
        channels : frozenset of int or None
            The channels the caller keeps (None: all).

        Returns
        -------
        tuple of (list, list)
            The sample axis letters before ``C``, and ``[]`` (no channel axis),
            ``[(0, C)]`` or ``[kept channels]``.
        """
        prefix = [r for r in self._roles if r in ("S", "T")]
        axis = self._channel_axis
        if axis is None:
            return prefix, []
        kept = self.kept_channels(channels)
        return prefix, [(0, self._shape[axis]) if kept is None else kept]

    def kept_channels(self, channels: frozenset[int] | None) -> list[int] | None:
        """Return the sorted channels to read where they are fewer than all, else None.

        Parameters
        ----------
        channels : frozenset of int or None
            The channels the caller keeps (None: all).

        Returns
        -------
        list of int or None
            None when every channel is read (or the source has no channel axis).
        """
        axis = self._channel_axis
        if axis is None or channels is None:
            return None
        size = self._shape[axis]
        kept = sorted(c for c in channels if c < size)
        return kept if len(kept) < size else None

    def holds_any(
        self, index: tuple[int, ...], channels: frozenset[int] | None
    ) -> bool:
        """Return whether storage chunk ``index`` holds any of ``channels``."""
        axis = self._channel_axis
        if channels is None or axis is None:
            return True
        size = self._chunks[axis]
        start = index[axis] * size
        return any(start <= c < start + size for c in channels)

    def regions(
        self, sample_idx: int, bounds: tuple[tuple[int, int], ...]
    ) -> list[tuple[int, int]]:
        """Return ``(start, stop)`` per source axis of a sample's spatial box."""
        regions = []
        for role, size in zip(self._roles, self._shape, strict=True):
            if isinstance(role, int):
                regions.append(bounds[role])
            elif role == "C":
                regions.append((0, size))
            else:
                index = sample_idx
                if self._t:
                    index = (
                        sample_idx // self._t if role == "S" else sample_idx % self._t
                    )
                regions.append((index, index + 1))
        return regions

    def box(
        self, sample_idx: int, bounds: tuple[tuple[int, int], ...]
    ) -> tuple[list[tuple[int, int]], list[tuple[tuple[int, ...], Region]]]:
        """Return a box's regions and the chunks it touches (index and region)."""
        key = (sample_idx, bounds)
        found = self._boxes.get(key)
        if found is not None:
            return found
        regions = self.regions(sample_idx, bounds)
        ranges = [
            range(lo // c, (hi - 1) // c + 1) if hi > lo else range(0)
            for (lo, hi), c in zip(regions, self._chunks, strict=True)
        ]
        slices = self._chunk_slices
        touched = [
            (index, tuple(map(getitem, slices, index)))
            for index in itertools.product(*ranges)
        ]
        if len(self._boxes) >= _MAX_BOXES:
            self._boxes.clear()
        self._boxes[key] = (regions, touched)
        return regions, touched

    def canonical(self, region: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Reorder a one-sample region in source axes to ``C (Z) Y X``."""
        moved = np.transpose(region, self._order)
        channels = math.prod(moved.shape[: moved.ndim - self._spatial])
        return moved.reshape((channels, *moved.shape[moved.ndim - self._spatial :]))
