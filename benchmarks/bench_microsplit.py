"""MicroSplit throughput: lateral-context patches from a Zarr store, next to CAREamics.

One run measures, on one synthetic Zarr v3 store of multiplexed targets (uint16,
``S x 2 x SIDE x SIDE``, ``1 x 1 x 256 x 256`` chunks, zstd), MicroSplit training
patches (multiplexed-target mode, ``multiscale_count=3``, 64 x 64 patches, random
mixing weights, batches of 32):

- the reference (CAREamics 0.3.5, lazy Zarr): ``ds[i]`` in random order, and a torch
  ``DataLoader`` (``shuffle=True``, 2 workers);
- careamics_dask: ``dataset.batch(i)`` in this process (table order: neighbouring
  patches share chunks), batches of shuffled rows in this process (the order a
  shuffling loader asks for), ``BatchStream`` (shuffled) without a client (threads
  of this process), and on a ``LocalCluster(n_workers=2, threads_per_worker=1)``
  on 127.0.0.1;
- statistics: construction with mean/std missing, in both, on a smaller store.

The reference runs in its own environment (``--ref-python``, ``.venv-ref/bin/python``
by default) as a subprocess. Run from the repository root:

    .venv/bin/python benchmarks/bench_microsplit.py
    .venv/bin/python benchmarks/bench_microsplit.py --quick --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CpuMeter

PATCH = 64
BATCH = 32
SEED = 42
MULTISCALE = 3
ARRAY = "targets"
STATS = {"name": "mean_std", "input_means": [900.0], "input_stds": [500.0]}
TARGET_STATS = {"target_means": [900.0, 900.0], "target_stds": [500.0, 500.0]}


def family() -> list[int]:
    """This process and its descendants (workers, loader workers)."""
    import psutil  # type: ignore[import-untyped]

    return [os.getpid(), *(c.pid for c in psutil.Process().children(recursive=True))]


class Clock:
    """Wall and CPU seconds of a block (this process or the given ones)."""

    def __init__(self, pids: Any = None) -> None:
        self._meter = CpuMeter(pids)
        self.wall = self.cpu = float("nan")

    def __enter__(self) -> Clock:
        self._meter.start()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._start
        self.cpu = self._meter.stop()


def rates(n: int, clock: Clock) -> dict[str, float]:
    return {"patches/s": n / clock.wall, "patches per CPU-s": n / clock.cpu}


def config_values(
    normalization: dict[str, Any], uncorrelated: float = 0.0
) -> dict[str, Any]:
    """The same MicroSplit config for both libraries (their field names agree)."""
    return {
        "mode": "training",
        "data_type": "zarr",
        "axes": "SCYX",
        "patching": {"name": "stratified", "patch_size": [PATCH, PATCH]},
        "normalization": normalization,
        "batch_size": BATCH,
        "seed": SEED,
        "multiscale_count": MULTISCALE,
        "alpha_ranges": [(0.5, 1.5), (0.5, 1.5)],
        "uncorrelated_channel_prob": uncorrelated,
    }


def ensure_store(root: Path, shape: tuple[int, ...]) -> Path:
    """Create (or reuse) a Zarr v3 store with one ``S C Y X`` uint16 array."""
    import zarr
    from zarr.codecs import ZstdCodec

    marker = root.with_name(root.name + ".json")
    if marker.exists() and json.loads(marker.read_text()).get("shape") == list(shape):
        return root
    array = zarr.create_array(
        store=str(root),
        name=ARRAY,
        shape=shape,
        chunks=(1, 1, 256, 256),
        dtype="uint16",
        compressors=ZstdCodec(level=3),
        overwrite=True,
        zarr_format=3,
    )
    rng = np.random.default_rng(0)
    side = shape[-1]
    for s in range(shape[0]):
        for c in range(shape[1]):
            coarse = rng.integers(100, 1500, (side // 64, side // 64))
            image = np.repeat(np.repeat(coarse, 64, axis=0), 64, axis=1)
            array[s, c] = (image + rng.integers(0, 200, (side, side))).astype(np.uint16)
    marker.write_text(json.dumps({"shape": list(shape)}))
    return root


# ------------------------------------------------------------------------ reference


def reference_main(args: argparse.Namespace) -> None:
    """Measure the reference (run in .venv-ref) and print the results as JSON."""
    import warnings

    warnings.simplefilter("ignore")
    import careamics  # type: ignore[import-not-found]
    import torch
    from careamics.config.data import (  # type: ignore[import-not-found]
        MicroSplitDataConfig,
    )
    from careamics.dataset.factory import (  # type: ignore[import-not-found]
        MultiChannelTarget,
        create_microsplit_dataset,
    )
    from torch.utils.data import DataLoader

    torch.set_num_threads(1)
    out: dict[str, Any] = {"careamics": careamics.__version__}

    def dataset(store: str, normalization: dict[str, Any]) -> Any:
        config = MicroSplitDataConfig(**config_values(normalization, args.uncorrelated))
        return create_microsplit_dataset(config, MultiChannelTarget([store]))

    with Clock() as clock:
        ds = dataset(args.store, {**STATS, **TARGET_STATS})
    out["construction s"] = clock.wall
    out["patches per epoch"] = len(ds)
    order = np.random.default_rng(0).permutation(len(ds))[: args.ref_patches + 4]
    for i in order[:4]:
        ds[int(i)]
    with Clock() as clock:
        for i in order[4:]:
            ds[int(i)]
    out["getitem"] = rates(args.ref_patches, clock)
    loader = DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=2)
    batches = iter(loader)
    for _ in range(4):
        next(batches)
    with Clock(family) as clock:
        for _ in range(args.ref_batches):
            next(batches)
    out["dataloader 2 workers"] = rates(args.ref_batches * BATCH, clock)
    del batches, loader, ds
    with Clock() as clock:
        stats = dataset(args.stats_store, {"name": "mean_std"})
    out["statistics s"] = clock.wall
    norm = stats.config.normalization
    out["statistics"] = [list(norm.input_means), list(norm.input_stds)]
    print("REFERENCE-JSON " + json.dumps(out), flush=True)


def run_reference(args: argparse.Namespace) -> dict[str, Any]:
    command = [
        args.ref_python,
        str(Path(__file__).resolve()),
        "--as-reference",
        "--store",
        args.store,
        "--stats-store",
        args.stats_store,
        "--ref-patches",
        str(args.ref_patches),
        "--ref-batches",
        str(args.ref_batches),
        "--uncorrelated",
        str(args.uncorrelated),
    ]
    print("reference: " + " ".join(command[:2]) + " ...", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("REFERENCE-JSON "):
            return dict(json.loads(line.removeprefix("REFERENCE-JSON ")))
    print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
    raise RuntimeError(f"the reference run failed (exit {done.returncode})")


# -------------------------------------------------------------------- careamics_dask


def ours_main(args: argparse.Namespace) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    from careamics_dask import BatchStream
    from careamics_dask.config import MicroSplitDataConfig
    from careamics_dask.factory import MultiChannelTarget, create_microsplit_dataset
    from careamics_dask.graph.batch import build_batch

    def dataset(store: str, normalization: dict[str, Any]) -> Any:
        config = MicroSplitDataConfig(**config_values(normalization, args.uncorrelated))
        return create_microsplit_dataset(config, MultiChannelTarget([store]))

    out: dict[str, Any] = {}
    with Clock() as clock:
        ds = dataset(args.store, {**STATS, **TARGET_STATS})
    out["construction s"] = clock.wall
    out["patches per epoch"] = len(ds)
    n = args.batches
    ds.batch(0, epoch=1)
    with Clock() as clock:
        for index in range(1, n + 1):
            ds.batch(index, epoch=1)
    out["dataset.batch(i), in process (table order)"] = rates(n * BATCH, clock)
    table = ds.patch_table(1)
    order = np.random.default_rng(0).permutation(len(table))
    with Clock() as clock:
        for index in range(n):
            rows = order[index * BATCH : (index + 1) * BATCH]
            build_batch(ds.plan, table.take(rows), rows, 1)
    out["shuffled batches, in process"] = rates(n * BATCH, clock)

    def stream_rate(client: Any, pids: Any, prefetch: int) -> dict[str, float]:
        stream = iter(
            BatchStream(ds, client, shuffle=True, prefetch=prefetch, epochs=100)
        )
        for _ in range(2 * prefetch):
            next(stream)
        with Clock(pids) as clock:
            for _ in range(n):
                next(stream)
        return rates(n * BATCH, clock)

    out["BatchStream, threads of this process"] = stream_rate(None, None, 4)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        out["BatchStream, LocalCluster 2x1"] = stream_rate(client, family, 8)
        with Clock() as clock:
            stats = dataset(args.stats_store, {"name": "mean_std"})
        out["statistics s (cluster)"] = clock.wall
    norm = stats.config.normalization
    out["statistics"] = [list(norm.input_means), list(norm.input_stds)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-reference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", default="/tmp/careamics_bench")
    parser.add_argument("--store", default="")
    parser.add_argument("--stats-store", default="")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--ref-patches", type=int, default=200)
    parser.add_argument("--ref-batches", type=int, default=8)
    parser.add_argument("--uncorrelated", type=float, default=0.0)
    parser.add_argument("--ref-python", default=".venv-ref/bin/python")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    if args.as_reference:
        reference_main(args)
        return
    if args.quick:
        args.samples, args.side, args.batches = 2, 1024, 10
        args.ref_patches, args.ref_batches = 50, 3
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    shape = (args.samples, 2, args.side, args.side)
    args.store = args.store or str(
        ensure_store(root / f"microsplit-{'x'.join(map(str, shape))}.zarr", shape)
    )
    stats_shape = (2, 2, 1024, 1024)
    args.stats_store = args.stats_store or str(
        ensure_store(root / "microsplit-stats-2x2x1024x1024.zarr", stats_shape)
    )
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "store": {"shape": list(shape), "chunks": [1, 1, 256, 256], "dtype": "uint16"},
        "settings": {
            "patch": PATCH,
            "batch": BATCH,
            "multiscale_count": MULTISCALE,
            "uncorrelated_channel_prob": args.uncorrelated,
        },
    }
    results["ours"] = ours_main(args)
    if not args.no_reference:
        results["reference"] = run_reference(args)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
