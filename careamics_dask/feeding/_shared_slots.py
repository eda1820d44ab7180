"""Batches from local worker processes, handed back through shared memory.

``BatchStream(local="processes")`` builds batches in spawned processes. Returned
through the executor's pipe, a batch (512 KiB for 32 float32 patches of 64 x 64) is
pickled, pushed through the pipe in small pieces and unpickled by a thread of the
consumer's process, which then competes with the consumer for the GIL: for batches
that read only a few chunks, that costs more than building them. Here every batch in
flight owns a slot of shared memory (:class:`SharedSlots`, created by the stream's
process); the worker process writes the batch's arrays into the slot and returns
only their layout, and the stream copies them out and frees the slot.

Slots are sized by the first batch, which comes back through the pipe; a later
batch too big for its slot (patches of several sizes) comes back the same way and
makes the following slots bigger. Every slot is unlinked when the stream ends.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.cache import LRUCache

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

__all__ = ["PREFIX", "SharedSlots", "SlotResult", "build_into_slot"]

PREFIX = "careamics-"
"""Start of the slots' names (``/dev/shm/careamics-*`` on Linux; short, for macOS)."""

_ALIGN = 64
"""Arrays start on 64-byte boundaries inside a slot."""

_PAGE = 4096


@dataclass(frozen=True, slots=True)
class SlotResult:
    """What a worker process returns for one batch.

    Attributes
    ----------
    layout : tuple
        ``(shape, dtype, offset)`` of each array written to the slot; empty when
        the arrays come back in ``inline`` instead.
    inline : tuple of numpy.ndarray or None
        The arrays themselves (no slot, or a slot too small).
    has_target : bool
        Whether the batch has targets.
    """

    layout: tuple[tuple[tuple[int, ...], str, int], ...]
    inline: tuple[npt.NDArray[Any], ...] | None
    has_target: bool


def _offsets(arrays: tuple[npt.NDArray[Any], ...]) -> tuple[list[int], int]:
    offsets, end = [], 0
    for array in arrays:
        offsets.append(end)
        end += -(-array.nbytes // _ALIGN) * _ALIGN
    return offsets, end


def _close(_: str, slot: shared_memory.SharedMemory) -> None:
    slot.close()


_ATTACHED_MAX = 64

_attached: LRUCache[str, shared_memory.SharedMemory] = LRUCache(
    _ATTACHED_MAX, on_evict=_close
)
"""Slots this worker process has opened (slots replaced by bigger ones drop out)."""


def _attach(name: str) -> shared_memory.SharedMemory:
    return _attached.get_or_create(name, lambda: shared_memory.SharedMemory(name=name))


def build_into_slot(
    build: Callable[..., tuple[Any, Any]],
    name: str | None,
    size: int,
    *args: Any,
) -> SlotResult:
    """Build a batch and write it into a slot (runs in a worker process).

    Parameters
    ----------
    build : callable
        Returns ``(inputs, targets or None)`` from ``args``.
    name : str or None
        The slot's name; ``None`` returns the arrays inline.
    size : int
        The slot's size in bytes.
    *args
        Passed to ``build``.

    Returns
    -------
    SlotResult
        The arrays' layout in the slot, or the arrays.
    """
    inputs, targets = build(*args)
    arrays = (inputs,) if targets is None else (inputs, targets)
    offsets, end = _offsets(arrays)
    if name is None or end > size:
        return SlotResult((), arrays, targets is not None)
    buffer = _attach(name).buf
    layout = []
    for array, offset in zip(arrays, offsets, strict=True):
        np.ndarray(array.shape, array.dtype, buffer=buffer, offset=offset)[...] = array
        layout.append((tuple(array.shape), array.dtype.str, offset))
    return SlotResult(tuple(layout), None, targets is not None)


class SharedSlots:
    """Shared-memory slots for the batches in flight of one stream.

    Parameters
    ----------
    tag : str, optional
        Part of the slots' names (unique by default).
    """

    def __init__(self, tag: str | None = None) -> None:
        self.tag = tag or uuid.uuid4().hex[:8]
        self.size = 0  # bytes of a slot; 0 until the first batch told
        self._free: list[shared_memory.SharedMemory] = []
        self._all: dict[str, shared_memory.SharedMemory] = {}
        self._count = 0

    def acquire(self) -> shared_memory.SharedMemory | None:
        """Return a free slot (a new one if none is free), or ``None`` before sizing."""
        if self.size == 0:
            return None
        if self._free:
            return self._free.pop()
        name = f"{PREFIX}{self.tag}-{self._count}"
        self._count += 1
        slot = shared_memory.SharedMemory(name=name, create=True, size=self.size)
        self._all[slot.name] = slot
        return slot

    def collect(
        self, result: SlotResult, slot: shared_memory.SharedMemory | None
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
        """Return a batch's arrays (copied out of its slot) and free the slot.

        Parameters
        ----------
        result : SlotResult
            What the worker process returned.
        slot : multiprocessing.shared_memory.SharedMemory or None
            The slot the batch was given.

        Returns
        -------
        tuple of (numpy.ndarray, numpy.ndarray or None)
            Inputs and targets.
        """
        if result.inline is not None:
            arrays = list(result.inline)
            # the following batches get slots that hold this one
            needed = _offsets(result.inline)[1]
            self.size = max(self.size, -(-needed // _PAGE) * _PAGE)
        else:
            assert slot is not None  # a layout comes only from a slot
            arrays = [
                np.ndarray(
                    shape, np.dtype(dtype), buffer=slot.buf, offset=offset
                ).copy()
                for shape, dtype, offset in result.layout
            ]
        if slot is not None:
            self._release(slot)
        return arrays[0], arrays[1] if result.has_target else None

    def _release(self, slot: shared_memory.SharedMemory) -> None:
        if slot.size >= self.size:
            self._free.append(slot)
            return
        self._all.pop(slot.name, None)  # too small now: replaced on demand
        _unlink(slot)

    def close(self) -> None:
        """Unlink every slot (worker processes may still hold theirs open)."""
        for slot in self._all.values():
            _unlink(slot)
        self._all.clear()
        self._free.clear()


def _unlink(slot: shared_memory.SharedMemory) -> None:
    slot.close()
    with contextlib.suppress(FileNotFoundError):  # already gone
        slot.unlink()
