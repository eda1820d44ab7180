"""The ``careamics-dask`` command line: demo, inspect, batches, export, predict."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from careamics_dask.app.demo import write_demo_data
from careamics_dask.app.error_lines import clean_errors, quiet_distributed, set_verbose
from careamics_dask.app.reports import (
    dask_progress,
    describe_client,
    progress_bar,
    stream_with_progress,
)
from careamics_dask.errors import AxesError
from careamics_dask.loaders.open import open_images

if TYPE_CHECKING:
    from collections.abc import Iterator

    from distributed import Client

    from careamics_dask.app.runfile import RunFile
    from careamics_dask.factory.dataset import CareamicsDataset

__all__ = ["app", "main"]

logger = logging.getLogger(__name__)

app = typer.Typer(
    help="Feed deep-learning training for microscopy from data larger than memory.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from careamics_dask.runtime import __version__

        typer.echo(f"careamics-dask {__version__}")
        raise typer.Exit


@app.callback()
def _global_options(
    ctx: typer.Context,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Print tracebacks with errors, and distributed's logs.",
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Feed deep-learning training for microscopy from data larger than memory.

    Errors print one line (source, rule, fix) and exit with code 2; --verbose
    adds the traceback.
    """
    set_verbose(verbose=verbose)
    if not verbose:
        quiet_distributed(ctx)


_DEMO_HELP = """Run the main job on synthetic data: a 1 GiB store, one epoch, a PNG.

Generates the store once and caches it (in --cache-dir, default
$XDG_CACHE_HOME/careamics-dask; later runs reuse it), builds training and
validation datasets (stratified patches, a validation split, a background filter,
mean/std statistics), streams an epoch on an embedded cluster and draws sample
patches and where they come from into --out. Under 2 minutes on 2 cores the first
time (writing the store takes about a third of it); --quick takes seconds.
"""


@app.command(help=_DEMO_HELP)
def demo(
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the demo store is kept (later runs reuse it).",
            show_default="$XDG_CACHE_HOME/careamics-dask",
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
        int | None,
        typer.Option(
            min=1,
            help="Workers of the embedded cluster.",
            show_default="one per core, at most 4",
        ),
    ] = None,
) -> None:
    """Run the main job on synthetic data (help: _DEMO_HELP)."""
    from careamics_dask.app.demo_run import run_demo

    with clean_errors():
        run_demo(
            Console(), cache_dir=cache_dir, out=out, quick=quick, n_workers=workers
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
    from careamics_dask.app.inspection import (
        StackSummary,
        describe_unlabeled,
        print_summaries,
    )

    with clean_errors():
        try:
            stacks = open_images(
                source if len(source) > 1 else source[0], axes, data_type
            )
        except AxesError as exc:
            if axes:
                raise
            raise AxesError(describe_unlabeled(source, data_type)) from exc
    summaries = [StackSummary.from_stack(s) for s in stacks]
    if as_json:
        typer.echo(json.dumps([asdict(s) for s in summaries], indent=2))
        return
    print_summaries(summaries, Console())


@app.command("demo-data")
def demo_data(
    path: Annotated[
        Path,
        typer.Argument(help="Where to write (reused if it holds the same demo data)."),
    ],
    kind: Annotated[str, typer.Option(help="zarr, ome-zarr or tiff.")] = "zarr",
    samples: Annotated[int, typer.Option(min=1, help="Number of samples.")] = 4,
    channels: Annotated[int, typer.Option(min=1, help="Number of channels.")] = 2,
    size: Annotated[int, typer.Option(min=8, help="Image side length (YX).")] = 256,
    depth: Annotated[int, typer.Option(min=0, help="Z planes (0 for 2-D).")] = 0,
) -> None:
    """Write a small synthetic microscopy dataset to try the other commands on."""
    from careamics_dask.app.demo import demo_data_matches

    spatial = (depth, size, size) if depth else (size, size)
    chunk = min(size, 128)
    arguments: dict[str, Any] = {
        "n_samples": samples,
        "n_channels": channels,
        "spatial": spatial,
        "chunks": (chunk, chunk),
    }
    with clean_errors():
        reused = demo_data_matches(path, kind, **arguments)  # type: ignore[arg-type]
        out = write_demo_data(path, kind, **arguments)  # type: ignore[arg-type]
    axes = "SC" + ("ZYX" if depth else "YX")
    hint = {"tiff": "C" + axes[2:], "ome-zarr": ""}.get(kind, axes)
    done = "reused" if reused else "wrote"
    typer.echo(
        f"{done} {kind} demo data at {out}"
        + (" (it exists with these arguments)" if reused else "")
        + f"; try: careamics-dask inspect {out}"
        + (f" --axes {hint}" if hint else "")
    )


RunPath = Annotated[
    Path, typer.Argument(help="A run file (YAML) naming data, config and cluster.")
]


@contextlib.contextmanager
def _open_run(
    run_file: Path, console: Console, *, local: bool = False
) -> Iterator[tuple[RunFile, str, CareamicsDataset, Client | None]]:
    """Load a run file, connect to its cluster and build its dataset there.

    The run file is read and checked before any cluster starts.
    """
    from careamics_dask.app.run_datasets import build_datasets, select_dataset
    from careamics_dask.app.runfile import load_run_file

    run = load_run_file(run_file)
    cluster = run.cluster.model_copy(update={"local": True}) if local else run.cluster
    client = cluster.connect()
    try:
        describe_client(client, console)
        with dask_progress(console, "building the dataset (statistics, filters)"):
            name, dataset = select_dataset(run, build_datasets(run))
        yield run, name, dataset, client
    finally:
        if client is not None:
            client.close()


_BATCHES_HELP = """Stream batches from a run file and report throughput.

The run file (YAML) names the data, the data config (inline or a file) and the
cluster, e.g. "data: {inputs: images.zarr, n_val_patches: 64}", "config:
data_config.yml", "batches: 200"; see careamics_dask.app.runfile for every field.
Fields of predict (model: ...) are ignored. Datasets are built on the cluster; the
throughput covers streaming only.
"""


@app.command(help=_BATCHES_HELP)
def batches(
    run_file: RunPath,
    count: Annotated[
        int | None,
        typer.Option(
            "--batches",
            min=1,
            help="Batches to stream.",
            show_default="the run file's batches, else its epochs",
        ),
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="No cluster: build batches on threads.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Also print the report as JSON.")
    ] = False,
) -> None:
    """Stream batches from a run file (help: _BATCHES_HELP)."""
    from careamics_dask.feeding import BatchStream

    console = Console()
    with (
        clean_errors(),
        _open_run(run_file, console, local=local) as (run, name, dataset, client),
    ):
        per_epoch = dataset.n_batches()
        wanted = count or run.batches or per_epoch * run.epochs
        epochs = max(run.epochs, math.ceil(wanted / max(per_epoch, 1)))
        stream = BatchStream(dataset, client, prefetch=run.prefetch, epochs=epochs)
        total = min(wanted, len(stream))
        console.print(
            f"dataset {name!r}: {len(dataset):,} patches, {per_epoch:,} batches of "
            f"{dataset.batch_size} per epoch; streaming {total:,} batches"
        )
        path = stream.path  # which path builds the batches, for the rate below
        console.print(f"path: {path}")
        report = stream_with_progress(stream, total, console)
    console.print(f"throughput: {report.line()}")
    if as_json:
        typer.echo(json.dumps({**asdict(report), "path": path}))


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
    with clean_errors():
        if out.exists() and not overwrite:
            raise FileExistsError(
                f"Export output {str(out)!r} exists already: expected a new path. "
                "Pass --overwrite to replace it."
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


_PREDICT_HELP = """Predict with a model, stitched into a Zarr store out of core.

The run file of batches and export (data, config, cluster; batches, epochs
and dataset are ignored) plus the model and its options:

  model: numpy:negative   a callable or torch module, module:attribute
  model_kwargs: {...}     optional: call model with these to build it
  device: cuda            optional: the device of a torch module
  run_on: client          optional: client (default) or workers
  resources: {GPU: 1}     optional: worker resources of the model tasks
  chunks: [256, 256]      optional: output chunks along (Z,) Y, X
  overwrite: false        optional: replace a complete OUT
  resume: true            optional: continue an interrupted OUT.partial

A careamics-dask train checkpoint: model: careamics_dask.app.train:load_model
and model_kwargs: {checkpoint: checkpoints/last.ckpt}. A training config
predicts whole images, a predicting config with tiled patching tiles. An
interrupted run resumes when the same command runs again; a complete OUT is
replaced only with overwrite: true (or --overwrite).
"""


@app.command(help=_PREDICT_HELP)
def predict(
    run_file: Annotated[Path, typer.Argument(help="Run file: data, config, model.")],
    out: Annotated[Path, typer.Argument(help="Output Zarr store (must not exist).")],
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace a complete OUT (as overwrite: true)."
        ),
    ] = False,
) -> None:
    """Predict into a Zarr store (help: _PREDICT_HELP)."""
    from careamics_dask.app.predict_run import run_prediction

    with clean_errors():
        summary = run_prediction(run_file, out, progress=progress, overwrite=overwrite)
    typer.echo(summary.describe())


@app.command()
def train(
    run_file: RunPath,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from last.ckpt.")
    ] = False,
) -> None:
    """Train CAREamics' N2V/CARE/N2N: the run file plus `algorithm:` (see app.train)."""
    from careamics_dask.app.train import run_training

    with clean_errors():
        typer.echo(run_training(run_file, resume=resume).describe())


def main() -> None:
    """Run the command line."""
    app()
