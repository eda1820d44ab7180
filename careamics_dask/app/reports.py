"""Console reports of the command line: progress bars, throughput and the cluster."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from rich.console import Console

    from careamics_dask.graph.batch import Batch

__all__ = [
    "StreamReport",
    "dashboard_line",
    "dask_progress",
    "describe_client",
    "human_bytes",
    "progress_bar",
    "status",
    "stream_with_progress",
]

logger = logging.getLogger(__name__)


def human_bytes(nbytes: float) -> str:
    """Return a byte count in binary units.

    Parameters
    ----------
    nbytes : float
        The count.

    Returns
    -------
    str
        E.g. ``"1.5 MiB"``.

    Examples
    --------
    >>> human_bytes(1536), human_bytes(2**30)
    ('1.5 KiB', '1.0 GiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024:
            return f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamReport:
    """What a run of streamed batches achieved.

    Attributes
    ----------
    batches : int
        Batches received.
    patches : int
        Patches received.
    nbytes : int
        Bytes of inputs and targets received.
    seconds : float
        Wall time from the first request to the last batch.

    Examples
    --------
    >>> StreamReport(batches=2, patches=64, nbytes=2**20, seconds=0.5).line()
    '128 patches/s, 4.0 batches/s, 2.0 MiB/s (64 patches in 2 batches, 1.0 MiB, 0.5 s)'
    """

    batches: int
    patches: int
    nbytes: int
    seconds: float

    def line(self) -> str:
        """Return the throughput as one line: patches/s, batches/s, MiB/s.

        Returns
        -------
        str
            The line.
        """
        seconds = max(self.seconds, 1e-9)
        return (
            f"{self.patches / seconds:,.0f} patches/s, "
            f"{self.batches / seconds:,.1f} batches/s, "
            f"{self.nbytes / 2**20 / seconds:,.1f} MiB/s "
            f"({self.patches:,} patches in {self.batches:,} batches, "
            f"{human_bytes(self.nbytes)}, {self.seconds:.1f} s)"
        )


def progress_bar(console: Console) -> Progress:
    """Return a rich progress bar with a ``rate`` field (e.g. patches/s).

    Parameters
    ----------
    console : rich.console.Console
        Where it is drawn.

    Returns
    -------
    rich.progress.Progress
        Add tasks with ``rate=""``.
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def status(console: Console, message: str) -> contextlib.AbstractContextManager[Any]:
    """Return a spinner with a message on terminals; else print the message.

    Parameters
    ----------
    console : rich.console.Console
        Where it is drawn.
    message : str
        What is happening.

    Returns
    -------
    contextlib.AbstractContextManager
        Use it in a ``with`` block.
    """
    if console.is_terminal:
        return console.status(message)
    console.print(f"{message} ...")
    return contextlib.nullcontext()


@contextlib.contextmanager
def dask_progress(console: Console, description: str) -> Iterator[None]:
    """Show the progress of the local Dask computations run in the block.

    The bar counts finished tasks against the real task count of every graph
    computed on the local schedulers (threads, processes, synchronous) inside the
    block, with the time elapsed and left. Computations on a ``distributed`` client
    do not report here: the line is printed and the dashboard shows them.

    Parameters
    ----------
    console : rich.console.Console
        Where the bar is drawn.
    description : str
        What is being computed.

    Yields
    ------
    None
        Run the computations in the ``with`` block.
    """
    from dask.callbacks import Callback

    with progress_bar(console) as progress:
        task = progress.add_task(description, total=None, rate="")
        counts = {"total": 0, "done": 0}

        def start_state(dsk: Any, state: dict[str, Any]) -> None:
            pending = sum(len(state[k]) for k in ("ready", "waiting", "running"))
            counts["total"] += pending + len(state["finished"])
            counts["done"] += len(state["finished"])
            progress.update(
                task, total=counts["total"], completed=counts["done"], rate="tasks"
            )

        def posttask(*_: Any) -> None:
            counts["done"] += 1
            progress.update(task, completed=counts["done"])

        with Callback(start_state=start_state, posttask=posttask):
            yield
        if counts["total"] == 0:  # nothing ran locally (a cluster did the work)
            progress.update(task, total=1, completed=1, rate="")


def stream_with_progress(
    stream: Iterable[Batch],
    total: int,
    console: Console,
    *,
    keep: Callable[[Batch], None] | None = None,
) -> StreamReport:
    """Consume ``total`` batches of a stream under a progress bar.

    Parameters
    ----------
    stream : iterable of Batch
        Usually a :class:`~careamics_dask.feeding.BatchStream`.
    total : int
        Batches to take (fewer if the stream ends first).
    console : rich.console.Console
        Where the bar is drawn.
    keep : callable, optional
        Called with the first batch.

    Returns
    -------
    StreamReport
        Counts and wall time.
    """
    batches = patches = nbytes = 0
    start = time.perf_counter()
    iterator = iter(stream)
    with progress_bar(console) as progress:
        task = progress.add_task("batches", total=total, rate="")
        try:
            for batch in iterator:
                if batches == 0 and keep is not None:
                    keep(batch)
                batches += 1
                patches += len(batch)
                nbytes += batch.input.nbytes
                nbytes += batch.target.nbytes if batch.target is not None else 0
                rate = patches / max(time.perf_counter() - start, 1e-9)
                progress.update(task, advance=1, rate=f"{rate:,.0f} patches/s")
                if batches >= total:
                    break
        finally:
            # a stream closed early releases the batches still in flight
            close = getattr(iterator, "close", None)
            if callable(close):
                close()
    return StreamReport(
        batches=batches,
        patches=patches,
        nbytes=nbytes,
        seconds=time.perf_counter() - start,
    )


def describe_client(client: Any, console: Console) -> None:
    """Print where batches are built: the scheduler, workers and dashboard.

    Parameters
    ----------
    client : distributed.Client or None
        The client (None: local threads).
    console : rich.console.Console
        Where to print.
    """
    if client is None:
        console.print("cluster: none (batches built on local threads)")
        return
    workers = len(client.scheduler_info().get("workers", {}))
    console.print(f"cluster: {client.scheduler.address}, {workers} worker(s)")
    console.print(dashboard_line(client))


def dashboard_line(client: Any) -> str:
    """Return the dashboard line: its link where it serves, else why not.

    Parameters
    ----------
    client : distributed.Client
        The client.

    Returns
    -------
    str
        ``"dashboard: http://..."`` when bokeh is installed (the dashboard needs
        it), else a line saying that there is none and how to get one.
    """
    if importlib.util.find_spec("bokeh") is None:
        return "dashboard: none (the dashboard needs bokeh: pip install 'bokeh>=3.1')"
    return f"dashboard: {client.dashboard_link}"
