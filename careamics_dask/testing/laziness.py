"""Oracles that prove code stays lazy: no Dask compute, no region read, no open file."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask

from careamics_dask.loaders import count_region_reads

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["open_file_descriptors", "raise_if_dask_computes"]


class DaskComputedError(AssertionError):
    """Raised when code under a laziness oracle computed a Dask graph."""


def _refuse_to_compute(dsk: Any, keys: Any, **kwargs: Any) -> Any:
    raise DaskComputedError(
        f"A Dask graph was computed where nothing should be (keys {str(keys)[:200]})."
    )


@contextlib.contextmanager
def raise_if_dask_computes() -> Iterator[None]:
    """Fail if anything computes a Dask graph or reads a source region inside.

    Yields
    ------
    None
        Run the code under test inside the ``with`` block.

    Raises
    ------
    AssertionError
        When a graph is computed, or a region reader is read, inside the block.

    Examples
    --------
    >>> import dask.array as da
    >>> x = da.ones(4)
    >>> with raise_if_dask_computes():
    ...     y = x + 1
    >>> with raise_if_dask_computes():
    ...     y.compute()
    Traceback (most recent call last):
    ...
    careamics_dask.testing.laziness.DaskComputedError: A Dask graph was computed ...
    """
    with (
        dask.config.set(scheduler=_refuse_to_compute),
        count_region_reads() as counter,
    ):
        yield
    if counter.count:
        raise DaskComputedError(
            f"{counter.count} source region(s) were read where nothing should be."
        )


def open_file_descriptors(under: str | Path) -> list[str]:
    """List this process's open file descriptors that point inside a path (Linux).

    Parameters
    ----------
    under : str or pathlib.Path
        A file or folder.

    Returns
    -------
    list of str
        The resolved targets of open descriptors at or below ``under``; empty where
        ``/proc/self/fd`` does not exist.

    Examples
    --------
    >>> open_file_descriptors("/nonexistent")
    []
    """
    root = Path(under).resolve()
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.exists():
        return []
    found = []
    for fd in os.listdir(fd_dir):
        try:
            target = Path(os.readlink(fd_dir / fd))
        except OSError:
            continue
        if target == root or root in target.parents:
            found.append(str(target))
    return found
