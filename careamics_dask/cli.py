"""The ``careamics-dask`` command line: write demo data and inspect sources."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path  # noqa: TC003 - typer reads annotations at run time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from careamics_dask.demo import write_demo_data
from careamics_dask.errors import CareamicsDaskError
from careamics_dask.loaders.open import open_images

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["StackSummary", "app", "main"]

logger = logging.getLogger(__name__)

app = typer.Typer(
    help="Feed deep-learning training for microscopy from data larger than memory.",
    no_args_is_help=True,
    add_completion=False,
)


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

    @classmethod
    def from_stack(cls, stack: xr.DataArray) -> StackSummary:
        """Summarize a stack without reading its pixels."""
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
        )


def _human(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024:
            return f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"


def _shape(values: tuple[int, ...] | None) -> str:
    return "x".join(str(v) for v in values) if values else "in memory"


@app.command()
def inspect(
    source: Annotated[
        list[str], typer.Argument(help="Files, folders, stores or URIs.")
    ],
    axes: Annotated[
        str,
        typer.Option(help="Axes of the source, e.g. SYX (OME-Zarr: from metadata)."),
    ] = "",
    data_type: Annotated[
        str | None,
        typer.Option(
            help="array, tiff, zarr, czi or a plugin name; guessed if omitted."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """Show the image stacks a source holds, reading metadata only."""
    console = Console()
    try:
        stacks = open_images(source if len(source) > 1 else source[0], axes, data_type)
    except (CareamicsDaskError, OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    summaries = [StackSummary.from_stack(s) for s in stacks]
    if as_json:
        typer.echo(json.dumps([asdict(s) for s in summaries], indent=2))
        return
    table = Table(title=f"{len(stacks)} image stack(s)")
    for column in (
        "name",
        "dims",
        "shape",
        "dtype",
        "chunks",
        "channels",
        "pixel sizes",
        "size",
    ):
        table.add_column(column)
    for item in summaries:
        unit = f" {item.pixel_unit}" if item.pixel_unit else ""
        sizes = ", ".join(f"{k}={v:g}" for k, v in item.pixel_sizes.items())
        table.add_row(
            item.name,
            item.dims,
            _shape(item.shape),
            item.dtype,
            _shape(item.chunks),
            ", ".join(item.channels),
            (sizes + unit) if sizes else "-",
            _human(item.nbytes),
        )
    console.print(table)


@app.command()
def demo(
    path: Annotated[Path, typer.Argument(help="Where to write (must not exist).")],
    kind: Annotated[str, typer.Option(help="zarr, ome-zarr or tiff.")] = "zarr",
    samples: Annotated[int, typer.Option(min=1, help="Number of samples.")] = 4,
    channels: Annotated[int, typer.Option(min=1, help="Number of channels.")] = 2,
    size: Annotated[int, typer.Option(min=8, help="Image side length (YX).")] = 256,
    depth: Annotated[int, typer.Option(min=0, help="Z planes (0 for 2-D).")] = 0,
) -> None:
    """Write a synthetic microscopy dataset to try the other commands on."""
    spatial = (depth, size, size) if depth else (size, size)
    chunk = min(size, 128)
    try:
        out = write_demo_data(
            path,
            kind,  # type: ignore[arg-type]
            n_samples=samples,
            n_channels=channels,
            spatial=spatial,
            chunks=(chunk, chunk),
        )
    except (FileExistsError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    axes = "SC" + ("ZYX" if depth else "YX")
    hint = {"tiff": "C" + axes[2:], "ome-zarr": ""}.get(kind, axes)
    typer.echo(
        f"wrote {kind} demo data to {out}; try: careamics-dask inspect {out}"
        + (f" --axes {hint}" if hint else "")
    )


def main() -> None:
    """Run the command line."""
    app()
