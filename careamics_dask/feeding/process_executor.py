"""Local batch-building processes, fed in turn over pipes, answering through slots.

``BatchStream(local="processes")`` without a cluster: one spawned process per core,
each holding the batch plan once, like a DataLoader's workers. Batch ``i`` goes to
process ``i % n`` over that process's own pipe, so each process answers its
requests in order and the stream reads each answer from the process it asked: no
executor thread relays calls or results between them. A process writes the batch
into a shared-memory slot (:mod:`careamics_dask.feeding._shared_slots`) and answers
with the layout; a failure comes back as the exception, raised in the stream.

Why not :class:`concurrent.futures.ProcessPoolExecutor`: it pickles every batch
(512 KiB for 32 float32 patches of 64 x 64) through one pipe, and its relay threads
compete with the consumer for the GIL. For chunk-aware draws (about 1.3 ms of work
per batch) that cost more than the work: two pool processes were slower than one
thread. With these processes the consumer spends 0.275 ms of CPU per chunk-aware
batch instead of 0.607, and the stream gives 29,938 patches/s instead of 21,728
(``BENCHMARKS.md``, "Factory", ``benchmarks/bench_local_feed.py``).
:class:`ProcessExecutor` is the stream's interface over them.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from careamics_dask.feeding._shared_slots import SharedSlots, build_into_slot
from careamics_dask.graph.batch import build_batch

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection
    from multiprocessing.shared_memory import SharedMemory

    import numpy as np
    import numpy.typing as npt

    from careamics_dask.feeding.executor import BatchArrays, TableOf
    from careamics_dask.graph.batch import BatchBuilder

__all__ = ["LocalProcesses", "ProcessExecutor", "Ticket"]

_JOIN_S = 5.0
"""How long a closing process may take before it is terminated."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """A submitted batch: which process builds it, and its slot."""

    process: int
    slot: SharedMemory | None


class LocalProcesses:
    """Processes that build batches from one plan, in submission order.

    Parameters
    ----------
    n : int
        Number of processes.
    build : callable
        ``build(plan, *args)`` returns ``(inputs, targets or None)``; picklable.
    plan : Any
        Sent to each process once, when it starts.
    """

    def __init__(self, n: int, build: Callable[..., Any], plan: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.slots = SharedSlots()
        self._pipes: list[Connection] = []
        self._processes: list[Any] = []
        self._turn = 0
        try:
            for index in range(n):
                here, there = context.Pipe()
                process = context.Process(
                    target=_serve,
                    args=(there, build, plan),
                    name=f"careamics-batch-{index}",
                    daemon=True,
                )
                process.start()
                there.close()
                self._pipes.append(here)
                self._processes.append(process)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> LocalProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, *args: Any) -> Ticket:
        """Send a batch's arguments to the next process in turn.

        Parameters
        ----------
        *args
            Passed to ``build`` after the plan.

        Returns
        -------
        Ticket
            What :meth:`result` needs.
        """
        process = self._turn
        self._turn = (process + 1) % len(self._pipes)
        slot = self.slots.acquire()
        name, size = (None, 0) if slot is None else (slot.name, slot.size)
        self._pipes[process].send((name, size, args))
        return Ticket(process, slot)

    def result(self, ticket: Ticket) -> tuple[npt.NDArray[Any], Any]:
        """Return a batch's arrays; call in the order of :meth:`submit`.

        Raises
        ------
        Exception
            What building the batch raised.
        RuntimeError
            When the process died.
        """
        try:
            ok, value = self._pipes[ticket.process].recv()
        except (EOFError, OSError) as error:
            process = self._processes[ticket.process]
            process.join(0.5)
            raise RuntimeError(
                f"local batch process {process.name} (pid {process.pid}) exited "
                f"with code {process.exitcode} while building a batch; a crash in a "
                "reader or an out-of-memory kill are the usual causes. Use "
                'local="threads" to see the error in this process.'
            ) from error
        if not ok:
            raise value
        return self.slots.collect(value, ticket.slot)

    def close(self) -> None:
        """Stop the processes and unlink the slots."""
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        deadline = time.monotonic() + _JOIN_S
        for pipe, process in zip(self._pipes, self._processes, strict=True):
            # read what a process still sends (batches nobody asked for any more),
            # so that it can finish sending and exit
            while process.is_alive() and time.monotonic() < deadline:
                with contextlib.suppress(EOFError, OSError):
                    if pipe.poll(0.01):
                        pipe.recv()
                process.join(0.01)
            if process.is_alive():
                process.terminate()
                process.join()
        for pipe in self._pipes:
            pipe.close()
        self._pipes.clear()
        self._processes.clear()
        self.slots.close()


class ProcessExecutor:
    """Batches built by :class:`LocalProcesses` (the stream's local processes).

    Parameters
    ----------
    workers : int
        Number of processes.
    plan : BatchBuilder
        The batch plan, sent to each process once.
    table : Callable[[int], PatchTable]
        The patch table of an epoch.
    """

    def __init__(self, workers: int, plan: BatchBuilder, table: TableOf) -> None:
        self._table = table
        self._processes = LocalProcesses(workers, build_batch, plan)

    def submit(self, epoch: int, index: int, indices: npt.NDArray[np.int64]) -> Ticket:
        """Send a batch to the next process in turn.

        Parameters
        ----------
        epoch : int
            The epoch.
        index : int
            The batch's index within the epoch.
        indices : numpy.ndarray
            The dataset indices of its patches.

        Returns
        -------
        Ticket
            What :meth:`result` needs.
        """
        rows = self._table(epoch).take(indices)
        return self._processes.submit(rows, indices, epoch)

    def result(self, handle: Ticket) -> BatchArrays:
        """Return a batch's arrays; call in the order of :meth:`submit`.

        Parameters
        ----------
        handle : Ticket
            The batch.

        Returns
        -------
        tuple of (numpy.ndarray, numpy.ndarray or None)
            Inputs and targets.
        """
        inputs, targets = self._processes.result(handle)
        return inputs, targets

    def cancel(self, handle: Ticket) -> None:
        """Do nothing: a process answers every request (read or drained at close).

        Parameters
        ----------
        handle : Ticket
            The batch.
        """

    def close(self) -> None:
        """Stop the processes and unlink the slots."""
        self._processes.close()


def _serve(pipe: Connection, build: Callable[..., Any], plan: Any) -> None:
    """Build the batches asked for over ``pipe`` until told to stop (a process)."""
    run = functools.partial(build, plan)
    answers: queue.SimpleQueue[Any] = queue.SimpleQueue()
    # answers go out from a thread, so that requests are always read: a big
    # answer waiting for the stream never blocks the stream's next request
    sender = threading.Thread(target=_send_answers, args=(pipe, answers), daemon=True)
    sender.start()
    try:
        while True:
            try:
                request = pipe.recv()
            except (EOFError, OSError):
                return
            if request is None:
                return
            name, size, args = request
            try:
                answers.put((True, build_into_slot(run, name, size, *args)))
            except Exception as error:  # raised in the stream
                answers.put((False, error))
    finally:
        answers.put(None)
        sender.join()


def _send_answers(pipe: Connection, answers: queue.SimpleQueue[Any]) -> None:
    while (answer := answers.get()) is not None:
        try:
            pipe.send(answer)
        except (EOFError, OSError):
            return
        except Exception:  # an exception that does not pickle
            pipe.send((False, RuntimeError(f"{answer[1]!r} (it could not be sent)")))
