"""Scale: a store larger than memory, throughput per worker, graph size, first batch.

Parts (``--parts``, all by default; ``ltm`` only with ``--ltm`` or ``--parts ltm``):

- ``graph``: dataset construction (statistics given), ``patch_table(epoch)``,
  ``batch_tasks(epoch)`` and ``to_dask(epoch)`` for 10^4 ... 10^7 random 64 x 64
  patches (batches of 32), on metadata-only Zarr stores (no chunk written: building
  reads no pixel, so the stores need none). Tasks per epoch and microseconds per
  batch show that building grows linearly with batches.
- ``overhead``: the scheduler's cost per task (many no-op tasks on a 2-worker
  ``LocalCluster``): tasks/s and client + scheduler CPU per task.
- ``workers``: patches/s of a ``BatchStream`` (64 x 64 patches, batches of 32,
  shuffled and chunk-aware) with 1 and 2 worker processes, the client's and the
  workers' CPU per batch, time to the first batch (fresh and warm cluster), and how
  many workers one scheduler could feed at this batch size.
- ``sizes``: patches/s and MiB/s on stores of several sizes (256 x 256 patches,
  batches of 32, chunk-aware order, 2 workers with a 2 GiB memory limit each).
- ``ltm``: a store of at least 1.5 x this machine's memory (``/proc/meminfo``),
  generated once, statistics computed at construction (``mean_std`` without values)
  and one full epoch streamed (256 x 256 patches, batches of 32, chunk-aware order)
  on 2 workers limited to 2 GiB each; peak RSS of the client (with the embedded
  scheduler) and of each worker, sampled every 50 ms, and the bytes distributed
  spilled to disk.

Scale stores (``sizes`` and ``ltm``) are ``S x 4096 x 4096`` uint16 with
``1 x 1024 x 1024`` chunks and zstd level 3; pixels are a coarse structure plus
3 bits of noise (about 3 x compression), written by a pool of processes, one sample
per task, and reused while their marker file (``<store>.json``) exists.

    .venv/bin/python benchmarks/bench_scale.py --quick --json scale.json
    .venv/bin/python benchmarks/bench_scale.py --parts ltm --json scale_ltm.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ARRAY, CpuMeter, PeakMemory, ensure_store, rss_bytes, store_shape

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MIB = 2**20
GIB = 2**30
SIDE = 4096
SCALE_CHUNK = 1024
MEANS, STDS = [700.0], [300.0]
DEFAULT_CACHE = (
    Path(os.environ["XDG_CACHE_HOME"], "careamics-dask-bench")
    if os.environ.get("XDG_CACHE_HOME")
    else Path("/tmp/careamics_dask_bench")
)


# -------------------------------------------------------------------------- helpers


def memory_total() -> int:
    """This machine's memory in bytes (``MemTotal`` of ``/proc/meminfo``)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


class LoadSampler:
    """The 1-minute load average at start, end, and its maximum in between."""

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self.values: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.values.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self.values.append(os.getloadavg()[0])
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.values.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        return {
            "start": round(self.values[0], 2),
            "end": round(self.values[-1], 2),
            "max": round(max(self.values), 2),
            "mean": round(float(np.mean(self.values)), 2),
        }


@contextlib.contextmanager
def local_cluster(
    n_workers: int, memory_limit: str | int | None = None
) -> Iterator[Any]:
    """A ``LocalCluster`` of worker processes (1 thread each) on 127.0.0.1."""
    from distributed import Client, LocalCluster

    kwargs: dict[str, Any] = {}
    if memory_limit is not None:
        kwargs["memory_limit"] = memory_limit
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            **kwargs,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def worker_pids(client: Any) -> list[int]:
    return [int(pid) for pid in client.run(os.getpid).values()]


def training_dataset(
    store: Path, patch: int, batch: int = 32, statistics: bool = True
) -> Any:
    """A training dataset of random patches from ``store/image``."""
    from careamics_dask.config import DataConfig
    from careamics_dask.factory import create_dataset

    normalization: dict[str, Any] = {"name": "mean_std"}
    if statistics:
        normalization.update(input_means=MEANS, input_stds=STDS)
    config = DataConfig(
        mode="training",
        data_type="zarr",
        axes="SYX",
        patching={"name": "random", "patch_size": [patch, patch]},
        normalization=normalization,
        batch_size=batch,
        seed=42,
    )
    return create_dataset(config, str(store / ARRAY), None)


def stream_rate(
    dataset: Any,
    client: Any,
    n_batches: int,
    *,
    warmup: int = 8,
    chunk_aware: bool = False,
    prefetch: int = 8,
) -> dict[str, float]:
    """Pull ``warmup + n_batches`` batches from a BatchStream; time the last ones."""
    from careamics_dask import BatchStream

    per_epoch = math.ceil(len(dataset) / dataset.batch_size)
    epochs = math.ceil((warmup + n_batches + 1) / per_epoch)
    pids = worker_pids(client) if client is not None else []
    start = time.perf_counter()
    stream = BatchStream(
        dataset,
        client,
        prefetch=prefetch,
        epochs=epochs,
        shuffle=True,
        chunk_aware=chunk_aware,
    )
    batches = iter(stream)
    next(batches)
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        next(batches)
    mine, theirs = CpuMeter().start(), CpuMeter(lambda: pids).start()
    patches = 0
    start = time.perf_counter()
    for _ in range(n_batches):
        patches += len(next(batches).input)
    wall = time.perf_counter() - start
    client_cpu, worker_cpu = mine.stop(), theirs.stop()
    batches.close()  # type: ignore[attr-defined]
    patch = int(dataset.patch_table(0).patch_size[0][0])
    return {
        "batches": n_batches,
        "patches": patches,
        "seconds": wall,
        "patches/s": patches / wall,
        "batches/s": n_batches / wall,
        "MiB/s (source pixels)": patches * patch * patch * 2 / MIB / wall,
        "first batch s": first,
        "client + scheduler CPU ms/batch": client_cpu / n_batches * 1e3,
        "worker CPU ms/batch": worker_cpu / n_batches * 1e3,
    }


# ---------------------------------------------------------------- scale stores


def _write_samples(job: tuple[str, list[int], int]) -> int:
    """Write whole samples of a scale store (one pool task per group of samples)."""
    import zarr

    root, samples, seed = job
    array = zarr.open_array(store=root, path=ARRAY, mode="r+")
    side = array.shape[1]
    for s in samples:
        rng = np.random.default_rng([seed, s])
        coarse = rng.integers(200, 1200, (side // 256, side // 256)).astype(np.uint16)
        image = np.repeat(np.repeat(coarse, 256, axis=0), 256, axis=1)
        image += rng.integers(0, 8, (side, side), dtype=np.uint16)
        array[s] = image
    return len(samples)


def du(path: Path) -> int:
    """Bytes on disk under ``path``."""
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def ensure_scale_store(
    root: Path, n_samples: int, *, processes: int | None = None, seed: int = 1
) -> dict[str, Any]:
    """Create (or reuse) a scale store; return its description (the marker's)."""
    import zarr
    from zarr.codecs import ZstdCodec

    marker = root.with_name(root.name + ".json")
    shape = [n_samples, SIDE, SIDE]
    if marker.exists():
        info = dict(json.loads(marker.read_text()))
        if info.get("shape") == shape:
            return info
    start = time.perf_counter()
    zarr.create_array(
        store=str(root),
        name=ARRAY,
        shape=tuple(shape),
        chunks=(1, SCALE_CHUNK, SCALE_CHUNK),
        dtype="uint16",
        compressors=ZstdCodec(level=3),
        overwrite=True,
        zarr_format=3,
    )
    processes = processes or os.cpu_count() or 1
    groups = [list(range(i, min(i + 4, n_samples))) for i in range(0, n_samples, 4)]
    done = 0
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        for n in pool.imap_unordered(
            _write_samples, [(str(root), g, seed) for g in groups]
        ):
            done += n
            if done % 64 < 4:
                print(f"  {done}/{n_samples} samples", flush=True)
    info = {
        "shape": shape,
        "chunks": [1, SCALE_CHUNK, SCALE_CHUNK],
        "GiB": n_samples * SIDE * SIDE * 2 / GIB,
        "disk GiB": du(root) / GIB,
        "write s": time.perf_counter() - start,
    }
    marker.write_text(json.dumps(info))
    print(
        f"wrote {root} {tuple(shape)} uint16 ({info['GiB']:.1f} GiB, "
        f"{info['disk GiB']:.1f} GiB on disk) in {info['write s']:.0f} s",
        flush=True,
    )
    return info


def scale_store_path(cache: Path, n_samples: int) -> Path:
    return cache / f"scale-{n_samples}x{SIDE}x{SIDE}-c{SCALE_CHUNK}.zarr"


# -------------------------------------------------------------------------- parts


def part_graph(args: argparse.Namespace) -> dict[str, Any]:
    """Building time and tasks per epoch against the number of patches."""
    import zarr

    root = args.cache_dir / "graph-empty.zarr"
    rows = []
    for n in args.graph_sizes:
        samples = max(1, math.ceil(n / (SIDE // 64) ** 2))
        name = f"s{samples}"
        zarr.create_array(
            store=str(root),
            name=name,
            shape=(samples, SIDE, SIDE),
            chunks=(1, 256, 256),
            dtype="uint16",
            overwrite=True,
            zarr_format=3,
        )
        from careamics_dask.config import DataConfig
        from careamics_dask.factory import create_dataset
        from careamics_dask.testing import raise_if_dask_computes

        config = DataConfig(
            mode="training",
            data_type="zarr",
            axes="SYX",
            patching={"name": "random", "patch_size": [64, 64]},
            normalization={
                "name": "mean_std",
                "input_means": MEANS,
                "input_stds": STDS,
            },
            batch_size=32,
            seed=42,
        )
        before = rss_bytes()
        row: dict[str, Any] = {"samples": samples}
        with raise_if_dask_computes():  # given statistics: no pixel is read
            t = time.perf_counter()
            dataset = create_dataset(config, str(root / name), None)
            row["construction s"] = time.perf_counter() - t
            t = time.perf_counter()
            table = dataset.patch_table(1)
            row["patch_table s"] = time.perf_counter() - t
            t = time.perf_counter()
            tasks = dataset.batch_tasks(1)
            row["batch_tasks s"] = time.perf_counter() - t
        row["patches"] = len(table)
        row["batches"] = dataset.n_batches()
        row["batch_tasks"] = len(tasks)
        row["graph keys (batch_tasks)"] = len(
            {k for task in tasks for k in task.__dask_graph__()}
        )
        del tasks
        if len(table) <= args.to_dask_max:
            t = time.perf_counter()
            lazy = dataset.to_dask(1)
            row["to_dask s"] = time.perf_counter() - t
            row["graph keys (to_dask)"] = len(lazy.__dask_graph__())
            del lazy
        row["us per batch (batch_tasks)"] = row["batch_tasks s"] / row["batches"] * 1e6
        row["client RSS growth MiB"] = (rss_bytes() - before) / MIB
        rows.append(row)
        print(json.dumps(row), flush=True)
        del dataset, table
    shutil.rmtree(root, ignore_errors=True)
    return {"rows": rows, "patch": 64, "batch": 32}


def _noop(x: int) -> int:
    return x


def part_overhead(args: argparse.Namespace) -> dict[str, Any]:
    """Scheduler throughput on no-op tasks; round-trip latency of one task."""
    with local_cluster(2) as client:
        client.gather(client.map(_noop, range(200), pure=False))
        pids = worker_pids(client)
        mine, theirs = CpuMeter().start(), CpuMeter(lambda: pids).start()
        start = time.perf_counter()
        futures = client.map(_noop, range(args.noop_tasks), pure=False)
        client.gather(futures)
        wall = time.perf_counter() - start
        client_cpu, worker_cpu = mine.stop(), theirs.stop()
        del futures
        start = time.perf_counter()
        for i in range(100):
            client.submit(_noop, i, pure=False).result()
        latency = (time.perf_counter() - start) / 100
    return {
        "tasks": args.noop_tasks,
        "tasks/s (2 workers, wall)": args.noop_tasks / wall,
        "client + scheduler CPU ms/task": client_cpu / args.noop_tasks * 1e3,
        "worker CPU ms/task": worker_cpu / args.noop_tasks * 1e3,
        "round trip ms (submit + result, one at a time)": latency * 1e3,
    }


def part_workers(args: argparse.Namespace) -> dict[str, Any]:
    """BatchStream patches/s with 1 and 2 worker processes, first batch times."""
    shape = store_shape(args.workers_gib)
    store = ensure_store(args.cache_dir / f"bench-{shape[0]}x{shape[1]}.zarr", shape)
    dataset = training_dataset(store, 64)
    out: dict[str, Any] = {
        "store": {"shape": list(shape), "GiB": float(np.prod(shape)) * 2 / GIB},
        "patch": 64,
        "batch": 32,
        "rows": [],
    }
    for n_workers in args.worker_counts:
        start = time.perf_counter()
        with local_cluster(n_workers) as client:
            cluster_s = time.perf_counter() - start
            for chunk_aware in (False, True):
                row = stream_rate(
                    dataset,
                    client,
                    args.stream_batches,
                    chunk_aware=chunk_aware,
                    warmup=16,
                )
                row["workers"] = n_workers
                row["order"] = "chunk-aware" if chunk_aware else "shuffled"
                row["cluster start s"] = cluster_s
                if not chunk_aware:
                    row["first batch s (fresh cluster)"] = row.pop("first batch s")
                    row["first batch s (warm)"] = stream_rate(
                        dataset, client, 1, warmup=1
                    )["first batch s"]
                out["rows"].append(row)
                print(json.dumps(row), flush=True)
    return out


def part_sizes(args: argparse.Namespace) -> dict[str, Any]:
    """Throughput against store size (same recipe as the larger-than-memory store)."""
    rows = []
    with local_cluster(2, memory_limit=args.memory_limit) as client:
        for gib in args.sizes:
            n = max(1, round(gib * GIB / (SIDE * SIDE * 2)))
            store = scale_store_path(args.cache_dir, n)
            info = ensure_scale_store(store, n)
            dataset = training_dataset(store, args.ltm_patch)
            row = stream_rate(
                dataset, client, args.size_batches, chunk_aware=True, prefetch=4
            )
            row.update(GiB=info["GiB"], samples=n, **{"disk GiB": info["disk GiB"]})
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {
        "rows": rows,
        "patch": args.ltm_patch,
        "batch": 32,
        "order": "chunk-aware",
        "workers": 2,
        "memory limit": args.memory_limit,
    }


def spill_metrics(dask_worker: Any) -> dict[str, float]:
    """What a worker's memory manager spilled to disk (run on each worker)."""
    data = dask_worker.data
    metrics = dict(getattr(data, "cumulative_metrics", {}))
    total = getattr(data, "spilled_total", None)
    return {
        "spilled bytes (cumulative)": float(metrics.get(("disk-write", "bytes"), 0.0)),
        "spill count": float(metrics.get(("disk-write", "count"), 0.0)),
        "on disk now bytes": float(total.disk) if total is not None else 0.0,
    }


def part_ltm(args: argparse.Namespace) -> dict[str, Any]:
    """A store of >= 1.5 x memory: statistics at construction, then a full epoch."""
    memory = memory_total()
    n = math.ceil(args.ltm_factor * memory / (SIDE * SIDE * 2))
    store = scale_store_path(args.cache_dir, n)
    logical = n * SIDE * SIDE * 2
    marker = store.with_name(store.name + ".json")
    free = shutil.disk_usage(args.cache_dir).free
    need = logical / 2.5 + 5 * GIB  # ~3 x compression, a margin
    if not marker.exists() and free < need:
        message = (
            f"skipped: the larger-than-memory store needs about {need / GIB:.0f} GiB "
            f"of disk for {logical / GIB:.0f} GiB of pixels, but "
            f"{args.cache_dir} has {free / GIB:.0f} GiB free. Free space there or "
            "pass --cache-dir on a larger disk."
        )
        print(message, flush=True)
        return {"skipped": message}
    info = ensure_scale_store(store, n)
    out: dict[str, Any] = {
        "machine memory GiB": memory / GIB,
        "store": info,
        "store / memory": info["GiB"] * GIB / memory,
        "patch": args.ltm_patch,
        "batch": 32,
        "order": "chunk-aware (BatchStream(chunk_aware=True))",
        "workers": 2,
        "threads per worker": 1,
        "worker memory limit": args.memory_limit,
        "prefetch": 4,
    }
    with LoadSampler() as load, local_cluster(2, memory_limit=args.memory_limit) as c:
        pids = worker_pids(c)
        workers = [PeakMemory(lambda pid=pid: [pid], interval=0.05) for pid in pids]
        for monitor in workers:
            monitor.__enter__()
        with PeakMemory(interval=0.05) as client_peak:
            start = time.perf_counter()
            dataset = training_dataset(store, args.ltm_patch, statistics=False)
            out["statistics s"] = time.perf_counter() - start
            norm = dataset.config.normalization
            out["statistics"] = {
                "mean": list(norm.input_means),
                "std": list(norm.input_stds),
            }
            out["client peak RSS MiB after statistics"] = client_peak.peak / MIB
            print(json.dumps(out), flush=True)
            from careamics_dask import BatchStream

            stream = BatchStream(
                dataset, c, prefetch=4, epochs=1, shuffle=True, chunk_aware=True
            )
            mine, theirs = CpuMeter().start(), CpuMeter(lambda: pids).start()
            patches = batches = 0
            start = time.perf_counter()
            for batch in stream:
                patches += len(batch.input)
                batches += 1
                if batches % 1000 == 0:
                    print(
                        f"  {batches}/{len(stream)} batches, "
                        f"{time.perf_counter() - start:.0f} s, client "
                        f"{rss_bytes() / MIB:.0f} MiB",
                        flush=True,
                    )
            wall = time.perf_counter() - start
            client_cpu, worker_cpu = mine.stop(), theirs.stop()
        for monitor in workers:
            monitor.__exit__()
        spilled = c.run(spill_metrics)
    patch_bytes = args.ltm_patch**2 * 2
    limit = parse_bytes(args.memory_limit)
    out.update(
        {
            "epoch patches": patches,
            "epoch batches": batches,
            "dataset patches": len(dataset),
            "epoch s": wall,
            "patches/s": patches / wall,
            "MiB/s (source pixels)": patches * patch_bytes / MIB / wall,
            "client + scheduler CPU s": client_cpu,
            "worker CPU s": worker_cpu,
            "client peak RSS MiB": client_peak.peak / MIB,
            "worker peak RSS MiB": [m.peak / MIB for m in workers],
            "worker memory limit MiB": limit / MIB,
            "spilled": list(spilled.values()),
            "load average": load.summary(),
        }
    )
    out["goals"] = {
        "client peak < 600 MiB": out["client peak RSS MiB"] < 600,
        "each worker under its limit": all(
            m.peak < limit for m in workers if limit > 0
        ),
        "nothing spilled": all(
            s["spilled bytes (cumulative)"] == 0 for s in out["spilled"]
        ),
    }
    return out


def parse_bytes(value: str) -> int:
    from dask.utils import parse_bytes as parse

    return int(parse(value))


# --------------------------------------------------------------------------- main


PARTS = ("graph", "overhead", "workers", "sizes", "ltm")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--json", type=Path, default=None, help="write results here")
    parser.add_argument("--quick", action="store_true", help="small sizes, minutes")
    parser.add_argument(
        "--parts", default="graph,overhead,workers,sizes", help=",".join(PARTS)
    )
    parser.add_argument("--ltm", action="store_true", help="also the ltm part")
    parser.add_argument("--ltm-factor", type=float, default=1.5, help="x memory")
    parser.add_argument("--ltm-patch", type=int, default=256)
    parser.add_argument("--memory-limit", default="2GiB", help="per worker")
    parser.add_argument(
        "--graph-sizes", type=float, nargs="+", default=[1e4, 1e5, 1e6, 1e7]
    )
    parser.add_argument("--to-dask-max", type=float, default=1.1e6)
    parser.add_argument("--noop-tasks", type=int, default=10_000)
    parser.add_argument("--workers-gib", type=float, default=1.0)
    parser.add_argument("--worker-counts", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--stream-batches", type=int, default=400)
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.5, 1.0, 4.0])
    parser.add_argument("--size-batches", type=int, default=200)
    args = parser.parse_args(argv)
    if args.quick:
        args.graph_sizes = [1e4, 1e5, 1e6]
        args.to_dask_max = 1.1e5
        args.noop_tasks = 2000
        args.workers_gib = 0.25
        args.stream_batches = 100
        args.sizes = [0.25, 0.5]
        args.size_batches = 60
    args.graph_sizes = [int(n) for n in args.graph_sizes]
    args.parts = [p for p in args.parts.split(",") if p]
    if args.ltm and "ltm" not in args.parts:
        args.parts.append("ltm")
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}: expected some of {PARTS}")
    return args


def machine() -> dict[str, Any]:
    import platform
    from importlib.metadata import version

    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory GiB": round(memory_total() / GIB, 1),
        "python": platform.python_version(),
        **{
            name: version(name)
            for name in ("numpy", "zarr", "dask", "distributed", "careamics-dask")
        },
    }


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "quick": args.quick,
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    runners: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
        "graph": part_graph,
        "overhead": part_overhead,
        "workers": part_workers,
        "sizes": part_sizes,
        "ltm": part_ltm,
    }
    with LoadSampler() as load:
        for part in args.parts:
            print(f"== {part}", flush=True)
            start = time.perf_counter()
            results[part] = runners[part](args)
            results[part]["part wall s"] = time.perf_counter() - start
            if args.json:  # keep what is done if a later part fails
                args.json.write_text(json.dumps(results, indent=1))
    results["load average"] = load.summary()
    if "overhead" in results and "workers" in results:
        results["extrapolation"] = extrapolate(results)
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def extrapolate(results: dict[str, Any]) -> dict[str, Any]:
    """How many workers one scheduler could feed at this batch size."""
    overhead = results["overhead"]
    rows = [r for r in results["workers"]["rows"] if r["order"] == "shuffled"]
    one = min(rows, key=lambda r: r["workers"])
    per_worker = one["batches/s"] / one["workers"]
    scheduler_cpu = overhead["client + scheduler CPU ms/task"] / 1e3
    stream_cpu = max(r["client + scheduler CPU ms/batch"] for r in rows) / 1e3
    return {
        "batches/s per worker (shuffled, measured)": per_worker,
        "scheduler tasks/s (no-op tasks, one core)": 1 / scheduler_cpu,
        "workers fed, scheduler bound": 1 / scheduler_cpu / per_worker,
        "client + scheduler batches/s (stream, one core)": 1 / stream_cpu,
        "workers fed, stream bound": 1 / stream_cpu / per_worker,
    }


if __name__ == "__main__":
    main()
