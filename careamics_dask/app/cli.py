"""The ``careamics-dask`` command line: demo, inspect, batches and export."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from careamics_dask.app.demo import write_demo_data
from careamics_dask.app.reports import (
    describe_client,
    human_bytes,
    progress_bar,
    status,
    stream_with_progress,
)
from careamics_dask.errors import CareamicsDaskError
from careamics_dask.loaders.open import open_images

if TYPE_CHECKING:
    from collections.abc import Iterator

    import xarray as xr
    from distributed import Client

    from careamics_dask.app.runfile import RunFile
    from careamics_dask.factory.dataset import CareamicsDataset

__all__ = ["StackSummary", "app", "main"]

logger = logging.getLogger(__name__)

app = typer.Typer(
    help="Feed deep-learning training for microscopy from data larger than memory.",
    no_args_is_help=True,
    add_completion=False,
)

_USER_ERRORS = (CareamicsDaskError, OSError, ValueError, TypeError)


def _fail(exc: BaseException) -> typer.Exit:
    """Print one error line and return the exit (code 2) to raise."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=2)


def _shape(values: tuple[int, ...] | None) -> str:
    return "x".join(str(v) for v in values) if values else "in memory"


@app.command()
def demo(
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the demo store is kept [$XDG_CACHE_HOME/careamics-dask]."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="The PNG to write.")] = Path(
        "careamics-dask-demo.png"
    ),
    quick: Annotated[
        bool,
        typer.Option("--quick", help="A 2 MiB store instead of 1 GiB (tests, CI)."),
    ] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Workers of the embedded cluster.")
    ] = None,
) -> None:
    """Run the main job on synthetic data: a 1 GiB OME-Zarr store, one epoch, a PNG.

    Generates the store once (cached), builds training and validation datasets
    (stratified patches, a validation split, a background filter, mean/std
    statistics), streams an epoch on an embedded cluster and draws sample patches
    and where they come from.
    """
    from careamics_dask.app.demo_run import run_demo

    try:
        run_demo(
            Console(), cache_dir=cache_dir, out=out, quick=quick, n_workers=workers
        )
    except _USER_ERRORS as exc:
        raise _fail(exc) from exc


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
            disk_bytes=_disk_bytes(
                str(stack.attrs.get("source", "")), str(stack.attrs.get("array", ""))
            ),
        )


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
    try:
        stacks = open_images(source if len(source) > 1 else source[0], axes, data_type)
    except (CareamicsDaskError, OSError, ValueError) as exc:
        raise _fail(exc) from exc
    summaries = [StackSummary.from_stack(s) for s in stacks]
    if as_json:
        typer.echo(json.dumps([asdict(s) for s in summaries], indent=2))
        return
    table = Table(title=f"{len(stacks)} image stack(s)")
    columns = ("name", "dims", "shape", "dtype", "chunks", "channels", "pixel sizes")
    for column in columns:
        table.add_column(column)
    for column in ("size", "on disk"):  # sizes such as "12.5 KiB" stay on one line
        table.add_column(column, no_wrap=True)
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
            human_bytes(item.nbytes),
            human_bytes(item.disk_bytes) if item.disk_bytes is not None else "-",
        )
    Console().print(table)


@app.command("demo-data")
def demo_data(
    path: Annotated[Path, typer.Argument(help="Where to write (must not exist).")],
    kind: Annotated[str, typer.Option(help="zarr, ome-zarr or tiff.")] = "zarr",
    samples: Annotated[int, typer.Option(min=1, help="Number of samples.")] = 4,
    channels: Annotated[int, typer.Option(min=1, help="Number of channels.")] = 2,
    size: Annotated[int, typer.Option(min=8, help="Image side length (YX).")] = 256,
    depth: Annotated[int, typer.Option(min=0, help="Z planes (0 for 2-D).")] = 0,
) -> None:
    """Write a small synthetic microscopy dataset to try the other commands on."""
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
        raise _fail(exc) from exc
    axes = "SC" + ("ZYX" if depth else "YX")
    hint = {"tiff": "C" + axes[2:], "ome-zarr": ""}.get(kind, axes)
    typer.echo(
        f"wrote {kind} demo data to {out}; try: careamics-dask inspect {out}"
        + (f" --axes {hint}" if hint else "")
    )


RunPath = Annotated[
    Path, typer.Argument(help="A run file (YAML) naming data, config and cluster.")
]


@contextlib.contextmanager
def _open_run(
    run_file: Path, console: Console, *, local: bool = False
) -> Iterator[tuple[RunFile, str, CareamicsDataset, Client | None]]:
    """Load a run file, connect to its cluster and build its dataset there."""
    from careamics_dask.app.run_datasets import build_datasets, select_dataset
    from careamics_dask.app.runfile import load_run_file

    try:
        run = load_run_file(run_file)
    except _USER_ERRORS as exc:
        raise _fail(exc) from exc
    cluster = run.cluster.model_copy(update={"local": True}) if local else run.cluster
    try:
        client = cluster.connect()
    except OSError as exc:
        raise _fail(exc) from exc
    try:
        describe_client(client, console)
        try:
            with status(console, "building the dataset (statistics, filters)"):
                name, dataset = select_dataset(run, build_datasets(run))
        except _USER_ERRORS as exc:
            raise _fail(exc) from exc
        yield run, name, dataset, client
    finally:
        if client is not None:
            client.close()


@app.command()
def batches(
    run_file: RunPath,
    count: Annotated[
        int | None,
        typer.Option("--batches", min=1, help="Batches to stream (run file's)."),
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="No cluster: build batches on threads.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Also print the report as JSON.")
    ] = False,
) -> None:
    """Stream batches from a run file and report throughput.

    The run file (YAML) names the data, the data config (inline or a file) and the
    cluster, e.g. "data: {inputs: images.zarr, n_val_patches: 64}", "config:
    data_config.yml", "batches: 200"; see careamics_dask.app.runfile for every field.
    Datasets are built on the cluster; the throughput covers streaming only.
    """
    from careamics_dask.feeding import BatchStream

    console = Console()
    with _open_run(run_file, console, local=local) as (run, name, dataset, client):
        per_epoch = dataset.n_batches()
        wanted = count or run.batches or per_epoch * run.epochs
        epochs = max(run.epochs, math.ceil(wanted / max(per_epoch, 1)))
        stream = BatchStream(dataset, client, prefetch=run.prefetch, epochs=epochs)
        total = min(wanted, len(stream))
        console.print(
            f"dataset {name!r}: {len(dataset):,} patches, {per_epoch:,} batches of "
            f"{dataset.batch_size} per epoch; streaming {total:,} batches"
        )
        report = stream_with_progress(stream, total, console)
    console.print(f"throughput: {report.line()}")
    if as_json:
        typer.echo(json.dumps(asdict(report)))


@app.command()
def export(
    run_file: RunPath,
    out: Annotated[Path, typer.Argument(help="The Zarr group to write.")],
    epoch: Annotated[int, typer.Option(min=0, help="The epoch to write.")] = 0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUT if it exists.")
    ] = False,
) -> None:
    """Write an epoch of patches (and targets) and its patch table to Zarr.

    Batches are built and written on the run file's cluster, into a temporary
    path next to OUT that is renamed into place once complete.
    """
    from careamics_dask.app.export import export_epoch

    console = Console()
    if out.exists() and not overwrite:
        raise _fail(
            FileExistsError(
                f"Export output {str(out)!r} exists already: expected a new path. "
                "Pass --overwrite to replace it."
            )
        )
    with _open_run(run_file, console) as (_, name, dataset, client):
        start = time.perf_counter()
        with progress_bar(console) as progress:
            task = progress.add_task(f"epoch {epoch}", total=None, rate="")

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            export_epoch(
                dataset,
                out,
                epoch=epoch,
                client=client,
                overwrite=overwrite,
                on_progress=advance,
            )
        seconds = time.perf_counter() - start
    what = "patches and targets" if dataset.targets is not None else "patches"
    console.print(
        f"wrote {len(dataset):,} {what} of dataset {name!r} (epoch {epoch}) and its "
        f"patch table to {out} in {seconds:.1f} s "
        f"({len(dataset) / max(seconds, 1e-9):,.0f} patches/s)"
    )


@app.command()
def predict(
    run_file: Annotated[Path, typer.Argument(help="Run file: data, config, model.")],
    out: Annotated[Path, typer.Argument(help="Output Zarr store (must not exist).")],
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Predict tiles with a model and stitch them into a Zarr store, out of core."""
    from careamics_dask.app.predict_run import run_prediction

    try:
        summary = run_prediction(run_file, out, progress=progress)
    except (CareamicsDaskError, OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    typer.echo(summary.describe())


def main() -> None:
    """Run the command line."""
    app()
