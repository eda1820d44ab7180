"""Predicted batches: tiles built on the cluster, the model run on them.

Batches of the tiles still needed (all of them, or what a resumed run lacks) are
submitted in table order from a bounded window of futures, as ``BatchStream`` does,
and come back in that order. Two places to run the model, the same batches out:

- ``run_on="client"``: the tasks build the normalized input batches
  (:func:`build_inputs`) and the model runs in this process, on its device. Any
  model works, picklable or not.
- ``run_on="workers"``: one fused task per batch (:func:`predict_batch`: read,
  normalize, model, denormalize); ``resources={"GPU": 1}`` sends them to GPU workers
  (``dask worker --resources GPU=1``). The model must pickle. Only the predicted
  tiles come back.

The batch plan (and the model) enter the cluster as results of small tasks
(:func:`hold`), not as scattered data: the scheduler keeps their task specs, so when
a worker holding them is killed they are recomputed elsewhere, the batch tasks rerun
and no batch is lost. (``BatchStream`` scatters its plan, and its stream fails when
the worker holding the only copy dies; it also cannot submit a subset of tiles or a
fused model task, which is why prediction has its own window.) Without a distributed
client the same tasks run on local threads.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from dask.base import tokenize

from careamics_dask.graph.batch import BatchPlan
from careamics_dask.predict.model import check_model_output
from careamics_dask.runtime import get_option, reading_options

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    import numpy.typing as npt
    from distributed import Client

    from careamics_dask.factory.dataset import CareamicsDataset
    from careamics_dask.graph.batch import BatchBuilder
    from careamics_dask.graph.transforms.normalize import Normalizer
    from careamics_dask.patching import PatchTable
    from careamics_dask.predict.model import ModelAdapter

__all__ = [
    "PredictedBatch",
    "apply_model",
    "build_inputs",
    "hold",
    "predict_batch",
    "stream_predictions",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class PredictedBatch:
    """Model outputs of some tiles, with their table rows.

    Attributes
    ----------
    rows : PatchTable
        The tiles' rows (crop and stitch columns).
    output : numpy.ndarray
        ``(B, C', (Z), Y, X)`` float32, denormalized.
    """

    rows: PatchTable
    output: npt.NDArray[np.float32]


def apply_model(
    model: ModelAdapter,
    inputs: npt.NDArray[np.float32],
    normalizer: Normalizer | None,
) -> npt.NDArray[np.float32]:
    """Run the model on a batch, check its output and denormalize it.

    Parameters
    ----------
    model : ModelAdapter
        The model.
    inputs : numpy.ndarray
        A normalized batch ``(B, C, (Z), Y, X)``.
    normalizer : Normalizer or None
        The dataset's normalizer (target statistics where set), or None to keep
        the model's output as is.

    Returns
    -------
    numpy.ndarray
        ``(B, C', (Z), Y, X)`` float32.

    Examples
    --------
    >>> from careamics_dask.predict.model import NumpyModel
    >>> apply_model(NumpyModel(np.negative), np.ones((1, 1, 2, 2), np.float32),
    ...     None)[0, 0, 0, 0]
    np.float32(-1.0)
    """
    output = model(inputs)
    check_model_output(output, tuple(inputs.shape))
    if normalizer is not None:
        output = normalizer.denormalize(output)
    return np.asarray(output, dtype=np.float32)


def predict_batch(
    plan: BatchBuilder,
    model: ModelAdapter,
    rows: PatchTable,
    indices: npt.NDArray[np.int64],
    normalizer: Normalizer | None,
) -> npt.NDArray[np.float32]:
    """Build a batch of tiles and predict it: the task of ``run_on="workers"``.

    Parameters
    ----------
    plan : BatchBuilder
        The dataset's batch plan.
    model : ModelAdapter
        The model.
    rows : PatchTable
        The tiles' rows.
    indices : numpy.ndarray
        Their dataset indices.
    normalizer : Normalizer or None
        As in :func:`apply_model`.

    Returns
    -------
    numpy.ndarray
        The denormalized prediction ``(B, C', (Z), Y, X)``.
    """
    inputs, _ = plan.build(rows, indices, 0)
    return apply_model(model, inputs, normalizer)


def hold(value: Any) -> Any:
    """Return the argument: a task that keeps a value on the cluster, recomputably.

    Parameters
    ----------
    value : Any
        The value (the batch plan, the model).

    Returns
    -------
    Any
        ``value``.
    """
    return value


def build_inputs(
    plan: BatchBuilder,
    rows: PatchTable,
    indices: npt.NDArray[np.int64],
) -> npt.NDArray[np.float32]:
    """Build a normalized batch of tiles: the task of ``run_on="client"``.

    Parameters
    ----------
    plan : BatchBuilder
        The dataset's batch plan.
    rows : PatchTable
        The tiles' rows.
    indices : numpy.ndarray
        Their dataset indices.

    Returns
    -------
    numpy.ndarray
        The input batch ``(B, C, (Z), Y, X)`` float32.
    """
    inputs, _ = plan.build(rows, indices, 0)
    return inputs


def stream_predictions(
    dataset: CareamicsDataset,
    model: ModelAdapter,
    needed: npt.NDArray[np.bool_],
    *,
    client: Client | None,
    run_on: str = "client",
    prefetch: int | None = None,
    normalizer: Normalizer | None = None,
    resources: Mapping[str, float] | None = None,
    retries: int | None = None,
) -> Iterator[PredictedBatch]:
    """Predict the needed tiles, ``batch_size`` at a time, in table order.

    Parameters
    ----------
    dataset : CareamicsDataset
        The prediction dataset.
    model : ModelAdapter
        The model.
    needed : numpy.ndarray
        One boolean per tile: predict it.
    client : distributed.Client or None
        The cluster; None runs the tasks on local threads.
    run_on : {"client", "workers"}, default "client"
        Where the model runs (``"workers"`` needs a client).
    prefetch : int, optional
        Tasks in flight (default ``careamics-dask.batching.prefetch``).
    normalizer : Normalizer or None
        As in :func:`apply_model`.
    resources : Mapping[str, float], optional
        Worker resources of each task, e.g. ``{"GPU": 1}``.
    retries : int, optional
        Retries of a failed task (default ``careamics-dask.batching.retries``); a
        lost worker is not a retry.

    Yields
    ------
    PredictedBatch
        Denormalized predictions of the needed tiles.
    """
    window_size = max(1, int(get_option("batching.prefetch", prefetch)))
    plan = dataset.plan
    if isinstance(plan, BatchPlan):
        plan = dataclasses.replace(plan, targets=None, **reading_options())
    on_workers = run_on == "workers"
    task: Callable[..., Any] = predict_batch if on_workers else build_inputs
    shared: tuple[Any, ...] = (plan, model) if on_workers else (plan,)
    extra = (normalizer,) if on_workers else ()
    if client is None:
        submit, wait, close = _local(task, shared, extra, window_size)
    else:
        submit, wait, close = _remote(
            client, dataset, task, shared, extra, resources, retries
        )
    table = dataset.patch_table(0)
    indices = np.flatnonzero(needed).astype(np.int64)
    size = dataset.batch_size
    window: collections.deque[tuple[PatchTable, Any]] = collections.deque()
    try:
        for number, start in enumerate(range(0, len(indices), size)):
            chunk = indices[start : start + size]
            rows = table.take(chunk)
            window.append((rows, submit(number, rows, chunk)))
            if len(window) >= window_size:
                rows, future = window.popleft()
                yield _finish(rows, wait(future), model, normalizer, on_workers)
        while window:
            rows, future = window.popleft()
            yield _finish(rows, wait(future), model, normalizer, on_workers)
    finally:
        close([future for _, future in window])


def _finish(
    rows: PatchTable,
    result: npt.NDArray[np.float32],
    model: ModelAdapter,
    normalizer: Normalizer | None,
    on_workers: bool,
) -> PredictedBatch:
    output = result if on_workers else apply_model(model, result, normalizer)
    logger.debug("predicted %d tiles", len(rows))
    return PredictedBatch(rows=rows, output=output)


def _local(
    task: Callable[..., Any],
    shared: tuple[Any, ...],
    extra: tuple[Any, ...],
    window_size: int,
) -> tuple[Callable[..., Any], Callable[[Any], Any], Callable[[list[Any]], None]]:
    """Submit, wait and close on local threads (no cluster)."""
    pool = ThreadPoolExecutor(
        max(1, min(window_size, os.cpu_count() or 1)), "careamics-predict-batch"
    )

    def submit(_: int, rows: PatchTable, indices: npt.NDArray[np.int64]) -> Any:
        return pool.submit(task, *shared, rows, indices, *extra)

    def close(pending: list[Any]) -> None:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)

    return submit, Future.result, close


def _remote(
    client: Client,
    dataset: CareamicsDataset,
    task: Callable[..., Any],
    shared: tuple[Any, ...],
    extra: tuple[Any, ...],
    resources: Mapping[str, float] | None,
    retries: int | None,
) -> tuple[Callable[..., Any], Callable[[Any], Any], Callable[[list[Any]], None]]:
    """Submit, wait and close on a distributed cluster."""
    retries = int(get_option("batching.retries", retries))
    token = tokenize(dataset.token, uuid.uuid4().hex)  # one per run
    # tasks, not scattered data: recomputed when the worker holding them is lost
    held = [
        client.submit(hold, value, key=f"careamics-predict-{name}-{token}", pure=False)
        for name, value in zip(("plan", "model"), shared, strict=False)
    ]

    def submit(number: int, rows: PatchTable, indices: npt.NDArray[np.int64]) -> Any:
        return client.submit(
            task,
            *held,
            rows,
            indices,
            *extra,
            key=f"careamics-predict-{token}-{number}",
            retries=retries,
            resources=dict(resources) if resources else None,
            pure=False,
        )

    def wait(future: Any) -> Any:
        result = client.gather(future, direct=True)
        future.release()
        return result

    def close(pending: list[Any]) -> None:
        for future in [*pending, *held]:
            future.release()

    return submit, wait, close
