"""Tiled prediction into Zarr, out of core, next to the reference's in-memory stitching.

One run measures, on a synthetic Zarr v3 store (uint16 ``S x 4096 x 4096``, chunks
``1 x 256 x 256``, zstd), tiled prediction (tiles 256 x 256, overlap 32, batches of
16, mean/std normalization with given statistics) with an identity model, written by
``careamics_dask.predict_to_zarr`` into a float32 Zarr store:

- on a ``LocalCluster(n_workers=2, threads_per_worker=1)`` on 127.0.0.1, the model on
  the client (``run_on="client"``) and inside worker tasks (``run_on="workers"``);
- wall time, throughput, the client's peak RSS (it hosts the scheduler too) and each
  worker's peak RSS, sampled every 20 ms;
- a check of the output against the input on one sample.

The reference (CAREamics 0.3.5) has no out-of-core writer for tiles it stitches: its
``stitch_prediction`` collects every tile in memory and builds whole images. It runs
in its own environment (``--ref-python``, ``.venv-ref/bin/python``) on the first
``--ref-samples`` images (a smaller store with the same pixels): its tiles from
``dataset[i]``, then ``stitch_prediction``; careamics_dask runs on the same small store
too. Run from the repository root:

    .venv/bin/python benchmarks/bench_predict.py                 # ~1 GiB store
    .venv/bin/python benchmarks/bench_predict.py --size-gib 4
    .venv/bin/python benchmarks/bench_predict.py --quick         # 0.25 GiB, 2 ref
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ARRAY, PeakMemory, ensure_store, rss_bytes, store_shape

TILE = 256
OVERLAP = 32
BATCH = 16
MEAN, STD = 800.0, 450.0
MIB = 2**20
REPO = Path(__file__).resolve().parent.parent


def identity(batch: Any) -> Any:
    return batch


def config_values(data_type: str = "zarr") -> dict[str, Any]:
    return {
        "mode": "predicting",
        "data_type": data_type,
        "axes": "SYX",
        "patching": {
            "name": "tiled",
            "patch_size": [TILE, TILE],
            "overlaps": [OVERLAP, OVERLAP],
        },
        "normalization": {
            "name": "mean_std",
            "input_means": [MEAN],
            "input_stds": [STD],
        },
        "batch_size": BATCH,
    }


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ------------------------------------------------------------------- the reference
def reference_main(args: argparse.Namespace) -> None:
    """Tiles from the reference dataset, then its in-memory stitch (in .venv-ref)."""
    import resource
    import warnings

    warnings.simplefilter("ignore")
    import careamics  # type: ignore[import-not-found]
    from careamics.config.data.data_config import (  # type: ignore[import-not-found]
        DataConfig,
    )
    from careamics.dataset.factory import (  # type: ignore[import-not-found]
        PredData,
        create_pred_dataset,
    )
    from careamics.lightning.prediction.stitch_prediction import (  # type: ignore[import-not-found]
        stitch_prediction,
    )

    out: dict[str, Any] = {"careamics": careamics.__version__}
    base = rss_bytes()
    dataset = create_pred_dataset(
        DataConfig(**config_values()), PredData([args.store]), None
    )
    start = time.perf_counter()
    tiles = [dataset[i][0] for i in range(len(dataset))]  # identity: tile = output
    out["tiles"] = len(tiles)
    out["tiles s"] = time.perf_counter() - start
    start = time.perf_counter()
    images, _ = stitch_prediction(tiles)
    out["stitch s"] = time.perf_counter() - start
    out["output MiB"] = sum(i.nbytes for i in images) / MIB
    out["rss growth MiB"] = (rss_bytes() - base) / MIB
    out["peak rss MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("REFERENCE-JSON " + json.dumps(out), flush=True)


def run_reference(args: argparse.Namespace, store: Path) -> dict[str, Any]:
    command = [
        args.ref_python,
        str(Path(__file__).resolve()),
        "--as-reference",
        "--store",
        str(store),
    ]
    print("reference: " + " ".join(command), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("REFERENCE-JSON "):
            return dict(json.loads(line.removeprefix("REFERENCE-JSON ")))
    print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
    raise RuntimeError(f"the reference run failed (exit {done.returncode})")


# ------------------------------------------------------------------ careamics_dask
def dataset_of(store: Path) -> Any:
    from careamics_dask.config import DataConfig
    from careamics_dask.factory import PredData, create_pred_dataset

    return create_pred_dataset(DataConfig(**config_values()), PredData(str(store)))


def check_output(store: Path, out: Path, path: str) -> float:
    """Max relative error of the last sample's prediction against its input."""
    import zarr

    source = zarr.open_array(store, path=ARRAY, mode="r")
    result = zarr.open_array(out, path=path, mode="r")
    last = source.shape[0] - 1
    expected = source[last].astype(np.float32)
    return float(np.max(np.abs(result[last] - expected) / np.maximum(expected, 1)))


def bench_ours(
    store: Path, out: Path, client: Any, run_on: str, prefetch: int
) -> dict[str, Any]:
    from careamics_dask import predict_to_zarr

    shutil.rmtree(out, ignore_errors=True)
    shape = tuple(int(s) for s in dataset_of(store).input_shapes[0])
    pids = list(client.run(os.getpid).values()) if client is not None else []
    client_base = rss_bytes()
    worker_base = [rss_bytes(pid) for pid in pids]
    workers = [PeakMemory(lambda pid=pid: [pid]) for pid in pids]
    for monitor in workers:
        monitor.__enter__()
    with PeakMemory() as mine:
        start = time.perf_counter()
        summary = predict_to_zarr(
            dataset_of(store),
            identity,
            out,
            client,
            run_on=run_on,  # type: ignore[arg-type]
            prefetch=prefetch,
        )
        seconds = time.perf_counter() - start
    for monitor in workers:
        monitor.__exit__()
    input_mib = np.prod(shape) * 2 / MIB
    result = {
        "run_on": run_on,
        "shape": list(shape),
        "tiles": summary.n_tiles,
        "seconds": seconds,
        "input MiB/s": input_mib / seconds,
        "tiles/s": summary.n_tiles / seconds,
        "output GiB on disk": du(out) / 2**30,
        "client peak RSS MiB": mine.peak / MIB,
        "client RSS before MiB": client_base / MIB,
        "worker peak RSS MiB": [m.peak / MIB for m in workers],
        "worker RSS before MiB": [b / MIB for b in worker_base],
        "max relative error (last sample)": check_output(store, out, "0"),
    }
    shutil.rmtree(out, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return result


def machine() -> dict[str, Any]:
    import dask
    import distributed
    import zarr

    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "zarr": zarr.__version__,
        "memory GiB": round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
        ),
        "load average at start": os.getloadavg(),
    }


def print_report(results: dict[str, Any]) -> None:
    print("\n== prediction ==")
    print(
        f"load average: start {results['machine']['load average at start']}, end "
        f"{results['load average at end']}"
    )
    for run in results["ours"]:
        workers = ", ".join(f"{v:.0f}" for v in run["worker peak RSS MiB"])
        print(
            f"{run['label']:<28} {run['seconds']:8.1f} s {run['input MiB/s']:7.1f} "
            f"MiB/s in {run['tiles/s']:7.1f} tiles/s | client peak "
            f"{run['client peak RSS MiB']:.0f} MiB | workers {workers} MiB | "
            f"err {run['max relative error (last sample)']:.1e}"
        )
    ref = results.get("reference")
    if ref:
        print(
            f"{'reference, ' + str(ref['samples']) + ' samples':<28} "
            f"tiles {ref['tiles s']:.1f} s + stitch {ref['stitch s']:.1f} s | peak "
            f"{ref['peak rss MiB']:.0f} MiB (growth {ref['rss growth MiB']:.0f} MiB, "
            f"output {ref['output MiB']:.0f} MiB)"
        )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--ref-samples", type=int, default=4)
    parser.add_argument("--prefetch", type=int, default=8)
    parser.add_argument("--modes", default="client,workers")
    parser.add_argument("--root", default="/tmp/careamics-bench")
    parser.add_argument("--ref-python", default=str(REPO / ".venv-ref/bin/python"))
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=None)
    parser.add_argument("--as-reference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.size_gib, args.ref_samples = 0.25, 2
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.as_reference:
        reference_main(args)
        return
    from distributed import Client, LocalCluster

    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    shape = store_shape(args.size_gib)
    store = ensure_store(root / f"predict-{shape[0]}x{shape[1]}.zarr", shape)
    small_shape = (min(args.ref_samples, shape[0]), shape[1], shape[2])
    small = ensure_store(
        root / f"predict-{small_shape[0]}x{shape[1]}.zarr", small_shape
    )
    results: dict[str, Any] = {"machine": machine(), "ours": []}
    out = root / "prediction.zarr"
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as client,
    ):
        for run_on in args.modes.split(","):
            run = bench_ours(store, out, client, run_on, args.prefetch)
            run["label"] = f"ours {run_on}, {shape[0]} samples"
            results["ours"].append(run)
        run = bench_ours(small, out, client, "client", args.prefetch)
        run["label"] = f"ours client, {small_shape[0]} samples"
        results["ours"].append(run)
    if not args.no_reference:
        results["reference"] = run_reference(args, small)
        results["reference"]["samples"] = small_shape[0]
    results["load average at end"] = os.getloadavg()
    print_report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
