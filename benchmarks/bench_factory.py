"""Factory throughput: random 64x64 patches from a Zarr store, next to CAREamics 0.3.5.

One run measures, on one synthetic Zarr v3 store (uint16, 1 x 256 x 256 chunks,
zstd), random 64 x 64 patches in batches of 32:

- the reference (CAREamics 0.3.5, lazy Zarr): ``ds[i]``, and a torch ``DataLoader``
  (``shuffle=True``) with 0 and 2 workers; its automatic mean/std at construction;
  its in-memory dataset (NumPy input: a float32 copy) on the statistics store;
- careamics_dask: ``dataset.batch(i)`` in this process, and batches computed on a
  ``LocalCluster(n_workers=2, threads_per_worker=1)`` on 127.0.0.1 from a window of 8
  futures: ``dataset.batch_tasks`` (table order), shuffled uniform rows (the
  DataLoader's order), chunk-aware order of the same table, and chunk-aware draws;
- naive ``dask.array`` slicing + ``da.stack``; zarr-python slicing (one call per
  patch); the raw chunk-decode limit (every chunk file read and zstd-decoded once,
  in 2 processes);
- statistics: dataset construction with mean/std missing, here and in the reference,
  on the same (smaller) store, and here on the whole store;
- memory: this process's peak RSS over all careamics_dask runs (the client, with the
  embedded scheduler), the workers' peak, and ``in_memory=True`` (in a fresh process).

The reference needs its own environment (torch, careamics): its part runs as a
subprocess with ``--ref-python`` (``.venv-ref/bin/python`` by default) that imports
nothing of careamics_dask. Run from the repository root:

    .venv/bin/python benchmarks/bench_factory.py                    # 4 GiB store
    .venv/bin/python benchmarks/bench_factory.py --quick            # 0.5 GiB, fewer
    .venv/bin/python benchmarks/bench_factory.py --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ARRAY,
    CpuMeter,
    PeakMemory,
    ensure_store,
    rss_bytes,
    store_shape,
)

if TYPE_CHECKING:
    from collections.abc import Callable

PATCH = 64
BATCH = 32
SEED = 42
MIB = 2**20
REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- config


def config_values(
    normalization: dict[str, Any], data_type: str = "zarr"
) -> dict[str, Any]:
    """The same data config for both libraries (their field names agree)."""
    return {
        "mode": "training",
        "data_type": data_type,
        "axes": "SYX",
        "patching": {"name": "random", "patch_size": [PATCH, PATCH]},
        "normalization": normalization,
        "batch_size": BATCH,
        "seed": SEED,
    }


KNOWN_STATS = {"name": "mean_std", "input_means": [750.0], "input_stds": [420.0]}
MISSING_STATS = {"name": "mean_std"}


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("nan")


class Clock:
    """Wall and CPU seconds of a block, for this process or the given processes."""

    def __init__(self, pids: Callable[[], list[int]] | None = None) -> None:
        self._meter = CpuMeter(pids)
        self.wall = self.cpu = float("nan")
        self._start = 0.0

    def __enter__(self) -> Clock:
        self._meter.start()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._start
        self.cpu = self._meter.stop()


def record(
    results: dict[str, Any], section: str, name: str, n: int, clock: Clock
) -> None:
    """Store ``n / wall`` under ``section`` and ``n / cpu`` under its CPU twin."""
    results.setdefault(section, {})[name] = rate(n, clock.wall)
    results.setdefault(f"{section} per CPU-s", {})[name] = rate(n, clock.cpu)


def family() -> list[int]:
    """This process and all its descendants (workers, nannies, loader workers)."""
    import psutil  # type: ignore[import-untyped]

    return [os.getpid(), *(c.pid for c in psutil.Process().children(recursive=True))]


# ------------------------------------------------------------------------ reference


def reference_main(args: argparse.Namespace) -> None:
    """Run the reference's measurements (in .venv-ref) and print them as JSON."""
    import resource
    import warnings

    warnings.simplefilter("ignore")
    import careamics  # type: ignore[import-not-found]
    import torch
    from careamics.config.data.data_config import (  # type: ignore[import-not-found]
        DataConfig,
    )
    from careamics.dataset.factory import (  # type: ignore[import-not-found]
        TrainValData,
        create_train_dataset,
    )
    from torch.utils.data import DataLoader

    torch.set_num_threads(1)
    out: dict[str, Any] = {
        "careamics": careamics.__version__,
        "torch": torch.__version__,
    }
    results: dict[str, Any] = {}

    def dataset(store: str, normalization: dict[str, Any]) -> Any:
        config = DataConfig(**config_values(normalization))
        return create_train_dataset(
            config, TrainValData(train_data=[store], val_data=[store]), None
        )

    ds = dataset(args.store, KNOWN_STATS)
    out["patches per epoch"] = len(ds)
    n = args.ref_patches
    order = np.random.default_rng(0).permutation(len(ds))[: n + 8]
    for i in order[:8]:  # warm up: open the store, first reads
        ds[int(i)]
    with Clock() as clock:
        for i in order[8:]:
            ds[int(i)]
    record(results, "reference", "getitem", n, clock)
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=workers)
        batches = iter(loader)
        for _ in range(2 * max(workers, 1)):  # warm up: workers started, stores open
            next(batches)
        with Clock(family) as clock:
            for _ in range(args.ref_batches):
                next(batches)
        record(
            results,
            "reference",
            f"dataloader {workers}",
            args.ref_batches * BATCH,
            clock,
        )
        del batches, loader
    out["lazy peak rss MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del ds

    # automatic mean/std at construction: every patch of an epoch is built
    with Clock() as clock:
        stats_ds = dataset(args.stats_store, MISSING_STATS)
    out["statistics s"] = clock.wall
    out["statistics CPU-s"] = clock.cpu
    norm = stats_ds.config.normalization
    out["statistics"] = [list(norm.input_means), list(norm.input_stds)]
    del stats_ds

    # in memory: the reference takes NumPy arrays (in_memory=True is refused for
    # Zarr); what it holds is measured from before the data is read
    import gc

    import zarr

    gc.collect()
    before = rss_bytes()
    data = zarr.open_array(args.stats_store, path=ARRAY, mode="r")[...]
    config = DataConfig(**config_values(KNOWN_STATS, data_type="array"))
    memory_ds = create_train_dataset(
        config, TrainValData(train_data=[data], val_data=[data]), None
    )
    del data
    gc.collect()
    out["in-memory rss increase MiB"] = (rss_bytes() - before) / MIB
    out["in-memory data MiB"] = int(np.prod(args.stats_shape)) * 2 / MIB
    order = np.random.default_rng(1).permutation(len(memory_ds))[:n]
    with Clock() as clock:
        for i in order:
            memory_ds[int(i)]
    record(results, "reference", "in-memory getitem (stats store)", n, clock)
    out.update(results["reference"])
    out["per CPU-s"] = results["reference per CPU-s"]
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
        "--stats-shape",
        *(str(s) for s in args.stats_shape),
        "--ref-patches",
        str(args.ref_patches),
        "--ref-batches",
        str(args.ref_batches),
    ]
    print("reference: " + " ".join(command[:2]) + " ...", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("REFERENCE-JSON "):
            return dict(json.loads(line.removeprefix("REFERENCE-JSON ")))
    print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
    raise RuntimeError(f"the reference run failed (exit {done.returncode})")


# -------------------------------------------------------------------- careamics_dask


def create(store: str, normalization: dict[str, Any], in_memory: bool = False) -> Any:
    from careamics_dask.config import DataConfig
    from careamics_dask.factory import TrainValData, create_train_dataset

    values = config_values(normalization)
    values["in_memory"] = in_memory
    return create_train_dataset(
        DataConfig(**values), TrainValData(train_data=[store], val_data=[store])
    )


def windowed(
    client: Any,
    submit: Callable[[list[int]], list[Any]],
    batches: list[int],
    group: int,
) -> int:
    """Submit batches in groups, two groups in flight; return the patches received.

    Submitting and gathering a group in one call each (``client.map`` or
    ``client.compute`` of a list, then ``client.gather``) costs the client, and the
    scheduler it hosts, about half the CPU of one call per future.
    """
    pending: deque[list[Any]] = deque()
    received = 0
    for start in range(0, len(batches), group):
        pending.append(submit(batches[start : start + group]))
        if len(pending) >= 2:
            received += sum(len(b[0]) for b in client.gather(pending.popleft()))
    while pending:
        received += sum(len(b[0]) for b in client.gather(pending.popleft()))
    return received


def timed_window(
    client: Any,
    submit: Callable[[list[int]], list[Any]],
    n_batches: int,
    group: int,
) -> tuple[int, Clock]:
    """Patches received over ``n_batches`` (after ``2 * group`` to warm up), timed.

    CPU seconds count this process (client and scheduler) and the workers.
    """
    warm = 2 * group
    windowed(client, submit, list(range(warm)), group)
    with Clock(family) as clock:
        n = windowed(client, submit, list(range(warm, warm + n_batches)), group)
    return n, clock


def orders(ds: Any, epoch: int, patches_per_chunk: int) -> dict[str, Any]:
    """Rows of each sampling mode, as a table in batch order."""
    from careamics_dask.graph.ordering import (
        canonical_chunks,
        chunk_aware_order,
        draw_chunk_aware_table,
    )

    table = ds.patch_table(epoch)
    chunks = [canonical_chunks(s) for s in ds.plan.inputs]
    shuffled = np.random.default_rng(epoch).permutation(len(table))
    drawn = draw_chunk_aware_table(
        ds.input_shapes,
        chunks,
        [PATCH, PATCH],
        patches_per_chunk=patches_per_chunk,
        seed=SEED,
        epoch=epoch,
    )
    return {
        "table order": table,
        "uniform (shuffled)": table.take(shuffled),
        "chunk-aware order": table.take(
            chunk_aware_order(table, chunks, BATCH, seed=SEED, epoch=epoch)
        ),
        f"chunk-aware draw (k={patches_per_chunk})": drawn.take(
            chunk_aware_order(drawn, chunks, BATCH, seed=SEED, epoch=epoch)
        ),
    }


def batch_rows(table: Any, index: int) -> tuple[Any, Any]:
    indices = np.arange(index * BATCH, (index + 1) * BATCH, dtype=np.int64)
    return table.take(indices), indices


def diversity(
    ds: Any, tables: dict[str, Any], patches_per_chunk: int, epochs: int = 8
) -> dict[str, dict[str, float]]:
    """Chunks per batch, batch composition, and positions against uniform.

    The position histogram (16 x 16 cells of the start range) pools ``epochs``
    epochs, so that correlated draws (groups of patches in one chunk) average out
    and what remains is bias; uniform random gives the noise floor.
    """
    from careamics_dask.graph.ordering import canonical_chunks, count_touched_chunks

    chunks = [canonical_chunks(s) for s in ds.plan.inputs]
    shapes = ds.input_shapes
    starts = shapes[0][-1] - PATCH + 1
    edges = np.linspace(0, starts, 17).round()
    cells = np.outer(np.diff(edges), np.diff(edges)) / starts**2
    histograms = {name: np.zeros((16, 16)) for name in tables}
    for epoch in range(epochs):
        for name, table in orders(ds, 100 + epoch, patches_per_chunk).items():
            histograms[name] += np.histogram2d(
                table.coords[:, 0], table.coords[:, 1], bins=(edges, edges)
            )[0]
    out: dict[str, dict[str, float]] = {}
    for name, table in tables.items():
        n = len(table) // BATCH * BATCH
        touched = count_touched_chunks(table[:n], chunks, BATCH, shapes)
        samples = table.sample_idx[:n].reshape(-1, BATCH)
        coords = table.coords[:n].reshape(-1, BATCH, 2).astype(float)
        expected = histograms[name].sum() * cells
        out[name] = {
            "chunks per batch": float(touched.mean()),
            "chunks per patch": float(touched.mean() / BATCH),
            "samples per batch": float(
                np.mean([len(np.unique(row)) for row in samples])
            ),
            # within-batch standard deviation of patch starts (pixels, per axis)
            "position spread in batch (px)": float(coords.std(axis=1).mean()),
            f"position histogram max deviation ({epochs} epochs)": float(
                np.abs(histograms[name] / expected - 1).max()
            ),
        }
    return out


def bench_ours(
    args: argparse.Namespace, results: dict[str, Any], reading: PeakMemory
) -> None:
    from distributed import Client, LocalCluster

    from careamics_dask.graph.batch import build_batch

    ours: dict[str, Any] = results.setdefault("ours", {})
    start = time.perf_counter()
    ds = create(args.store, KNOWN_STATS)
    ours["construction s (statistics given)"] = time.perf_counter() - start
    ours["patches per epoch"] = len(ds)
    k = args.patches_per_chunk
    epoch = 1
    tables = orders(ds, epoch, k)

    # in this process
    n = args.batches
    ds.batch(0, epoch)
    with Clock() as clock:
        for index in range(1, n + 1):
            ds.batch(index, epoch)
    record(results, "ours", "dataset.batch(i), in process", n * BATCH, clock)
    # the configured backend (TensorStore where installed), then zarr-python alone
    zarr_python = dataclasses.replace(ds.plan, backend="zarr")
    for plan, suffix in ((ds.plan, ""), (zarr_python, " (zarr-python)")):
        for name, table in tables.items():
            if name == "table order":
                continue
            count = n if name.startswith("uniform") else 3 * n
            build_batch(plan, *batch_rows(table, 0), epoch)
            with Clock() as clock:
                for index in range(1, count + 1):
                    build_batch(plan, *batch_rows(table, index), epoch)
            record(results, "ours", f"{name}, in process{suffix}", count * BATCH, clock)

    # threads of this process: the local BatchStream (no cluster), and a pool of
    # two threads over chunk-aware draws; zstd decoding and file reads release the
    # GIL, so two threads use both cores
    bench_threads(args, results, ds, tables, epoch)

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            processes=True,
        ) as cluster,
        Client(cluster) as client,
    ):
        worker_pids = list(client.run(os.getpid).values())
        with PeakMemory(lambda: worker_pids) as workers_peak:
            group = args.window // 2
            start = time.perf_counter()
            tasks = ds.batch_tasks(epoch)
            ours["batch_tasks graph build s"] = time.perf_counter() - start
            count = min(len(tasks) - 2 * group, args.cluster_batches)
            received, clock = timed_window(
                client,
                lambda ids: client.compute([tasks[i] for i in ids]),
                count,
                group,
            )
            record(
                results, "ours", "cluster: batch_tasks (table order)", received, clock
            )
            plan = client.scatter(ds.plan, broadcast=True)
            for name, table in tables.items():
                many = args.cluster_batches * (1 if "chunk-aware" not in name else 3)
                count = min(len(table) // BATCH - 2 * group, many)

                def submit(ids: list[int], table: Any = table) -> list[Any]:
                    rows = [batch_rows(table, i) for i in ids]
                    return client.map(  # type: ignore[no-any-return]
                        build_batch,
                        [plan] * len(ids),
                        [r[0] for r in rows],
                        [r[1] for r in rows],
                        [epoch] * len(ids),
                        pure=False,
                    )

                received, clock = timed_window(client, submit, count, group)
                record(results, "ours", f"cluster: {name}", received, clock)
            # statistics on the cluster, on the reference's store
            with Clock(family) as clock:
                create(args.stats_store, MISSING_STATS)
            ours["statistics s, stats store, cluster"] = clock.wall
            ours["statistics CPU-s, stats store, cluster"] = clock.cpu
        ours["workers peak rss MiB (sum of 2)"] = workers_peak.peak / MIB
    results["memory"]["client peak rss MiB, batches"] = reading.peak / MIB


def bench_threads(
    args: argparse.Namespace,
    results: dict[str, Any],
    ds: Any,
    tables: dict[str, Any],
    epoch: int,
) -> None:
    """Batches built by threads of this process (what a single-machine user gets)."""
    from concurrent.futures import ThreadPoolExecutor

    from careamics_dask.feeding import BatchStream
    from careamics_dask.graph.batch import build_batch

    threads = os.cpu_count() or 1
    for local in ("threads", "processes"):
        for label, kwargs in (
            (f"uniform (shuffled), BatchStream {local}", {"shuffle": True}),
            (f"chunk-aware order, BatchStream {local}", {"chunk_aware": True}),
            (
                f"chunk-aware draw (k=32), BatchStream {local}",
                {"chunk_aware": "draw"},
            ),
        ):
            many = args.batches * (1 if "uniform" in label else 3)
            stream = BatchStream(ds, None, prefetch=2 * threads, local=local, **kwargs)
            batches = iter(stream)
            for _ in range(8):  # warm up: workers started, first chunks read
                next(batches)
            with Clock(family) as clock:
                received = sum(len(next(batches).input) for _ in range(many))
            batches.close()  # type: ignore[attr-defined]
            record(results, "ours", label, received, clock)
    name = next(k for k in tables if k.startswith("chunk-aware draw"))
    table = tables[name]
    count = 3 * args.batches

    def one(index: int) -> int:
        return len(build_batch(ds.plan, *batch_rows(table, index), epoch)[0])

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(2 * threads)))
        with Clock() as clock:
            received = sum(pool.map(one, range(2 * threads, 2 * threads + count)))
    record(results, "ours", f"{name}, {threads} threads", received, clock)
    # the same draws on local processes (what BatchStream(local="processes") runs)
    from careamics_dask.feeding.process_executor import LocalProcesses

    with LocalProcesses(threads, build_batch, ds.plan) as processes:
        rows = [batch_rows(table, i) for i in range(count + 4 * threads)]
        warm = [processes.submit(*r, epoch) for r in rows[: 4 * threads]]
        for ticket in warm:
            processes.result(ticket)
        with Clock(family) as clock:
            window: deque[Any] = deque()
            received = 0
            for r in rows[4 * threads :]:  # a window of 4 per process, in order
                window.append(processes.submit(*r, epoch))
                if len(window) >= 4 * threads:
                    received += len(processes.result(window.popleft())[0])
            received += sum(len(processes.result(t)[0]) for t in window)
    record(results, "ours", f"{name}, {threads} processes", received, clock)


def bench_statistics(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Dataset construction with mean/std missing, on the local threaded scheduler."""
    import dask

    ours = results["ours"]
    with dask.config.set(scheduler="threads", num_workers=2):
        for label, store in (("stats", args.stats_store), ("whole", args.store)):
            with Clock() as clock:
                stats_ds = create(store, MISSING_STATS)
            ours[f"statistics s, {label} store, threads"] = clock.wall
            ours[f"statistics CPU-s, {label} store, threads"] = clock.cpu
            norm = stats_ds.config.normalization
            ours[f"statistics, {label} store"] = [
                list(norm.input_means),
                list(norm.input_stds),
            ]


# -------------------------------------------------------------------------- baselines


def _decode_files(paths: list[str]) -> tuple[int, float]:
    """Read and zstd-decode chunk files; return decoded bytes and CPU seconds."""
    import numcodecs  # type: ignore[import-untyped]

    start = time.process_time()
    codec = numcodecs.Zstd()
    total = 0
    for path in paths:
        total += len(codec.decode(Path(path).read_bytes()))
    return total, time.process_time() - start


def _moments_of_files(paths: list[str]) -> tuple[int, float, float]:
    """Pixel count, sum and sum of squares of every chunk file (raw statistics)."""
    import numcodecs

    codec = numcodecs.Zstd()
    count, total, squares = 0, 0.0, 0.0
    for path in paths:
        pixels = np.frombuffer(codec.decode(Path(path).read_bytes()), np.uint16)
        values = pixels.astype(np.float64)
        count += values.size
        total += float(values.sum())
        squares += float(np.square(values).sum())  # no BLAS: no thread pools
    return count, total, squares


def chunk_files(store: str) -> list[str]:
    return sorted(str(p) for p in Path(store, ARRAY, "c").rglob("*") if p.is_file())


def bench_baselines(args: argparse.Namespace, results: dict[str, Any]) -> None:
    import dask
    import dask.array as da
    import zarr

    base: dict[str, Any] = results.setdefault("baselines", {})
    per_patch = results["diversity"]["uniform (shuffled)"]["chunks per patch"]
    files = chunk_files(args.store)
    with Clock() as clock:
        one, _ = _decode_files(files[:1000])
    record(results, "baselines", "raw decode, 1 process: chunks/s", 1000, clock)
    base["raw decode, 1 process: MiB/s"] = one / MIB / clock.wall
    with ProcessPoolExecutor(2) as pool:
        start = time.perf_counter()
        parts = list(pool.map(_decode_files, [files[i::8] for i in range(8)]))
        seconds = time.perf_counter() - start
    nbytes, cpu = sum(p[0] for p in parts), sum(p[1] for p in parts)
    base["raw decode, every chunk, 2 processes: chunks/s"] = rate(len(files), seconds)
    base["raw decode, every chunk, 2 processes: MiB/s"] = nbytes / MIB / seconds
    base["raw decode limit, 2 processes: patches/s"] = (
        rate(len(files), seconds) / per_patch
    )
    results["baselines per CPU-s"]["raw decode limit: patches"] = (
        rate(len(files), cpu) / per_patch
    )
    with ProcessPoolExecutor(2) as pool:
        stats_files = chunk_files(args.stats_store)
        start = time.perf_counter()
        moments = list(
            pool.map(_moments_of_files, [stats_files[i::8] for i in range(8)])
        )
        base["raw mean/std (decode + sums, 2 processes), stats store s"] = (
            time.perf_counter() - start
        )
    count, total, squares = (sum(p[i] for p in moments) for i in range(3))
    mean = total / count
    base["raw mean/std, stats store"] = [mean, (squares / count - mean**2) ** 0.5]

    array = zarr.open_array(args.store, path=ARRAY, mode="r")
    rng = np.random.default_rng(3)
    n_samples, side = array.shape[0], array.shape[-1]

    def random_patch() -> tuple[int, int, int]:
        y, x = rng.integers(0, side - PATCH + 1, 2)
        return int(rng.integers(n_samples)), int(y), int(x)

    picks = [random_patch() for _ in range(args.batches * 4)]
    with Clock() as clock:
        for s, y, x in picks:
            array[s, y : y + PATCH, x : x + PATCH]
    record(
        results,
        "baselines",
        "zarr-python slicing, one patch per call",
        len(picks),
        clock,
    )

    lazy = da.from_zarr(args.store, component=ARRAY)
    tasks = []
    with Clock() as clock:
        for _ in range(args.naive_batches):
            patches = [
                lazy[s, y : y + PATCH, x : x + PATCH]
                for s, y, x in (random_patch() for _ in range(BATCH))
            ]
            batch = da.stack(patches)
            tasks.append(len(dict(batch.__dask_graph__())))
            with dask.config.set(scheduler="threads", num_workers=2):
                batch.compute()
    record(
        results,
        "baselines",
        "naive dask.array slicing + da.stack",
        args.naive_batches * BATCH,
        clock,
    )
    base["naive dask.array: tasks per batch"] = float(np.mean(tasks))


def _held_bytes(dask_worker: Any) -> int:
    """Bytes of the arrays a worker holds in its data store (runs on workers)."""
    return sum(getattr(value, "nbytes", 0) for value in dask_worker.data.values())


def in_memory_main(args: argparse.Namespace) -> None:
    """``in_memory=True`` on a fresh client and cluster; print JSON."""
    import dask
    from distributed import Client, LocalCluster

    out: dict[str, Any] = {}
    # as get_client's embedded cluster: copies no task needs are dropped within 250 ms
    dask.config.set({"distributed.scheduler.active-memory-manager.interval": "250ms"})
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        pids = list(client.run(os.getpid).values())
        from careamics_dask.feeding import BatchStream

        # warm up: the same batches lazily, and a 2 MiB store in memory through the
        # same stream, so imports, handles, the workers' connections to each other
        # and their threads are counted out; what remains is what the data costs
        lazy = create(args.stats_store, KNOWN_STATS).batch_tasks(0)
        windowed(client, lambda ids: client.compute([lazy[i] for i in ids]), [0, 1], 2)
        small = ensure_store(
            Path(args.stats_store).with_name("bench-1x1024.zarr"), (1, 1024, 1024)
        )
        warm = BatchStream(create(str(small), KNOWN_STATS, in_memory=True), client)
        for _ in zip(range(16), warm, strict=False):
            pass
        del warm
        workers_before = sum(rss_bytes(p) for p in pids)
        client_before = rss_bytes()

        with PeakMemory() as client_peak, PeakMemory(lambda: pids) as workers_peak:
            ds = create(args.stats_store, KNOWN_STATS, in_memory=True)
            # the feeding path: in-memory stacks go to the workers once, as tiles
            batches = iter(BatchStream(ds, client, prefetch=8))
            managed = []  # what distributed holds (tiles, and any copy of one)
            next(batches)  # the tiles are scattered before the first batch
            start = time.perf_counter()
            for index in range(1, 128):
                next(batches)
                if index % 8 == 0:
                    managed.append(sum(client.run(_held_bytes).values()))
            out["stream patches/s (with samples)"] = (
                127 * BATCH / (time.perf_counter() - start)
            )
            out["batches"] = 128
            batches.close()  # type: ignore[attr-defined]
        out["workers managed MiB, peak of samples"] = max(managed) / MIB
        out["workers managed MiB, last sample"] = managed[-1] / MIB
        out["data MiB"] = int(np.prod(args.stats_shape)) * 2 / MIB
        out["client rss increase MiB"] = (client_peak.peak - client_before) / MIB
        out["workers rss increase MiB"] = (workers_peak.peak - workers_before) / MIB
        out["workers rss increase after MiB"] = (
            sum(rss_bytes(p) for p in pids) - workers_before
        ) / MIB
    print("IN-MEMORY-JSON " + json.dumps(out), flush=True)


def client_main(args: argparse.Namespace) -> None:
    """A user's client in a fresh process: its peak RSS over a real training feed.

    An embedded ``LocalCluster`` (2 workers x 1 thread, scheduler in this process)
    computes the statistics of the whole store at construction, then a
    ``BatchStream`` delivers shuffled batches; nothing of the harness (extra epoch
    tables, ``batch_tasks`` lists) is in this process.
    """
    from distributed import Client, LocalCluster

    from careamics_dask.feeding import BatchStream

    out: dict[str, Any] = {}
    with (
        PeakMemory() as peak,
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        start = time.perf_counter()
        ds = create(args.store, MISSING_STATS)
        out["statistics on the cluster s"] = time.perf_counter() - start
        out["after statistics MiB"] = rss_bytes() / MIB
        batches = iter(BatchStream(ds, client, prefetch=8))
        start = time.perf_counter()
        out["batches"] = sum(
            1 for _, _ in zip(range(args.client_batches), batches, strict=False)
        )
        out["stream patches/s"] = out["batches"] * BATCH / (time.perf_counter() - start)
        batches.close()  # type: ignore[attr-defined]
    out["peak rss MiB"] = peak.peak / MIB
    print("CLIENT-JSON " + json.dumps(out), flush=True)


def _subprocess_json(args: argparse.Namespace, flag: str, tag: str) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        flag,
        "--store",
        args.store,
        "--stats-store",
        args.stats_store,
        "--stats-shape",
        *(str(s) for s in args.stats_shape),
        "--client-batches",
        str(args.client_batches),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(f"{tag} "):
            return dict(json.loads(line.removeprefix(f"{tag} ")))
    print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
    return {"error": f"exit {done.returncode}"}


def run_in_memory(args: argparse.Namespace) -> dict[str, Any]:
    return _subprocess_json(args, "--as-in-memory", "IN-MEMORY-JSON")


def run_client(args: argparse.Namespace) -> dict[str, Any]:
    return _subprocess_json(args, "--as-client", "CLIENT-JSON")


# ---------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    import psutil
    import zarr

    from careamics_dask.runtime import get_option

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory GiB": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "zarr": zarr.__version__,
        "numcodecs": version("numcodecs"),
        "dask": version("dask"),
        "distributed": version("distributed"),
        "tensorstore": _version_or_none("tensorstore"),
        "batching.backend": str(get_option("batching.backend")),
    }


def _version_or_none(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _best(rows: dict[str, Any], keep: Callable[[str], bool]) -> tuple[str, float]:
    name = max((k for k in rows if keep(k)), key=lambda k: rows[k])
    return name, float(rows[name])


def _ratio_goal(
    results: dict[str, Any], label: str, keep: Callable[[str], bool], goal: float
) -> list[tuple[str, str, bool]]:
    """A throughput goal, on wall-clock rates and on work per CPU second."""
    out = []
    rates = results["ours per CPU-s"]  # rates only (no times or counts)
    for suffix, unit in (("", "patches/s"), (" per CPU-s", "patches per CPU-s")):
        ref = results[f"reference{suffix}"]
        ref_name, best = _best(ref, lambda k: k in REFERENCE_LAZY)
        name, ours = _best(results[f"ours{suffix}"], lambda k: k in rates and keep(k))
        out.append(
            (
                f"{label} >= {goal:.0f}x reference best ({unit})",
                f"{ours:,.0f} ({name}) / {best:,.0f} ({ref_name}) = {ours / best:.1f}x",
                ours / best >= goal,
            )
        )
    return out


REFERENCE_LAZY = ("getitem", "dataloader 0", "dataloader 2")


def goals(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    ref, ours = results["reference"], results["ours"]
    stats_key = min(
        ("statistics s, stats store, cluster", "statistics s, stats store, threads"),
        key=lambda k: ours[k],
    )
    stats = ref["statistics s"] / ours[stats_key]
    stats_cpu = ref["statistics CPU-s"] / ours[stats_key.replace(" s,", " CPU-s,")]
    scale = results["store"]["GiB"] / results["store"]["statistics store GiB"]
    whole = ours["statistics s, whole store, threads"]
    user = results.get("user client", {})
    client = user.get("peak rss MiB", float("nan"))
    memory = results.get("in memory", {})
    in_cluster = memory.get("workers rss increase MiB", float("nan"))
    at_rest = memory.get("workers rss increase after MiB", float("nan"))
    managed = memory.get("workers managed MiB, peak of samples", float("nan"))
    data = memory.get("data MiB", float("nan"))
    return [
        *_ratio_goal(results, "(1) uniform", lambda k: "uniform" in k, 4),
        *_ratio_goal(results, "(2) chunk-aware", lambda k: "chunk-aware" in k, 20),
        (
            "(3) statistics >= 30x (same store, wall)",
            f"{ref['statistics s']:.1f} s / {ours[stats_key]:.2f} s "
            f"({stats_key.rsplit(', ', 1)[1]}) = {stats:.0f}x",
            stats >= 30,
        ),
        (
            "(3) statistics >= 30x (same store, CPU)",
            f"{stats_cpu:.0f}x",
            stats_cpu >= 30,
        ),
        (
            "(3b) statistics, whole store, vs reference scaled linearly",
            f"{ref['statistics s'] * scale:.0f} s (est.) / {whole:.1f} s = "
            f"{ref['statistics s'] * scale / whole:.0f}x",
            ref["statistics s"] * scale / whole >= 30,
        ),
        (
            "(4a) client peak RSS < 600 MiB (fresh process with the scheduler: "
            "statistics on the cluster, then a BatchStream)",
            f"{client:.0f} MiB (harness process: "
            f"{results['memory']['client peak rss MiB']:.0f} MiB)",
            client < 600,
        ),
        (
            "(4b) in_memory=True cluster memory <= data size",
            f"workers +{in_cluster:.0f} MiB RSS at peak, +{at_rest:.0f} MiB after; "
            f"distributed holds {managed:.0f} MiB at most (tiles and any "
            f"copies) for {data:.0f} MiB of data",
            in_cluster <= data * 1.1,
        ),
    ]


def print_report(results: dict[str, Any]) -> None:
    def table(title: str, rows: dict[str, Any], unit: str = "") -> None:
        print(f"\n{title}")
        width = max(len(k) for k in rows) + 2
        for key, value in rows.items():
            if isinstance(value, float):
                text = f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
            else:
                text = str(value)
            print(f"  {key.ljust(width)}{text} {unit}".rstrip())

    table("machine", results["machine"])
    table("store", results["store"])
    table("reference (CAREamics), patches/s unless stated", results["reference"])
    table("reference, patches per CPU second", results["reference per CPU-s"])
    table("careamics_dask, patches/s unless stated", results["ours"])
    table("careamics_dask, patches per CPU second", results["ours per CPU-s"])
    table("baselines, patches/s unless stated", results["baselines"])
    table("baselines, patches per CPU second", results["baselines per CPU-s"])
    for name, rows in results["diversity"].items():
        table(f"sample diversity: {name}", rows)
    table("memory", results["memory"])
    table("in_memory=True (fresh process, statistics store)", results["in memory"])
    table("a user's client (fresh process, whole store)", results["user client"])
    print("\ngoals (ratios in this run)")
    for name, text, met in goals(results):
        print(f"  {'MET ' if met else 'MISSED'}  {name}: {text}")


# ------------------------------------------------------------------------------ main


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gib", type=float, default=4.0, help="store size")
    parser.add_argument(
        "--stats-size-gib",
        type=float,
        default=0.5,
        help="store for the reference's statistics (it builds every patch)",
    )
    parser.add_argument("--quick", action="store_true", help="0.5 GiB, fewer batches")
    parser.add_argument(
        "--store-dir", default="/tmp/careamics_dask_bench", help="where stores live"
    )
    parser.add_argument("--ref-python", default=str(REPO / ".venv-ref/bin/python"))
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument(
        "--window", type=int, default=16, help="futures in flight (two groups)"
    )
    parser.add_argument(
        "--patches-per-chunk", type=int, default=32, help="chunk-aware draws"
    )
    parser.add_argument("--batches", type=int, default=200, help="in-process batches")
    parser.add_argument("--cluster-batches", type=int, default=400)
    parser.add_argument("--ref-patches", type=int, default=2000)
    parser.add_argument("--ref-batches", type=int, default=64)
    parser.add_argument("--naive-batches", type=int, default=3)
    parser.add_argument("--as-reference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--as-in-memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--as-client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--client-batches", type=int, default=400, help="batches of the client run"
    )
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--stats-store", help=argparse.SUPPRESS)
    parser.add_argument("--stats-shape", type=int, nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.size_gib = min(args.size_gib, 0.5)
        args.stats_size_gib = min(args.stats_size_gib, 0.0625)
        args.batches, args.cluster_batches = 60, 120
        args.ref_patches, args.ref_batches, args.naive_batches = 500, 16, 1
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.as_reference:
        reference_main(args)
        return
    if args.as_in_memory:
        in_memory_main(args)
        return
    if args.as_client:
        client_main(args)
        return
    directory = Path(args.store_dir)
    directory.mkdir(parents=True, exist_ok=True)
    shape = store_shape(args.size_gib)
    args.stats_shape = list(store_shape(args.stats_size_gib))
    args.store = str(
        ensure_store(directory / f"bench-{shape[0]}x{shape[1]}.zarr", shape)
    )
    args.stats_store = str(
        ensure_store(
            directory / f"bench-{args.stats_shape[0]}x{args.stats_shape[1]}.zarr",
            (args.stats_shape[0], args.stats_shape[1], args.stats_shape[2]),
        )
    )
    # every run reads from the page cache (the machine has the memory): reading
    # every chunk file once first keeps disk speed, and what earlier benchmarks
    # evicted, out of the figures
    warm = time.perf_counter()
    for store in (args.store, args.stats_store):
        for path in chunk_files(store):
            with open(path, "rb", buffering=0) as file:
                file.read()
    results: dict[str, Any] = {
        "page cache warm-up s": round(time.perf_counter() - warm, 1),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "store": {
            "shape": str(tuple(shape)),
            "GiB": round(float(np.prod(shape)) * 2 / 2**30, 3),
            "chunks": "(1, 256, 256) zstd level 3",
            "statistics store shape": str(tuple(args.stats_shape)),
            "statistics store GiB": round(
                float(np.prod(args.stats_shape)) * 2 / 2**30, 3
            ),
        },
    }
    import psutil

    started = time.perf_counter()
    busy = psutil.cpu_times()
    if not args.no_reference:
        reference = run_reference(args)
        results["reference per CPU-s"] = reference.pop("per CPU-s")
        results["reference"] = reference
    results["memory"] = {}
    # sample diversity first: its many epoch tables are the harness's, not a client's
    ds = create(args.store, KNOWN_STATS)
    k = args.patches_per_chunk
    results["diversity"] = diversity(ds, orders(ds, 1, k), k)
    del ds
    gc.collect()
    with PeakMemory() as reading:
        bench_ours(args, results, reading)
    with PeakMemory() as statistics_peak:
        bench_statistics(args, results)
    results["memory"]["client peak rss MiB, statistics"] = statistics_peak.peak / MIB
    results["memory"]["client peak rss MiB"] = (
        max(reading.peak, statistics_peak.peak) / MIB
    )
    bench_baselines(args, results)
    results["in memory"] = run_in_memory(args)
    results["user client"] = run_client(args)
    after = psutil.cpu_times()
    wall = time.perf_counter() - started
    used = sum(after) - after.idle - (sum(busy) - busy.idle)
    results["machine"]["busy cores (all processes, mean)"] = round(used / wall, 2)
    results["machine"]["load average (1 min) at end"] = round(os.getloadavg()[0], 2)
    results["machine"]["benchmark wall s"] = round(wall, 1)
    if "reference" in results:
        print_report(results)
    else:
        print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
