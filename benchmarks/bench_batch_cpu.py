"""CPU per batch of ``build_batch`` on one thread, for each batch order.

The factory benchmark's store and config (4 GiB by default, made once), batches of
32 random 64 x 64 patches in three orders: shuffled rows (uniform), chunk-aware order
and chunk-aware draws (32 per chunk). Thread CPU time, best of 3 repeats: the figure
that code changes to the batch reader move, whatever else runs on the machine.
Profile the same loop with py-spy::

    .venv/bin/python benchmarks/bench_batch_cpu.py
    .venv/bin/py-spy record -r 400 -f raw -o prof.txt -- \\
        .venv/bin/python benchmarks/bench_batch_cpu.py
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
    parser.add_argument("--batches", type=int, default=60, help="uniform batches")
    args = parser.parse_args(argv)

    from careamics_dask.graph.batch import build_batch

    shape = store_shape(args.size_gib)
    store = ensure_store(
        Path(args.store_dir) / f"bench-{shape[0]}x{shape[1]}.zarr", shape
    )
    ds = bf.create(str(store), bf.KNOWN_STATS)
    epoch = 1
    tables = bf.orders(ds, epoch, bf.BATCH)
    for name in ("uniform (shuffled)", "chunk-aware order", "chunk-aware draw (k=32)"):
        table = tables[name]
        build_batch(ds.plan, *bf.batch_rows(table, 0), epoch)
        n = args.batches * (1 if name.startswith("uniform") else 3)
        best = float("inf")
        for repeat in range(3):
            start = time.thread_time()
            for index in range(1 + repeat * n, 1 + (repeat + 1) * n):
                build_batch(ds.plan, *bf.batch_rows(table, index), epoch)
            best = min(best, (time.thread_time() - start) / n)
        print(
            f"{name}: {best * 1e3:.2f} ms CPU per batch, "
            f"{bf.BATCH / best:,.0f} patches per CPU-s"
        )


if __name__ == "__main__":
    main()
