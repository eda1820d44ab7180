"""What a local ``BatchStream`` costs its consuming process, threads or processes.

The factory benchmark's store and config (4 GiB by default, made once), batches of
32 random 64 x 64 patches, uniform (shuffled) and chunk-aware draws. For each
``local`` executor: patches/s over the run, and the CPU time of the consuming
process per batch (its main thread, the stream's fetch thread and, for threads, the
batch builders themselves; worker processes are not counted). Run it against
another commit with ``PYTHONPATH`` set to a worktree of it::

    .venv/bin/python benchmarks/bench_local_feed.py
    PYTHONPATH=/tmp/old .venv/bin/python benchmarks/bench_local_feed.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_factory as bf
from _common import ensure_store, store_shape


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=4.0)
    parser.add_argument("--store-dir", default="/tmp/careamics_dask_bench")
    parser.add_argument("--batches", type=int, default=1500, help="chunk-aware")
    parser.add_argument("--prefetch", type=int, default=4)
    args = parser.parse_args(argv)

    from careamics_dask.feeding import BatchStream

    shape = store_shape(args.size_gib)
    store = ensure_store(
        Path(args.store_dir) / f"bench-{shape[0]}x{shape[1]}.zarr", shape
    )
    ds = bf.create(str(store), bf.KNOWN_STATS)
    for local in ("threads", "processes"):
        for name, order, n in (
            ("uniform (shuffled)", {"shuffle": True}, args.batches // 6),
            ("chunk-aware draw (k=32)", {"chunk_aware": "draw"}, args.batches),
        ):
            stream = BatchStream(ds, None, prefetch=args.prefetch, local=local, **order)
            batches = iter(stream)
            for _ in range(8):  # processes started, first chunks read
                next(batches)
            start, cpu = time.perf_counter(), time.process_time()
            patches = sum(len(next(batches).input) for _ in range(n))
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            batches.close()  # type: ignore[attr-defined]
            print(
                f"{local:9s} {name}: {patches / wall:,.0f} patches/s, "
                f"consumer CPU {cpu / n * 1e3:.3f} ms per batch"
            )


if __name__ == "__main__":
    main()
