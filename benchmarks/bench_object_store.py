"""Object stores and sharding: S3 on loopback with added latency, sharded Zarr v3.

Two cases, each measured side by side in one run, every measurement in a fresh
process (so that handle caches, codec pipelines and thread pools start cold alike),
alternating over ``--repeats`` rounds:

- ``sharding``: random 64 x 64 patches (batches of 32) from the same pixels stored
  unsharded (256 x 256 chunks, zstd) and sharded (one 2048 x 2048 shard per sample,
  8 x 8 inner chunks of 256 x 256), read through each batching backend:
  TensorStore (``auto`` with the ``fast`` extra), zarr-python (``zarr``), and
  zarr-python with the ``zarrs`` codec pipeline (``zarrs``, where installed);
- ``s3``: the unsharded store on a moto S3 server on 127.0.0.1, behind a proxy
  that adds ``--latency-ms`` to every request (tests/loaders/s3_proxy.py), read as
  ``s3://bucket/...`` with ``storage_options`` as users do, against the local copy;
  uniform random batches and chunk-aware ones (``BatchStream(chunk_aware="draw")``),
  for each ``--read-threads``.

Batches are built on local threads (``BatchStream(dataset)``, no cluster), after
``--warmup`` unmeasured ones; the figure is patches per second of wall time.

    .venv/bin/python benchmarks/bench_object_store.py --case sharding
    .venv/bin/python benchmarks/bench_object_store.py --case s3 --latency-ms 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ARRAY, ensure_store

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "bench"
SHARD = 2048


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["sharding", "s3", "all"], default="all")
    parser.add_argument("--samples", type=int, default=8, help="2048 x 2048 samples")
    parser.add_argument("--batches", type=int, default=60, help="measured batches")
    parser.add_argument("--warmup", type=int, default=6, help="unmeasured batches")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="alternating rounds")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--read-threads", type=int, nargs="+", default=[4, 16])
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "careamics-dask-bench",
        help="where the stores are written once",
    )
    parser.add_argument("--json", type=Path, default=None, help="write results here")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --- the stores ------------------------------------------------------------------


def stores(args: argparse.Namespace) -> dict[str, Path]:
    """Write (once) the unsharded store and its sharded copy; return both."""
    import zarr

    plain = ensure_store(
        args.cache_dir / f"plain-{args.samples}.zarr", (args.samples, SHARD, SHARD)
    )
    sharded = args.cache_dir / f"sharded-{args.samples}.zarr"
    marker = sharded.with_name(sharded.name + ".json")
    if not marker.exists():
        from zarr.codecs import ZstdCodec

        source = zarr.open_array(str(plain / ARRAY), mode="r")
        array = zarr.create_array(
            store=str(sharded),
            name=ARRAY,
            shape=source.shape,
            shards=(1, SHARD, SHARD),
            chunks=(1, 256, 256),
            dtype=source.dtype,
            compressors=ZstdCodec(level=3),
            overwrite=True,
            zarr_format=3,
        )
        for s in range(source.shape[0]):
            array[s] = source[s]
        marker.write_text(json.dumps({"shape": list(source.shape)}))
    return {"plain": plain, "sharded": sharded}


# --- one measurement (in its own process) --------------------------------------------


def measure(spec: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Stream batches of one (store, backend, order) and return the rate."""
    import dask
    import zarr

    from careamics_dask.config import DataConfig
    from careamics_dask.factory import create_dataset
    from careamics_dask.feeding import BatchStream
    from careamics_dask.loaders.open import open_image

    backend = spec["backend"]
    if backend == "zarrs":
        zarr.config.set({"codec_pipeline.path": "zarrs.ZarrsCodecPipeline"})
    dask.config.set(
        {
            "careamics-dask.batching.backend": "zarr"
            if backend == "zarrs"
            else backend,
            "careamics-dask.batching.read-threads": spec.get("threads", 4),
        }
    )
    options = spec.get("storage_options")
    stack = open_image(spec["url"], "SYX", storage_options=options)
    config = DataConfig(
        mode="training",
        data_type="array",
        axes="SYX",
        patching={"name": "random", "patch_size": [args.patch, args.patch]},
        # fixed statistics: the benchmark is about reading, not the reductions
        normalization={"name": "mean_std", "input_means": [900], "input_stds": [400]},
        batch_size=args.batch_size,
        seed=7,
    )
    dataset = create_dataset(config, stack, None)
    stream = BatchStream(dataset, None, shuffle=True, chunk_aware=spec["order"])
    batches = iter(stream)
    for _ in range(args.warmup):
        next(batches)
    start = time.perf_counter()
    cpu = time.process_time()
    for _ in range(args.batches):
        next(batches)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    close = getattr(batches, "close", None)
    if callable(close):
        close()
    return {
        **{k: v for k, v in spec.items() if k != "storage_options"},
        "patches/s": args.batches * args.batch_size / wall,
        "ms/batch": wall / args.batches * 1e3,
        "cpu ms/batch": cpu / args.batches * 1e3,
    }


def run_one(spec: dict[str, Any], argv: list[str]) -> dict[str, Any]:
    """Run :func:`measure` in a fresh process; return its result."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, __file__, *argv, "--one", json.dumps(spec)]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=900, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"measurement {spec} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def zarrs_available() -> bool:
    try:
        import zarrs  # noqa: F401
    except ImportError:
        return False
    return True


# --- the cases ------------------------------------------------------------------------


def sharding_specs(paths: dict[str, Path]) -> list[dict[str, Any]]:
    backends = ["auto", "zarr"] + (["zarrs"] if zarrs_available() else [])
    return [
        {
            "case": "sharding",
            "store": name,
            "backend": backend,
            "order": False,
            "url": str(paths[name] / ARRAY),
        }
        for backend in backends
        for name in ("plain", "sharded")
    ]


class S3:
    """A moto server with one bucket, and a latency proxy in front of it."""

    def __init__(self, latency: float) -> None:
        sys.path.insert(0, str(ROOT))
        from tests.loaders.s3_proxy import FaultProxy
        from tests.loaders.test_s3_zarr import S3Server

        self.server = S3Server()
        self.proxy = FaultProxy(
            self.server.endpoint, latency=latency, max_requests=10**9
        )
        self.options = {
            **self.server.options,
            "client_kwargs": {
                **self.server.options["client_kwargs"],
                "endpoint_url": self.proxy.endpoint,
            },
        }

    def upload(self, local: Path) -> str:
        return self.server.upload(local)

    def stop(self) -> None:
        self.proxy.stop()
        self.server.stop()


def s3_specs(
    paths: dict[str, Path], urls: dict[str, str], options: dict[str, Any],
    threads: list[int],
) -> list[dict[str, Any]]:  # fmt: skip
    specs: list[dict[str, Any]] = []
    common = {"case": "s3", "backend": "zarr"}
    for order in (False, "draw"):
        for name in ("plain", "sharded"):
            local = str(paths[name] / ARRAY)
            specs.append(
                {
                    **common,
                    "store": f"local {name}",
                    "order": order,
                    "url": local,
                    "threads": 4,
                }
            )
            specs.extend(
                {
                    **common,
                    "store": f"s3 {name}",
                    "order": order,
                    "url": f"{urls[name]}/{ARRAY}",
                    "threads": n,
                    "storage_options": options,
                }
                for n in threads
            )
            if obstore_available():  # the same store through obstore, not s3fs
                specs.append(
                    {
                        **common,
                        "store": f"s3 {name} (obstore)",
                        "order": order,
                        "url": f"{urls[name]}/{ARRAY}",
                        "threads": threads[0],
                        "storage_options": {**options, "zarr_store": "obstore"},
                    }
                )
    return specs


def obstore_available() -> bool:
    try:
        import obstore  # noqa: F401
    except ImportError:
        return False
    return True


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}"


def report(rows: list[dict[str, Any]]) -> None:
    keys = ["case", "store", "backend", "order", "threads"]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k) for k in keys), []).append(row)
    columns = ["patches/s", "ms/batch", "cpu ms/batch", "GETs/batch", "server cpu"]
    print("| " + " | ".join(keys + columns) + " |")
    print("|" + "---|" * (len(keys) + len(columns)))
    for key, mine in groups.items():
        best = max(mine, key=lambda r: r["patches/s"])
        gets, server = best.get("GETs/batch"), best.get("server cpu ms/batch")
        cells = [str(v) for v in key]
        cells += [f"{best['patches/s']:.0f}", f"{best['ms/batch']:.1f}"]
        cells += [f"{best['cpu ms/batch']:.1f}", "" if gets is None else f"{gets:.1f}"]
        cells += ["" if server is None else f"{server:.1f}"]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    args = parse_args()
    if args.one is not None:
        print(json.dumps(measure(json.loads(args.one), args)))
        return
    argv = list(sys.argv[1:])
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    paths = stores(args)
    rows: list[dict[str, Any]] = []
    s3: S3 | None = None
    try:
        specs: list[dict[str, Any]] = []
        if args.case in ("sharding", "all"):
            specs += sharding_specs(paths)
        if args.case in ("s3", "all"):
            s3 = S3(args.latency_ms / 1e3)
            urls = {name: s3.upload(path) for name, path in paths.items()}
            specs += s3_specs(paths, urls, s3.options, args.read_threads)
        for round_ in range(args.repeats):
            for spec in specs if round_ % 2 == 0 else specs[::-1]:
                before = len(s3.proxy.matching()) if s3 is not None else 0
                server_cpu = time.process_time()  # moto and the proxy, in here
                row = run_one(spec, argv)
                if s3 is not None and spec["store"].startswith("s3"):
                    pulled = args.batches + args.warmup
                    gets = len(s3.proxy.matching()) - before
                    row["GETs/batch"] = gets / pulled
                    row["server cpu ms/batch"] = (
                        (time.process_time() - server_cpu) / pulled * 1e3
                    )
                row["round"] = round_
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        if s3 is not None:
            s3.stop()
    print(f"\nmachine: {machine()}; best of {args.repeats} rounds")
    report(rows)
    if args.json:
        result = {"args": {k: str(v) for k, v in vars(args).items()},
                  "machine": machine(), "rows": rows}  # fmt: skip
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
