"""The training-side code every deployment runs unchanged: a dataset and its stream.

Run it on the embedded local cluster, or on any scheduler given by address or by
``DASK_SCHEDULER_ADDRESS``::

    python cluster/examples/train_stream.py
    python cluster/examples/train_stream.py --scheduler tcp://127.0.0.1:8786
    DASK_SCHEDULER_ADDRESS=tcp://127.0.0.1:8786 python cluster/examples/train_stream.py

The other examples (``slurm.py``, ``kubernetes.py``, ``tls.py``) only make a client
in another way and then call :func:`train`.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

import numpy as np

from careamics_dask import (
    BatchStream,
    DataConfig,
    TrainValSplitData,
    create_train_dataset,
    get_client,
)
from careamics_dask.app.demo import synthetic_image

if TYPE_CHECKING:
    from distributed import Client

    from careamics_dask.factory import CareamicsDataset


def build_dataset(source: str | None = None) -> CareamicsDataset:
    """Build a training dataset (N2V-style: inputs only, stratified 64x64 patches).

    Parameters
    ----------
    source : str, optional
        A Zarr store with axes ``SCYX`` that every worker can read (a shared file
        system or object storage). ``None`` uses a small synthetic in-memory
        stack, which travels to the workers inside the task graph.

    Returns
    -------
    CareamicsDataset
        The dataset; its normalization statistics are computed now.
    """
    config = DataConfig(
        mode="training",
        data_type="array" if source is None else "zarr",
        axes="SCYX",
        patching={"name": "stratified", "patch_size": [64, 64]},
        normalization={"name": "mean_std"},
        batch_size=16,
        seed=1,
    )
    if source is None:
        data = np.stack(
            [
                [synthetic_image((256, 256), seed=7 * s + c) for c in range(2)]
                for s in range(4)
            ]
        )
        return create_train_dataset(config, TrainValSplitData(data, 8))
    return create_train_dataset(config, TrainValSplitData(source, 8))


def train(
    client: Client | None, *, source: str | None = None, epochs: int = 1
) -> float:
    """Stream ``epochs`` epochs through a (simulated) training step.

    Parameters
    ----------
    client : distributed.Client or None
        Where batches are built; ``None``: local threads, no cluster.
    source : str, optional
        See :func:`build_dataset`.
    epochs : int, default 1
        Epochs to stream.

    Returns
    -------
    float
        Patches per second seen by the training loop.
    """
    dataset = build_dataset(source)
    stream = BatchStream(dataset, client, epochs=epochs)
    start = time.perf_counter()
    n_patches = 0
    for batch in stream:
        n_patches += len(batch.indices)
        float(batch.input.mean())  # the training step would go here
    rate = n_patches / (time.perf_counter() - start)
    print(f"{len(stream)} batches, {n_patches} patches, {rate:.0f} patches/s")
    return rate


def main() -> None:
    """Connect (or start an embedded cluster) and train."""
    parser = argparse.ArgumentParser(description="Stream batches to a training loop.")
    parser.add_argument("--scheduler", help="scheduler address, e.g. tcp://host:8786")
    parser.add_argument("--source", help="a Zarr store (SCYX) the workers can read")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    # Order: --scheduler, else DASK_SCHEDULER_ADDRESS, else an embedded LocalCluster.
    client = get_client(args.scheduler)
    try:
        print(f"dashboard: {client.dashboard_link}")
        train(client, source=args.source, epochs=args.epochs)
    finally:
        client.close()


if __name__ == "__main__":
    main()
