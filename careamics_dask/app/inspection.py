"""What ``careamics-dask inspect`` prints: stack summaries, and sources without axes.

Summaries read metadata only. On a terminal narrower than :data:`WIDE` columns each
stack is printed as a short block of ``field  value`` lines (paths wrap instead of
being cut); wider terminals get one table row per stack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from careamics_dask.app.reports import human_bytes
from careamics_dask.axes import suggest_axes

if TYPE_CHECKING:
    from collections.abc import Sequence

    import xarray as xr
    from rich.console import Console

__all__ = ["WIDE", "StackSummary", "describe_unlabeled", "print_summaries"]

logger = logging.getLogger(__name__)

WIDE = 120
"""Terminal columns from which stacks are shown as table rows."""


def _disk_bytes(source: str, array: str) -> int | None:
    """Sum the file sizes of a local stack (its array folder, or its file)."""
    if source.startswith("file://"):
        source = source.removeprefix("file://")
    elif "://" in source or not source:
        return None
    path = Path(source)
    if array and (path / array).exists():
        path = path / array
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return None


def _shape(values: tuple[int, ...] | None) -> str:
    return " x ".join(str(v) for v in values) if values else "in memory"


@dataclass(frozen=True, slots=True, kw_only=True)
class StackSummary:
    """What ``inspect`` reports of one image stack (metadata only)."""

    name: str
    dims: str
    shape: tuple[int, ...]
    dtype: str
    chunks: tuple[int, ...] | None
    channels: tuple[str, ...]
    original_axes: str
    original_shape: tuple[int, ...]
    pixel_sizes: dict[str, float]
    pixel_unit: str | None
    nbytes: int
    disk_bytes: int | None

    @classmethod
    def from_stack(cls, stack: xr.DataArray) -> StackSummary:
        """Summarize a stack without reading its pixels.

        Parameters
        ----------
        stack : xarray.DataArray
            A loader's image stack.

        Returns
        -------
        StackSummary
            Its metadata.
        """
        chunks = getattr(stack.data, "chunksize", None)
        return cls(
            name=str(stack.name),
            dims="".join(str(d) for d in stack.dims),
            shape=tuple(stack.shape),
            dtype=str(stack.attrs.get("original_dtype", stack.dtype)),
            chunks=tuple(chunks) if chunks is not None else None,
            channels=tuple(str(c) for c in stack.coords["C"].values),
            original_axes=str(stack.attrs.get("original_axes", "")),
            original_shape=tuple(stack.attrs.get("original_shape", ())),
            pixel_sizes=dict(stack.attrs.get("pixel_sizes", {})),
            pixel_unit=stack.attrs.get("pixel_unit"),
            nbytes=int(stack.nbytes),
            disk_bytes=_disk_bytes(
                str(stack.attrs.get("source", "")), str(stack.attrs.get("array", ""))
            ),
        )

    def fields(self) -> list[tuple[str, str]]:
        """Return the summary as ``(field, value)`` pairs for display.

        Returns
        -------
        list of tuple of (str, str)
            dims, shape, dtype, chunks, channels, pixel sizes, size, on disk.

        Examples
        --------
        >>> summary = StackSummary(name="a", dims="SCYX", shape=(1, 2, 8, 8),
        ...     dtype="uint16", chunks=(1, 1, 8, 8), channels=("0", "1"),
        ...     original_axes="CYX", original_shape=(2, 8, 8), pixel_sizes={},
        ...     pixel_unit=None, nbytes=256, disk_bytes=None)
        >>> dict(summary.fields())["shape"]
        '1 x 2 x 8 x 8'
        """
        unit = f" {self.pixel_unit}" if self.pixel_unit else ""
        sizes = ", ".join(f"{k}={v:g}" for k, v in self.pixel_sizes.items())
        on_disk = human_bytes(self.disk_bytes) if self.disk_bytes is not None else "-"
        return [
            ("dims", self.dims),
            ("shape", _shape(self.shape)),
            ("dtype", self.dtype),
            ("chunks", _shape(self.chunks)),
            ("channels", ", ".join(self.channels)),
            ("pixel sizes", (sizes + unit) if sizes else "-"),
            ("size", human_bytes(self.nbytes)),
            ("on disk", on_disk),
        ]


def print_summaries(summaries: Sequence[StackSummary], console: Console) -> None:
    """Print stack summaries: blocks on narrow terminals, a table on wide ones.

    Parameters
    ----------
    summaries : sequence of StackSummary
        The stacks.
    console : rich.console.Console
        Where to print; its width picks the layout (:data:`WIDE`).
    """
    title = f"{len(summaries)} image stack(s)"
    if console.width >= WIDE:
        table = Table(title=title)
        table.add_column("name", overflow="fold")
        for column in [name for name, _ in summaries[0].fields()] if summaries else []:
            table.add_column(column, no_wrap=column in ("size", "on disk"))
        for item in summaries:
            table.add_row(item.name, *(value for _, value in item.fields()))
        console.print(table)
        return
    console.print(title, highlight=False)
    for index, item in enumerate(summaries):
        console.print(
            f"\n[bold]{index + 1}. {escape(item.name)}[/bold]", overflow="fold"
        )
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for name, value in item.fields():
            grid.add_row(f"  {name}", escape(value))
        console.print(grid, highlight=False)


def _zarr_arrays(path: Path) -> list[tuple[str, tuple[int, ...], str]]:
    """Return (name, shape, axes attribute) of a Zarr store's first-level arrays."""
    import zarr

    node: Any = zarr.open(str(path), mode="r")
    if isinstance(node, zarr.Array):
        return [(path.name, tuple(node.shape), str(node.attrs.get("axes", "")))]
    return [
        (name, tuple(array.shape), str(array.attrs.get("axes", "")))
        for name, array in sorted(node.arrays())
    ]


def _tiff_series(path: Path) -> list[tuple[str, tuple[int, ...], str]]:
    import tifffile

    files = sorted(path.rglob("*.tif*")) if path.is_dir() else [path]
    found = []
    for file in files[:1]:
        with tifffile.TiffFile(file) as tiff:
            series = tiff.series[0]
            found.append((file.name, tuple(series.shape), str(series.axes)))
    return found


def _first_unlabeled(sources: Sequence[str], data_type: str | None) -> str:
    """Return the first of several sources that needs ``--axes`` (metadata only)."""
    from careamics_dask.errors import AxesError
    from careamics_dask.loaders.open import open_images

    for source in sources[1:] if len(sources) > 1 else ():
        try:
            open_images(source, "", data_type)
        except AxesError:
            return source
    return sources[0]


def describe_unlabeled(
    sources: str | Sequence[str], data_type: str | None = None
) -> str:
    """Explain that a source has no axes metadata, with its shape and a fix.

    Parameters
    ----------
    sources : str or Sequence of str
        A local Zarr store or array, TIFF file or folder (others get a generic
        hint), or several: the first that needs axes is described.
    data_type : str or None, default None
        The data type the sources are opened as (guessed if None).

    Returns
    -------
    str
        One line: the source, that it has no axes metadata, its arrays' shapes,
        and the ``--axes`` to pass.

    Examples
    --------
    >>> describe_unlabeled("nowhere.zarr")  # doctest: +ELLIPSIS
    "'nowhere.zarr' has no axes metadata (...): pass --axes, e.g. --axes SCYX."
    """
    source = (
        sources if isinstance(sources, str) else _first_unlabeled(sources, data_type)
    )
    path = Path(source.removeprefix("file://"))
    found: list[tuple[str, tuple[int, ...], str]] = []
    try:
        if path.suffix.lower().startswith(".tif") or (
            path.is_dir() and any(path.glob("*.tif*"))
        ):
            found = _tiff_series(path)
        elif path.exists():
            found = _zarr_arrays(path)
    except (OSError, ValueError, TypeError, KeyError) as exc:  # not Zarr, not TIFF
        logger.debug("cannot describe %s: %s", source, exc)
    shown = "; ".join(
        f"array {name!r} has shape {shape}"
        + (f" (its attributes say axes={axes!r})" if axes else "")
        for name, shape, axes in found[:3]
    )
    if found:
        _, shape, axes = found[0]
        valid = len(axes) == len(shape) and set(axes.upper()) <= set("STCZYX")
        example = axes.upper() if axes and valid else suggest_axes(len(shape))
    else:
        example = "SCYX"
    return (
        f"{source!r} has no axes metadata (only OME-Zarr images carry axes)"
        + (f": {shown}" if shown else "")
        + f" (expected one letter of STCZYX per dimension): pass --axes, e.g. "
        f"--axes {example}."
    )
