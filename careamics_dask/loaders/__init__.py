"""Loaders: every source kind becomes labeled, lazy ``S C (Z) Y X`` image stacks.

The flow is ``open_images(source, axes, data_type)`` → the registry picks a
:class:`Loader` → the loader describes each array with a picklable region reader →
:func:`build_image_stack` labels it. Third-party loaders register under the
``careamics_dask.loaders`` entry-point group. Formats with faster reads than region
by region offer them through the Protocols of
:mod:`careamics_dask.loaders.capabilities`.
"""

from __future__ import annotations

from careamics_dask.loaders._base import Loader
from careamics_dask.loaders._handles import clear_handle_cache
from careamics_dask.loaders._labels import (
    ReaderBinding,
    build_image_stack,
    check_dtype,
    reader_binding,
)
from careamics_dask.loaders._lazy import (
    RegionReader,
    as_dask_array,
    count_region_reads,
    reader_of,
)
from careamics_dask.loaders.capabilities import (
    BACKENDS,
    CHUNK_CACHE_BYTES,
    Box,
    BoxReader,
    ChunkReader,
    SupportsBoxRead,
    SupportsChunkRead,
    SupportsRegionRead,
    box_reader_of,
    chunk_reader_of,
    read_chunks_of,
    reads_over_network,
)
from careamics_dask.loaders.loading import ImageStackLoading, Loading, ReadFuncLoading
from careamics_dask.loaders.open import open_image, open_images, resolve_loader
from careamics_dask.loaders.pairs import open_pair, validate_stack_pair
from careamics_dask.loaders.registry import (
    get_loader,
    guess_loader,
    list_loaders,
    refresh_loaders,
)
from careamics_dask.loaders.sources import expand_sources, list_files

__all__ = [
    "BACKENDS",
    "CHUNK_CACHE_BYTES",
    "Box",
    "BoxReader",
    "ChunkReader",
    "ImageStackLoading",
    "Loader",
    "Loading",
    "ReadFuncLoading",
    "ReaderBinding",
    "RegionReader",
    "SupportsBoxRead",
    "SupportsChunkRead",
    "SupportsRegionRead",
    "as_dask_array",
    "box_reader_of",
    "build_image_stack",
    "check_dtype",
    "chunk_reader_of",
    "clear_handle_cache",
    "count_region_reads",
    "expand_sources",
    "get_loader",
    "guess_loader",
    "list_files",
    "list_loaders",
    "open_image",
    "open_images",
    "open_pair",
    "read_chunks_of",
    "reader_binding",
    "reader_of",
    "reads_over_network",
    "refresh_loaders",
    "resolve_loader",
    "validate_stack_pair",
]
