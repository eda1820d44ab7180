"""predict_to_zarr: tiles in, model, stitched out-of-core into a Zarr store."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dask.base import tokenize

from careamics_dask.predict.batches import stream_predictions
from careamics_dask.predict.coverage import check_tiles_partition, select_needed_tiles
from careamics_dask.predict.layout import create_layout, default_spatial_chunks
from careamics_dask.predict.model import create_model_adapter
from careamics_dask.predict.stitch import (
    ChunkGrid,
    ImageStitcher,
    crop_tile,
    tile_columns,
)
from careamics_dask.predict.writer import PredictionStore
from careamics_dask.runtime import __version__

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator, Mapping, Sequence

    from distributed import Client

    from careamics_dask.factory.dataset import CareamicsDataset
    from careamics_dask.predict.batches import PredictedBatch

__all__ = ["PredictionSummary", "predict_to_zarr"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class PredictionSummary:
    """What :func:`predict_to_zarr` did.

    Attributes
    ----------
    path : pathlib.Path
        The output store.
    arrays : tuple of str
        The output arrays' paths in the store, one per image stack.
    n_tiles : int
        Tiles of the dataset.
    n_predicted : int
        Tiles predicted by this run (fewer when it resumed an earlier one).
    regions_written : int
        Regions (runs of complete chunks) written by this run.
    resumed : bool
        Whether an interrupted run was continued.
    seconds : float
        Wall time.
    """

    path: Path
    arrays: tuple[str, ...]
    n_tiles: int
    n_predicted: int
    regions_written: int
    resumed: bool
    seconds: float

    def describe(self) -> str:
        """Return a one-line report for people.

        Returns
        -------
        str
            The report.
        """
        resumed = " (resumed)" if self.resumed else ""
        return (
            f"wrote {len(self.arrays)} prediction(s) to {self.path}{resumed}: "
            f"{self.n_predicted} of {self.n_tiles} tiles predicted, "
            f"{self.regions_written} regions written in {self.seconds:.1f} s"
        )


def predict_to_zarr(
    dataset: CareamicsDataset,
    model: Any,
    store: str | os.PathLike[str],
    client: Client | None = None,
    *,
    prefetch: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
    run_on: Literal["client", "workers"] = "client",
    resources: Mapping[str, float] | None = None,
    device: str | None = None,
    chunks: Sequence[int] | None = None,
    denormalize: bool = True,
    resume: bool = True,
    write_threads: int = 2,
    compressors: Any = "auto",
) -> PredictionSummary:
    """Predict a dataset tile by tile and stitch the result into a Zarr store.

    Tiles stream from the cluster as batches in table order; the model runs on each
    batch (here, or in worker tasks); outputs are denormalized with the dataset's
    statistics (target statistics where set), cropped with ``crop_coords`` /
    ``crop_size`` and placed at ``stitch_coords`` into output chunks that are written
    once each, whole, when complete. Memory holds the prefetched batches and the
    rows of chunks the current tiles touch, never an image.

    The store holds one float32 array per input image stack, in the source's axes
    (``S``/``T`` unmerged, a singleton ``C`` dropped only where the source had
    none, the model's channel count kept), with axes, source and pixel sizes in the
    ``careamics-dask`` attributes (OME-Zarr 0.5 image groups for OME-Zarr inputs).
    It is written at ``<store>.partial`` and renamed when complete; running again
    after an interruption resumes it, predicting only the tiles of unwritten chunks.

    Parameters
    ----------
    dataset : CareamicsDataset
        A prediction dataset (tiled or whole patching), from ``create_pred_dataset``.
    model : callable or torch.nn.Module
        Float32 ``(B, C, (Z), Y, X)`` in, ``(B, C', (Z), Y, X)`` out; see
        :func:`~careamics_dask.predict.model.create_model_adapter`.
    store : str or os.PathLike
        The output Zarr store, a local path that does not exist (or ``overwrite``).
    client : distributed.Client, optional
        The cluster building the batches. ``None``: the default client, else
        local threads (``run_on="client"`` only).
    prefetch : int, optional
        Batches in flight (default ``careamics-dask.batching.prefetch``).
    overwrite : bool, default False
        Replace an existing output once the new one is complete.
    progress : bool, default False
        Show a progress bar of the tiles (on stderr).
    run_on : {"client", "workers"}, default "client"
        Run the model in this process, or inside worker tasks (picklable models;
        see :mod:`careamics_dask.predict.batches`).
    resources : Mapping[str, float], optional
        Worker resources of the model tasks with ``run_on="workers"``, e.g.
        ``{"GPU": 1}`` for workers started with ``--resources GPU=1``.
    device : str, optional
        Device of a torch module (default: ``cuda`` where available).
    chunks : Sequence[int], optional
        Output chunk sizes along ``(Z,) Y, X`` (default: the source's storage
        chunks, else 16 along Z and 256 along Y and X).
    denormalize : bool, default True
        Undo the normalization on the outputs (the reference always does).
    resume : bool, default True
        Continue an interrupted prediction into the same store; False discards it.
    write_threads : int, default 2
        Regions written at the same time.
    compressors : Any, default "auto"
        Compressors of the output arrays, as ``zarr.create_array`` takes them
        (``"auto"``: zarr's default, Zstandard; ``None``: uncompressed).

    Returns
    -------
    PredictionSummary
        The output path, its arrays, and the work done.

    Raises
    ------
    ValueError
        For a dataset without tiled or whole patching, a remote or source path as
        ``store``, ``run_on="workers"`` without a cluster, a model output of the
        wrong shape, or a partial store of another run.
    FileExistsError
        When ``store`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> import numpy as np, tempfile, zarr
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import PredData, create_pred_dataset
    >>> config = DataConfig(mode="predicting", data_type="array", axes="YX",
    ...     patching={"name": "tiled", "patch_size": [16, 16], "overlaps": [4, 4]},
    ...     normalization={"name": "mean_std"}, batch_size=4)
    >>> image = np.arange(40 * 30, dtype=np.float32).reshape(40, 30)
    >>> dataset = create_pred_dataset(config, PredData(image))
    >>> out = tempfile.mkdtemp() + "/out.zarr"
    >>> summary = predict_to_zarr(dataset, lambda x: x, out)
    >>> summary.arrays, summary.n_tiles
    (('0',), 9)
    >>> bool(np.allclose(zarr.open_array(out, path="0")[...], image))
    True
    """
    start = time.perf_counter()
    target = _check_store(store, dataset)
    table = dataset.patch_table(0)
    if not table.is_tiled and dataset.config.patching.name != "whole":
        raise ValueError(
            "predict_to_zarr needs a prediction dataset: expected tiled or whole "
            f"patching, got {dataset.config.patching.name!r}. Build it with "
            "create_pred_dataset and a predicting config."
        )
    if run_on not in ("client", "workers"):
        raise ValueError(f"Unknown run_on {run_on!r}: expected 'client' or 'workers'.")
    client = _resolve_client(client, run_on)
    check_tiles_partition(table, dataset.input_shapes)
    grids = _output_grids(dataset, chunks)
    adapter = create_model_adapter(model, device)
    writer = PredictionStore(
        target,
        fingerprint=_fingerprint(dataset, grids, denormalize),
        overwrite=overwrite,
        resume=resume,
        threads=write_threads,
        compressors=compressors,
    )
    done = writer.open(grids, [int(s[0]) for s in dataset.input_shapes])
    try:
        needed = select_needed_tiles(table, grids, done)
        n_needed = int(needed.sum())
        logger.info(
            "predicting %d of %d tiles into %s (model on the %s)",
            n_needed,
            len(table),
            target,
            run_on,
        )
        batches = stream_predictions(
            dataset,
            adapter,
            needed,
            client=client,
            run_on=run_on,
            prefetch=prefetch,
            normalizer=dataset.normalizer if denormalize else None,
            resources=resources,
        )
        extra = {
            "normalization": dataset.config.normalization.name,
            "denormalized": denormalize,
            "careamics_dask": __version__,
        }
        with _progress_bar(progress, n_needed) as advance:
            stitchers = _stitch_all(
                batches, dataset, grids, done, writer, extra, advance
            )
        open_bands = sum(s.open_bands for s in stitchers)
        if open_bands:
            raise ValueError(
                f"{open_bands} rows of output chunks were not completed by the tiles. "
                "The tile table must cover every image exactly once."
            )
        arrays = tuple(
            f"{i}/0" if stack.attrs.get("ome_version") is not None else str(i)
            for i, stack in enumerate(dataset.inputs.image_stacks)
        )
        path = writer.commit({"arrays": list(arrays), "careamics_dask": __version__})
    finally:
        writer.close()
    return PredictionSummary(
        path=path,
        arrays=arrays,
        n_tiles=len(table),
        n_predicted=n_needed,
        regions_written=writer.regions_written,
        resumed=writer.resumed,
        seconds=time.perf_counter() - start,
    )


def _output_grids(
    dataset: CareamicsDataset, chunks: Sequence[int] | None
) -> list[ChunkGrid]:
    """Return the output chunk grid of every image stack."""
    return [
        ChunkGrid.create(
            shape[2:], chunks if chunks is not None else default_spatial_chunks(stack)
        )
        for shape, stack in zip(
            dataset.input_shapes, dataset.inputs.image_stacks, strict=True
        )
    ]


def _stitch_all(
    batches: Iterator[PredictedBatch],
    dataset: CareamicsDataset,
    grids: Sequence[ChunkGrid],
    done: Sequence[Any],
    writer: PredictionStore,
    extra: dict[str, Any],
    advance: Any,
) -> list[ImageStitcher]:
    """Crop, place and write every predicted batch; return the stitchers."""
    stitchers: list[ImageStitcher] = []
    for batch in batches:
        if not stitchers:  # the first output tells the channel count
            n_channels = int(batch.output.shape[1])
            layouts = [
                create_layout(
                    stack,
                    index,
                    n_channels=n_channels,
                    spatial_chunks=grid.chunks,
                    target_axes=dataset.config.target_axes,
                    channels=dataset.config.channels,
                    extra=extra,
                )
                for index, (stack, grid) in enumerate(
                    zip(dataset.inputs.image_stacks, grids, strict=True)
                )
            ]
            writer.prepare(layouts)
            stitchers = [
                ImageStitcher(i, grid, n_channels, done[i])
                for i, grid in enumerate(grids)
            ]
        rows = batch.rows
        crop_coords, crop_size, stitch = tile_columns(rows)
        for i in range(len(rows)):
            crop = crop_tile(batch.output[i], crop_coords[i], crop_size[i])
            stitcher = stitchers[int(rows.data_idx[i])]
            stitcher.place(int(rows.sample_idx[i]), stitch[i], crop)
        for stitcher in stitchers:
            for region in stitcher.completed():
                writer.write(region)
        advance(len(rows))
    return stitchers


def _fingerprint(dataset: CareamicsDataset, *parts: Any) -> str:
    """Identify what a prediction writes: sources, tiles, statistics, layout."""
    config = dataset.config.model_dump(
        mode="json",
        include={"data_type", "axes", "target_axes", "patching", "normalization"},
    )
    sources = dataset.identity[1:]  # after the config JSON: the sources
    return str(tokenize(config, sources, dataset.config.channels, *parts))


def _check_store(store: str | os.PathLike[str], dataset: CareamicsDataset) -> Path:
    text = str(store)
    if "://" in text:
        raise ValueError(
            f"Predictions are written to a local folder: expected a path, got "
            f"{text!r}. Write locally (or to a mounted file system), then copy."
        )
    target = Path(text).expanduser().resolve()
    for stack in dataset.inputs.image_stacks:
        source = str(stack.attrs.get("source", "array"))
        if source == "array" or "://" in source:
            continue
        path = Path(source).expanduser().resolve()
        if target == path or path in target.parents or target in path.parents:
            raise ValueError(
                f"The output {text!r} overlaps the input {source!r}: expected a "
                "path outside every source, which is never written to."
            )
    return target


def _resolve_client(client: Client | None, run_on: str) -> Client | None:
    """Return the client, else the default one, else None (local threads)."""
    if client is None:
        from distributed import default_client

        with contextlib.suppress(ValueError):  # no default client
            client = default_client()
    if client is None and run_on == "workers":
        raise ValueError(
            "run_on='workers' runs the model in worker tasks: expected a "
            "distributed client, got none. Pass client=careamics_dask.get_client() "
            "or use run_on='client'."
        )
    return client


@contextlib.contextmanager
def _progress_bar(show: bool, total: int) -> Iterator[Any]:
    if not show:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("predicting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tiles"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("tiles", total=total)
        yield lambda n: bar.advance(task, n)
