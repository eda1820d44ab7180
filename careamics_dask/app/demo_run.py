"""The main job of ``careamics-dask demo``: store, datasets, an epoch, a figure."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask.config
import numpy as np

from careamics_dask.app.demo_render import DemoStoreSpec
from careamics_dask.app.demo_store import (
    default_cache_dir,
    demo_store_path,
    ensure_demo_store,
    read_demo_spec,
)
from careamics_dask.app.reports import (
    StreamReport,
    describe_client,
    human_bytes,
    progress_bar,
    status,
    stream_with_progress,
)

if TYPE_CHECKING:
    from rich.console import Console

    from careamics_dask.config import DataConfig
    from careamics_dask.factory.dataset import CareamicsDataset
    from careamics_dask.graph.batch import Batch

__all__ = ["DemoResult", "demo_config", "run_demo"]

logger = logging.getLogger(__name__)

SHOWN_PATCHES = 8
"""Patches drawn in the figure."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoResult:
    """What a demo run produced.

    Attributes
    ----------
    store : pathlib.Path
        The demo store.
    figure : pathlib.Path
        The PNG.
    report : StreamReport
        Throughput of the streamed epoch.
    n_train, n_val : int
        Training and validation patches per epoch.
    seconds : float
        Wall time of the whole run.
    """

    store: Path
    figure: Path
    report: StreamReport
    n_train: int
    n_val: int
    seconds: float


def demo_config(spec: DemoStoreSpec, *, patch: int = 64) -> DataConfig:
    """Return the demo's training config for a demo store.

    Stratified 2-D patches, mean/std normalization (computed from the data), a
    max background filter at the store's threshold, and the default flips and
    rotations.

    Parameters
    ----------
    spec : DemoStoreSpec
        The store's spec (its threshold separates nuclei from background).
    patch : int, default 64
        Patch side.

    Returns
    -------
    DataConfig
        A training config for ``data_type="zarr"``, axes ``SCYX``.

    Examples
    --------
    >>> config = demo_config(DemoStoreSpec.quick())
    >>> config.patching.name, config.patch_filter.threshold
    ('stratified', 350.0)
    """
    from careamics_dask.config import DataConfig

    return DataConfig(
        mode="training",
        data_type="zarr",
        axes="SCYX",
        patching={"name": "stratified", "patch_size": [patch, patch]},
        normalization={"name": "mean_std"},
        patch_filter={
            "name": "max",
            "threshold": spec.threshold,
            "filtered_patch_prob": 0.1,
        },
        batch_size=32,
        seed=42,
    )


def _store(console: Console, cache_dir: Path, spec: DemoStoreSpec) -> Path:
    if read_demo_spec(demo_store_path(cache_dir, spec)) == spec:
        path, _ = ensure_demo_store(cache_dir, spec)
        console.print(f"demo store: reusing {path}")
        return path
    console.print(
        f"demo store: generating {human_bytes(spec.nbytes)} of synthetic OME-Zarr "
        f"({spec.n_samples} x {spec.n_channels} x {spec.size} x {spec.size}, uint16) "
        "on local threads"
    )
    with progress_bar(console) as progress:
        task = progress.add_task("chunk rows", total=None, rate="")

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        path, _ = ensure_demo_store(cache_dir, spec, on_progress=advance)
    console.print(f"demo store: wrote {path}")
    return path


def _datasets(
    console: Console, store: Path, spec: DemoStoreSpec, quick: bool
) -> tuple[CareamicsDataset, CareamicsDataset, list[str]]:
    """Build the datasets; return them and the lines that describe them."""
    from careamics_dask.factory import TrainValSplitData, create_val_split_datasets

    config = demo_config(spec)
    n_val = 8 if quick else 256
    start = time.perf_counter()
    # statistics and the filter are reductions over every chunk: local threads
    # share the decoded chunks without shipping them between processes
    with (
        status(console, "datasets: mean/std statistics and background filter"),
        dask.config.set(scheduler="threads"),
    ):
        train, val = create_val_split_datasets(
            config, TrainValSplitData(str(store), n_val_patches=n_val)
        )
    weights = getattr(train.patching, "region_weights", np.ones(1))
    normalization: Any = config.normalization
    means = ", ".join(f"{v:.0f}" for v in normalization.input_means)
    stds = ", ".join(f"{v:.0f}" for v in normalization.input_stds)
    lines = [
        f"store: {spec.n_samples} x {spec.n_channels} x {spec.size} x {spec.size} "
        f"uint16 OME-Zarr, chunks {spec.chunk}x{spec.chunk} "
        f"({human_bytes(spec.nbytes)})",
        f"patches: stratified {_patch_size(config)}, {len(train):,} training "
        f"patches per epoch; {len(val):,} validation patches split off",
        f"background filter: max < {spec.threshold:g} in "
        f"{int((weights < 1).sum()):,} of {weights.size:,} grid cells "
        "(drawn 10x less often)",
        f"statistics: means [{means}], stds [{stds}] "
        f"({time.perf_counter() - start:.1f} s with the filter)",
    ]
    for line in lines[1:]:
        console.print(line)
    return train, val, lines


def _patch_size(config: DataConfig) -> str:
    size = getattr(config.patching, "patch_size", None) or []
    return "x".join(str(v) for v in size)


def _figure(
    out: Path,
    datasets: tuple[CareamicsDataset, CareamicsDataset],
    first: Batch,
    notes: list[str],
) -> Path:
    from careamics_dask.app.figures import find_patch_origins, plot_demo_figure

    train, val = datasets
    origins = find_patch_origins(train, val, epochs=4)
    shown = slice(0, min(SHOWN_PATCHES, len(first)))
    specs = first.specs
    labels = [
        f"s{int(specs.sample_idx[i])} y{int(specs.coords[i, 0])} "
        f"x{int(specs.coords[i, 1])}"
        for i in range(shown.stop)
    ]
    stack = train.inputs.image_stacks[0]
    return plot_demo_figure(
        out,
        inputs=first.input[shown],
        targets=first.target[shown] if first.target is not None else None,
        labels=labels,
        channel_names=[str(c) for c in stack.coords["C"].values],
        origins=origins,
        title=(
            "careamics-dask demo: normalized, augmented training patches of the "
            "first batch (sample, y, x), and where patches come from"
        ),
        notes=notes,
    )


def run_demo(
    console: Console,
    *,
    cache_dir: Path | None = None,
    out: Path = Path("careamics-dask-demo.png"),
    quick: bool = False,
    n_workers: int | None = None,
) -> DemoResult:
    """Run the demo: store, datasets, one epoch on an embedded cluster, figure.

    Parameters
    ----------
    console : rich.console.Console
        Where progress and results are printed.
    cache_dir : pathlib.Path, optional
        Where the store is kept; default :func:`default_cache_dir`.
    out : pathlib.Path, default "careamics-dask-demo.png"
        The PNG to write.
    quick : bool, default False
        Use the 2 MiB store (tests, CI) instead of the 1 GiB one.
    n_workers : int, optional
        Workers of the embedded cluster.

    Returns
    -------
    DemoResult
        Paths and figures of the run.
    """
    from careamics_dask.feeding import BatchStream, get_client

    start = time.perf_counter()
    spec = DemoStoreSpec.quick() if quick else DemoStoreSpec()
    store = _store(console, Path(cache_dir or default_cache_dir()), spec)
    train, val, notes = _datasets(console, store, spec, quick)
    client = get_client(n_workers=n_workers)
    try:
        describe_client(client, console)
        stream = BatchStream(train, client, epochs=1)
        kept: list[Batch] = []
        console.print(f"streaming epoch 0: {len(stream):,} batches of 32")
        report = stream_with_progress(stream, len(stream), console, keep=kept.append)
        workers = len(client.scheduler_info().get("workers", {}))
        console.print(f"throughput ({workers} workers): {report.line()}")
        notes.append(
            f"epoch 0 on an embedded cluster of {workers} worker processes: "
            f"{report.batches:,} batches in {report.seconds:.1f} s, "
            f"{report.patches / max(report.seconds, 1e-9):,.0f} patches/s"
        )
        figure = _figure(out, (train, val), kept[0], notes)
    finally:
        client.close()
    seconds = time.perf_counter() - start
    console.print(f"figure: {figure}")
    console.print(f"done in {seconds:.1f} s")
    return DemoResult(
        store=store,
        figure=figure,
        report=report,
        n_train=len(train),
        n_val=len(val),
        seconds=seconds,
    )
