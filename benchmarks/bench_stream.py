"""Stream benchmark: does a BatchStream keep a training loop busy?

A simulated training step (``time.sleep(STEP)``, 20 ms by default) consumes batches
from a :class:`careamics_dask.BatchStream` on an embedded ``get_client()`` cluster of
two worker processes, reading random 64 x 64 patches (batches of 32) from a synthetic
uint16 Zarr v3 store with 256 x 256 chunks (zstd). For each prefetch depth it reports
the fraction of wall time spent in the training step (goal: at least 95 %), batches/s,
patches/s, the consumer's wait per batch (p50 / p95 / max, after a warm-up), the wait
for the first batch and the client's peak RSS. A free-running pass (no training step)
gives the stream's capacity at each depth; ``--torch`` also consumes through
``careamics_dask.torch.make_dataloader``.

    .venv/bin/python benchmarks/bench_stream.py                 # 0.5 GiB store
    .venv/bin/python benchmarks/bench_stream.py --size-gib 2 --prefetch 4 8
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from _common import ARRAY, PeakMemory, ensure_store, store_shape

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from careamics_dask.factory import CareamicsDataset


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=0.5, help="store size")
    parser.add_argument("--store", type=Path, default=None, help="store location")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "careamics-dask-bench",
        help="where the store is written once (unless --store)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write results here")
    parser.add_argument(
        "--quick", action="store_true", help="prefetch 4 and 8, fewer batches"
    )
    parser.add_argument("--prefetch", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--step-ms", type=float, default=20.0)
    parser.add_argument("--batches", type=int, default=400, help="measured batches")
    parser.add_argument("--warmup", type=int, default=16, help="unmeasured batches")
    parser.add_argument("--capacity-batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--torch", action="store_true", help="also via DataLoader")
    parser.add_argument(
        "--order",
        choices=["shuffle", "chunk-aware"],
        default="shuffle",
        help="shuffle: BatchStream as it is; chunk-aware: a benchmark-only prototype "
        "whose epochs follow graph.ordering.chunk_aware_order",
    )
    parser.add_argument(
        "--background",
        type=int,
        default=0,
        help="N > 0: a benchmark-only prototype that iterates the stream in a thread "
        "and hands the training loop batches from a queue of N ready ones",
    )
    args = parser.parse_args()
    if args.quick:
        args.prefetch = [4, 8]
        args.batches, args.capacity_batches = 150, 100
    return args


def build_dataset(root: Path, args: argparse.Namespace) -> CareamicsDataset:
    from careamics_dask.config import DataConfig
    from careamics_dask.factory import create_dataset

    config = DataConfig(
        mode="training",
        data_type="zarr",
        axes="SYX",
        patching={"name": "random", "patch_size": [args.patch, args.patch]},
        # fixed statistics: the benchmark is about streaming, not the reductions
        normalization={"name": "mean_std", "input_means": [900], "input_stds": [400]},
        batch_size=args.batch_size,
        seed=7,
    )
    return create_dataset(config, root / ARRAY, None)


def consume(
    batches: Iterable[Any], n: int, warmup: int, step: float
) -> dict[str, float]:
    """Pull ``warmup + n`` batches, sleeping ``step`` after each; time the last n."""
    iterator = iter(batches)
    waits: list[float] = []
    busy = 0.0
    start = time.perf_counter()
    next(iterator)
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        next(iterator)
        time.sleep(step)
    start = time.perf_counter()
    for _ in range(n):
        before = time.perf_counter()
        next(iterator)
        after = time.perf_counter()
        waits.append(after - before)
        if step:
            time.sleep(step)
            busy += time.perf_counter() - after
    wall = time.perf_counter() - start
    close = getattr(iterator, "close", None)
    if callable(close):
        close()
    ms = np.asarray(waits) * 1e3
    return {
        "busy": busy / wall,
        "batches/s": n / wall,
        "first": first * 1e3,
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "max": float(ms.max()),
        "mean": statistics.fmean(ms.tolist()),
    }


def run(
    dataset: CareamicsDataset,
    client: Any,
    prefetch: int,
    args: argparse.Namespace,
    *,
    step: float,
    n: int,
    through_torch: bool = False,
) -> dict[str, float]:
    from careamics_dask.feeding import BatchStream

    kind = BatchStream if args.order == "shuffle" else chunk_aware_stream()
    stream = kind(dataset, client, prefetch=prefetch, shuffle=True)
    if n + args.warmup > len(stream):
        raise SystemExit(
            f"--batches + --warmup must fit one epoch: expected at most "
            f"{len(stream)}, got {n + args.warmup}. Use a bigger --size-gib."
        )
    source: Iterable[Any] = stream
    if through_torch:
        from careamics_dask.torch import make_dataloader

        source = make_dataloader(stream)
    workers = sorted(client.run(os.getpid).values())
    cpu_before = cpu_seconds([os.getpid()]), cpu_seconds(workers)
    if args.background:
        source = in_background(source, args.background)
    with PeakMemory() as memory:  # the client process
        result = consume(source, n, args.warmup, step)
    pulled = n + args.warmup
    result["client cpu"] = (cpu_seconds([os.getpid()]) - cpu_before[0]) / pulled
    result["worker cpu"] = (cpu_seconds(workers) - cpu_before[1]) / pulled
    result["patches/s"] = result["batches/s"] * args.batch_size
    result["client MiB"] = memory.peak / 2**20
    return result


def in_background(batches: Iterable[Any], depth: int) -> Iterator[Any]:
    """Iterate ``batches`` in a thread; yield them from a queue of ``depth`` ready.

    The stream's per-batch client work (submitting the next task, fetching a result
    from its worker) then overlaps the training step instead of following it.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def pump() -> None:
        iterator = iter(batches)
        try:
            for batch in iterator:
                while not stop.is_set():
                    try:
                        ready.put(batch, timeout=0.05)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as error:  # handed to the consumer
            ready.put(error)
        finally:
            close = getattr(iterator, "close", None)
            if callable(close):
                close()
            ready.put(end)

    thread = threading.Thread(target=pump, name="bench-stream-pump", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)
        thread.join()


def chunk_aware_stream() -> type[Any]:
    """A BatchStream whose epochs follow ``chunk_aware_order`` (prototype, one rank).

    Only the order changes: each batch's rows are neighbours in storage, the batches
    are shuffled per (seed, epoch), and every patch of the epoch still comes once.
    """
    from careamics_dask.feeding import BatchStream
    from careamics_dask.graph.ordering import canonical_chunks, chunk_aware_order

    class ChunkAwareStream(BatchStream):
        def epoch_order(self, epoch: int) -> list[np.ndarray]:
            table = self.dataset.patch_table(epoch)
            chunks = [canonical_chunks(s) for s in self.dataset.plan.inputs]
            size = self.dataset.batch_size
            order = chunk_aware_order(table, chunks, size, seed=self.seed, epoch=epoch)
            return [order[i : i + size] for i in range(0, len(order), size)]

    return ChunkAwareStream


def cpu_seconds(pids: list[int]) -> float:
    """Return the user + system CPU seconds of some processes."""
    import psutil

    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import dask
    import distributed
    import zarr

    return (
        f"{os.cpu_count()} cores ({model or platform.processor()}), "
        f"Python {platform.python_version()}, NumPy {np.__version__}, "
        f"dask {dask.__version__}, distributed {distributed.__version__}, "
        f"zarr {zarr.__version__}"
    )


def report(title: str, rows: list[tuple[str, dict[str, float]]]) -> None:
    print(f"\n{title}")
    print(
        "| prefetch | in training step | batches/s | patches/s | wait p50 ms "
        "| wait p95 ms | wait max ms | first batch ms | CPU ms/batch: workers "
        "| client + scheduler | client peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(
            f"| {name} | {r['busy'] * 100:.1f} % | {r['batches/s']:.1f} "
            f"| {r['patches/s']:,.0f} | {r['p50']:.2f} | {r['p95']:.2f} "
            f"| {r['max']:.1f} | {r['first']:.0f} | {r['worker cpu'] * 1e3:.1f} "
            f"| {r['client cpu'] * 1e3:.1f} | {r['client MiB']:.0f} |"
        )


def main() -> None:
    args = parse_args()
    from careamics_dask.feeding import get_client

    shape = store_shape(args.size_gib)
    root = (
        args.store or args.cache_dir / f"stream-{shape[0]}x{shape[1]}x{shape[2]}.zarr"
    )
    ensure_store(root, shape)
    dataset = build_dataset(root, args)
    step = args.step_ms / 1e3
    print(f"machine: {machine()}")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    results: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "quick": args.quick,
        "machine": machine(),
        "load average before": os.getloadavg()[0],
        "store": {"shape": list(shape), "path": str(root)},
        "settings": {
            "patch": args.patch,
            "batch": args.batch_size,
            "workers": args.workers,
            "step ms": args.step_ms,
            "batches": args.batches,
            "warmup": args.warmup,
            "order": args.order,
            "background": args.background,
        },
    }
    print(
        f"store {root} {shape} uint16, chunks 256x256 zstd; {len(dataset):,} "
        f"patches of {args.patch}x{args.patch} per epoch, batches of "
        f"{args.batch_size}; {args.workers} workers x 1 thread; step "
        f"{args.step_ms:g} ms; {args.batches} measured batches after "
        f"{args.warmup} warm-up; order {args.order}; background queue "
        f"{args.background or 'off'}"
    )
    with get_client(n_workers=args.workers, threads_per_worker=1) as client:
        print(f"dashboard: {client.dashboard_link}")
        run(dataset, client, 4, args, step=0, n=32)  # warm the workers' imports
        rows = [
            (str(p), run(dataset, client, p, args, step=step, n=args.batches))
            for p in args.prefetch
        ]
        report(f"Training step {args.step_ms:g} ms", rows)
        results["step"] = dict(rows)
        if args.torch:
            deepest = max(args.prefetch)
            torch_row = run(
                dataset,
                client,
                deepest,
                args,
                step=step,
                n=args.batches,
                through_torch=True,
            )
            report("Through make_dataloader", [(f"{deepest} (torch)", torch_row)])
            results["step"][f"{deepest}, make_dataloader"] = torch_row
        capacity = [
            (str(p), run(dataset, client, p, args, step=0, n=args.capacity_batches))
            for p in args.prefetch
        ]
        report("Free-running (no training step): the stream's capacity", capacity)
        results["capacity"] = dict(capacity)
    print("\nload average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    results["load average after"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
