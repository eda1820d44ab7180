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
    dask_progress,
    describe_client,
    human_bytes,
    progress_bar,
    stream_with_progress,
)

if TYPE_CHECKING:
    import numpy.typing as npt
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
        The PNG (an absolute path).
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
        dask_progress(console, "statistics and background filter"),
        dask.config.set(scheduler="threads"),
    ):
        train, val = create_val_split_datasets(
            config, TrainValSplitData(str(store), n_val_patches=n_val)
        )
    normalization: Any = config.normalization
    means = ", ".join(f"{v:.0f}" for v in normalization.input_means)
    stds = ", ".join(f"{v:.0f}" for v in normalization.input_stds)
    lines = [
        f"store: {spec.n_samples} x {spec.n_channels} x {spec.size} x {spec.size} "
        f"uint16 OME-Zarr, chunks {spec.chunk}x{spec.chunk} "
        f"({human_bytes(spec.nbytes)})",
        f"patches: stratified {_patch_size(config)}, {len(train):,} training "
        f"patches per epoch; {len(val):,} validation patches split off",
        _filter_line(train, spec),
        f"statistics: means [{means}], stds [{stds}] "
        f"({time.perf_counter() - start:.1f} s with the filter, local threads)",
    ]
    for line in lines[1:]:
        console.print(line)
    return train, val, lines


def _filter_line(train: CareamicsDataset, spec: DemoStoreSpec) -> str:
    """Say what the background filter did: cells weighted down, patches drawn."""
    patching: Any = train.patching
    weights = np.asarray(getattr(patching, "region_weights", np.ones(1)))
    excluded = np.asarray(getattr(patching, "excluded_cells", np.zeros(1, bool)))
    background = (weights < 1) & ~excluded
    usable = int((~excluded).sum())
    table = train.patch_table(0)
    drawn = background_patches(train, table.data_idx, table.sample_idx, table.coords)
    share = 100 * background.sum() / max(usable, 1)
    return (
        f"background filter: max < {spec.threshold:g} in {int(background.sum()):,} "
        f"of {usable:,} grid cells ({share:.0f} %), each drawn with probability "
        f"0.1: {100 * drawn.mean() if len(drawn) else 0:.0f} % of epoch 0's "
        f"patches come from them ({share:.0f} % without the filter)"
    )


def background_patches(
    train: CareamicsDataset, data_idx: Any, sample_idx: Any, coords: Any
) -> npt.NDArray[np.bool_]:
    """Tell which patches start in a grid cell the background filter weighted down.

    Parameters
    ----------
    train : CareamicsDataset
        A dataset with stratified patching (others have no cells: all False).
    data_idx, sample_idx : array_like
        ``(n,)`` image stack and sample of each patch.
    coords : array_like
        ``(n, ndim)`` patch starts.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` True where the patch's cell has a weight below 1.

    Examples
    --------
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import create_train_dataset, TrainValData
    >>> config = DataConfig(mode="training", data_type="array", axes="YX",
    ...     patching={"name": "stratified", "patch_size": [8, 8]},
    ...     normalization={"name": "none"}, seed=1)
    >>> train = create_train_dataset(config, TrainValData(np.ones((16, 16)), None))
    >>> background_patches(train, [0], [0], [[3, 9]]).tolist()
    [False]
    """
    patching: Any = train.patching
    starts = np.asarray(coords, np.int64).reshape(len(np.atleast_1d(data_idx)), -1)
    if not hasattr(patching, "region_weights") or len(starts) == 0:
        return np.zeros(len(starts), np.bool_)
    cells = starts // np.asarray(patching.patch_size, np.int64)
    keys = np.column_stack([np.atleast_1d(data_idx), np.atleast_1d(sample_idx), cells])
    regions = np.asarray(patching.all_grid_coords, np.int64)
    _, inverse = np.unique(np.vstack([regions, keys]), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    weight_of = np.ones(int(inverse.max()) + 1)
    weight_of[inverse[: len(regions)]] = np.asarray(patching.region_weights)
    found = np.zeros(len(weight_of), np.bool_)
    found[inverse[: len(regions)]] = True
    ids = inverse[len(regions) :]
    return np.asarray(found[ids] & (weight_of[ids] < 1.0), np.bool_)


def _patch_size(config: DataConfig) -> str:
    size = getattr(config.patching, "patch_size", None) or []
    return "x".join(str(v) for v in size)


def _figure(
    out: Path,
    datasets: tuple[CareamicsDataset, CareamicsDataset],
    first: Batch,
    notes: list[str],
) -> Path:
    from careamics_dask.app.figure_marks import PixelSize
    from careamics_dask.app.figures import find_patch_origins, plot_demo_figure

    train, val = datasets
    origins = find_patch_origins(train, val, epochs=4)
    shown = slice(0, min(SHOWN_PATCHES, len(first)))
    specs = first.specs
    background = background_patches(
        train, specs.sample_idx * 0 + specs.data_idx, specs.sample_idx, specs.coords
    )
    labels = [
        f"s{int(specs.sample_idx[i])} y{int(specs.coords[i, 0])} "
        f"x{int(specs.coords[i, 1])}" + ("\nbackground (kept)" if background[i] else "")
        for i in range(shown.stop)
    ]
    kept = int(background[shown].sum())
    notes.append(
        f"the {shown.stop} patches shown are the first batch exactly as training "
        f"sees it (normalized, augmented, filter applied): {kept} of them from "
        "background cells the filter kept (it thins background out, it does not "
        "remove it)"
    )
    stack = train.inputs.image_stacks[0]
    sizes = dict(stack.attrs.get("pixel_sizes", {}))
    unit = stack.attrs.get("pixel_unit")
    pixel = PixelSize(size=float(sizes["X"]), unit=str(unit)) if "X" in sizes else None
    return plot_demo_figure(
        out,
        inputs=first.input[shown],
        targets=first.target[shown] if first.target is not None else None,
        labels=labels,
        channel_names=[str(c) for c in stack.coords["C"].values],
        origins=origins,
        title=(
            "careamics-dask demo: the first training batch as training sees it "
            "(sample, y, x), and where patches come from"
        ),
        notes=notes,
        pixel=pixel,
    )


def _cluster_note(workers: int, report: StreamReport) -> str:
    """Say which path ran and what its rate means."""
    rate = report.patches / max(report.seconds, 1e-9)
    return (
        f"epoch 0 on an embedded cluster of {workers} worker process(es): "
        f"{report.batches:,} batches in {report.seconds:.1f} s, {rate:,.0f} "
        "patches/s. Each task builds a group of batches in a worker process and "
        "hands them to this process through shared memory (/dev/shm; over TCP "
        "from workers on other machines); the timing starts after the cluster is "
        "up and covers the epoch's batches, the workers' first tasks included. "
        'For comparison (README; BENCHMARKS.md, "Distributed path"): random '
        "64 x 64 patches of a 128 MiB store on 2 cores come at 5,500-6,800 "
        "patches/s on local threads and 7,700-8,600 on a warm 2-worker embedded "
        "cluster"
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
        notes.append(_cluster_note(workers, report))
        console.print(notes[-1], highlight=False)
        figure = _figure(out, (train, val), kept[0], notes).resolve()
    finally:
        client.close()
    seconds = time.perf_counter() - start
    console.print(f"figure: {figure}", highlight=False, overflow="fold")
    console.print(f"done in {seconds:.1f} s")
    return DemoResult(
        store=store,
        figure=figure,
        report=report,
        n_train=len(train),
        n_val=len(val),
        seconds=seconds,
    )
