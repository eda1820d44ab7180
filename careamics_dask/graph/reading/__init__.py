"""Reading image stacks inside tasks: patches of a batch, each storage chunk once.

:class:`StackSource` describes a stack for tasks; :class:`PatchReader` reads the
patches of one batch through one of three read paths (asynchronous boxes, storage
chunks, cached Dask blocks in a :class:`BlockCache`) and pads them with
:func:`pad_patch`; :func:`source_blocks` gives a stack as few large blocks read
straight from its source, for reductions.
"""

from __future__ import annotations

from careamics_dask.graph.reading.block_cache import BlockCache
from careamics_dask.graph.reading.patch_reader import PatchReader
from careamics_dask.graph.reading.source_blocks import (
    BLOCK_BYTES,
    group_chunks,
    source_blocks,
)
from careamics_dask.graph.reading.sources import StackSource, pad_patch

__all__ = [
    "BLOCK_BYTES",
    "BlockCache",
    "PatchReader",
    "StackSource",
    "group_chunks",
    "pad_patch",
    "source_blocks",
]
