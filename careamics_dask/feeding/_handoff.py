"""Batch tasks' results handed to a client on the same machine through a tmpfs file.

On a cluster, a task's batches travel from the worker to the client over TCP: the
worker's event loop writes 4 MiB per task of 8 batches, and the client's event loop
(the training process) reads them, about 0.4 ms of each side's CPU per 32-patch
batch (``BENCHMARKS.md``, "Distributed path"). When the workers run on the client's
machine (the embedded cluster, or ``dask worker`` processes beside it), the client
instead creates one empty file per task in ``/dev/shm`` and passes its path with the
task; the worker writes the batches' arrays into it with one ``pwritev`` and returns
only their layout, and the client maps the file (copy-on-write), unlinks it and
hands out views of the mapping: no copy and no socket on the client's side.

The client owns every file: it creates it before the task is submitted and unlinks
it when the batches are read, the task is released or the stream closes, so a task
that runs after its stream ended finds no file and returns its arrays the usual way.
A worker that cannot write the file (another machine, tmpfs full) does the same, so
the handoff never loses a batch. Files of a client process that died are swept when
the next handoff starts. Batches are deterministic, so a task that ran twice writes
the same bytes. The batches of one task share its mapping: a batch kept alive keeps
the whole task's bytes (``batching.task-bytes``) until it is freed; copy what you
keep (``batch.input.copy()``) or set ``batching.shared-memory: false``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import math
import mmap
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.runtime import get_option

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

__all__ = [
    "HANDOFF_DIR",
    "Handoff",
    "SharedBatches",
    "free_bytes",
    "shared_memory_option",
    "write_batches",
]

HANDOFF_DIR = Path("/dev/shm")
"""Where the files live (a tmpfs: memory, not disk)."""

_PREFIX = "careamics-dask-batches-"
"""Start of the files' names, followed by the client's pid."""

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclasses.dataclass(frozen=True)
class SharedBatches:
    """What a worker returns after writing a task's batches into the client's file.

    Attributes
    ----------
    path : str
        The file.
    layout : tuple
        Per batch, ``(shape, dtype)`` of its input and of its target (or None).
    """

    path: str
    layout: tuple[
        tuple[tuple[tuple[int, ...], str], tuple[tuple[int, ...], str] | None], ...
    ]

    def load(self) -> list[tuple[npt.NDArray[Any], npt.NDArray[Any] | None]]:
        """Map the batches into this process and unlink the file.

        The arrays are views of one private (copy-on-write) mapping of the file:
        nothing is copied, writing to them leaves the file alone, and the memory
        is freed when the last of them is.

        Returns
        -------
        list of tuple
            ``(input, target or None)`` per batch, in order.

        Raises
        ------
        OSError
            When the file is gone or shorter than its layout.
        """
        sizes = [
            (shape, np.dtype(dtype))
            for pair in self.layout
            for shape, dtype in (p for p in pair if p is not None)
        ]
        expected = sum(math.prod(shape) * dtype.itemsize for shape, dtype in sizes)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            if size < expected:
                raise OSError(
                    errno.EIO,
                    f"{self.path} holds {size} of its {expected} bytes of batches",
                )
            mapped = mmap.mmap(
                fd, expected, flags=mmap.MAP_PRIVATE,
                prot=mmap.PROT_READ | mmap.PROT_WRITE,
            ) if expected else None  # fmt: skip
        finally:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        arrays: list[npt.NDArray[Any]] = []
        offset = 0
        for shape, dtype in sizes:
            count = math.prod(shape)
            arrays.append(
                np.frombuffer(mapped, dtype=dtype, count=count, offset=offset).reshape(
                    shape
                )
                if mapped is not None
                else np.empty(shape, dtype=dtype)
            )
            offset += count * dtype.itemsize
        batches: list[tuple[npt.NDArray[Any], npt.NDArray[Any] | None]] = []
        taken = iter(arrays)
        for _, target_layout in self.layout:
            inputs = next(taken)
            batches.append((inputs, None if target_layout is None else next(taken)))
        return batches


def write_batches(
    path: str, batches: Sequence[tuple[npt.NDArray[Any], npt.NDArray[Any] | None]]
) -> SharedBatches | None:
    """Write a task's batches into the client's file; None where it cannot.

    Parameters
    ----------
    path : str
        The file the client created for this task.
    batches : sequence of tuple
        ``(input, target or None)`` per batch.

    Returns
    -------
    SharedBatches or None
        The layout to return instead of the arrays, or None (no such file on this
        machine, or the tmpfs has less than twice the batches' bytes free, as a
        container's default 64 MiB ``/dev/shm`` soon may): return the arrays
        themselves.
    """
    arrays: list[npt.NDArray[Any]] = []
    layout = []
    for inputs, targets in batches:
        inputs = np.ascontiguousarray(inputs)
        arrays.append(inputs)
        target_layout = None
        if targets is not None:
            targets = np.ascontiguousarray(targets)
            arrays.append(targets)
            target_layout = (tuple(targets.shape), targets.dtype.str)
        layout.append(((tuple(inputs.shape), inputs.dtype.str), target_layout))
    nbytes = sum(a.nbytes for a in arrays)
    try:
        fd = os.open(path, os.O_WRONLY)  # never created here: the client owns it
    except OSError:
        return None
    try:
        if free_bytes(fd) < 2 * nbytes:
            return None  # leave the tmpfs room for others (DataLoaders use it too)
        written = os.pwritev(fd, [a.data.cast("B") for a in arrays], 0)
    except OSError:
        return None  # ENOSPC: the tmpfs filled meanwhile
    finally:
        os.close(fd)
    if written != nbytes:
        return None
    return SharedBatches(path, tuple(layout))


def free_bytes(fd: int) -> int:
    """Return the bytes still free on the file system of an open file."""
    stats = os.fstatvfs(fd)
    return int(stats.f_bavail * stats.f_frsize)


def shared_memory_option() -> bool:
    """Return whether ``careamics-dask.batching.shared-memory`` allows the handoff.

    Returns
    -------
    bool
        True for ``auto`` (the handoff serves where every worker is on this
        machine), False for false.

    Raises
    ------
    ValueError
        For any other value.
    """
    choice = get_option("batching.shared-memory")
    if str(choice).lower() in ("false", "off", "no", "none"):
        return False
    if choice != "auto":
        raise ValueError(
            "careamics-dask.batching.shared-memory must be 'auto' or false, got "
            f"{choice!r}: 'auto' hands batches from workers on this machine "
            "through /dev/shm, false always over TCP."
        )
    return True


class Handoff:
    """The client's side: one file per task in flight, all unlinked by :meth:`close`.

    Parameters
    ----------
    directory : pathlib.Path, default :data:`HANDOFF_DIR`
        A tmpfs directory.
    """

    def __init__(self, directory: Path = HANDOFF_DIR) -> None:
        self.directory = directory
        self._prefix = f"{_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}-"
        self._count = 0
        self._open: set[str] = set()
        _sweep_dead(directory)

    @staticmethod
    def applies(client: Any, directory: Path = HANDOFF_DIR) -> bool:
        """Whether every worker of a client runs on this machine's loopback.

        Parameters
        ----------
        client : distributed.Client or None
            The client (None: no cluster, nothing to hand over).
        directory : pathlib.Path, default :data:`HANDOFF_DIR`
            The tmpfs directory, which must be writable.

        Returns
        -------
        bool
            True where the handoff can serve every worker known now (a worker
            that joins later from elsewhere returns its arrays over TCP).
        """
        if client is None or not (directory.is_dir() and os.access(directory, os.W_OK)):
            return False
        try:
            workers = client.scheduler_info(n_workers=-1)["workers"]
        except Exception:  # an older distributed, or a closing client
            return False
        hosts = {_host(address) for address in workers}
        return bool(hosts) and hosts <= _LOOPBACK

    def new(self) -> str:
        """Create an empty file for one task; return its path."""
        self._count += 1
        path = str(self.directory / f"{self._prefix}{self._count}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        self._open.add(path)
        return path

    def done(self, path: str) -> None:
        """Unlink a task's file (read, released or cancelled)."""
        self._open.discard(path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def close(self) -> None:
        """Unlink every file this handoff created."""
        for path in list(self._open):
            self.done(path)
        for left in self.directory.glob(f"{self._prefix}*"):
            with contextlib.suppress(FileNotFoundError):
                left.unlink()


def _host(address: str) -> str:
    """Return the host of a ``tcp://host:port`` address."""
    rest = address.split("://", 1)[-1]
    return rest.rsplit(":", 1)[0]


def _sweep_dead(directory: Path) -> None:
    """Unlink the files of client processes that no longer run (a crash)."""
    with contextlib.suppress(OSError):
        for path in directory.glob(f"{_PREFIX}*"):
            pid = path.name[len(_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


def _alive(pid: int) -> bool:
    """Whether a process runs (one of another user's counts: it is not ours to end)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
