"""Peers: xbatcher on the benchmark store, 64 x 64 patches in batches of 32.

xbatcher (``BatchGenerator``) cuts an ``xarray.DataArray`` into a grid of patches;
its PyTorch adapter (``xbatcher.loaders.torch.MapDataset``) serves them one by one to
a torch ``DataLoader`` that shuffles and collates 32 per batch: the path its
documentation gives for training. The DataArray is the factory benchmark's Zarr
store (``_common.ensure_store``: uint16 ``S x 4096 x 4096``, chunks
``1 x 256 x 256``, zstd) opened with ``xarray.open_zarr``:

- ``chunks=None``: xarray's lazily indexed Zarr backend (one zarr-python read per
  patch);
- ``chunks={}``: Dask arrays with the storage chunks (one Dask graph per patch).

Zarr v3 needs dimension names to be opened by xarray and the benchmark stores have
none, so the script builds a view next to the store: the same ``zarr.json`` plus
``dimension_names``, with the chunk folder a symbolic link to the store's (the same
bytes, nothing copied).

Patches of the grid are aligned with the storage chunks (each reads one chunk),
where random patches read 1.5 on average: xbatcher's figure is, if anything,
favoured. Naive ``dask.array`` slicing, zarr-python slicing and the raw decode limit
are in ``bench_factory.py`` (same store, same patches).

    .venv/bin/python benchmarks/bench_peers.py --json peers.json
    .venv/bin/python benchmarks/bench_peers.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ARRAY, CpuMeter, ensure_store, store_shape

PATCH = 64
BATCH = 32
DEFAULT_CACHE = (
    Path(os.environ["XDG_CACHE_HOME"], "careamics-dask-bench")
    if os.environ.get("XDG_CACHE_HOME")
    else Path("/tmp/careamics_dask_bench")
)


def family() -> list[int]:
    import psutil  # type: ignore[import-untyped]

    return [os.getpid(), *(c.pid for c in psutil.Process().children(recursive=True))]


def xarray_view(store: Path) -> Path:
    """A Zarr v3 group with the store's array, named dimensions, chunks linked."""
    view = store.with_name(store.name.removesuffix(".zarr") + "-xarray.zarr")
    array = view / ARRAY
    array.mkdir(parents=True, exist_ok=True)
    (view / "zarr.json").write_text((store / "zarr.json").read_text())
    meta = json.loads((store / ARRAY / "zarr.json").read_text())
    meta["dimension_names"] = ["s", "y", "x"]
    (array / "zarr.json").write_text(json.dumps(meta, indent=2))
    link = array / "c"
    if not link.is_symlink():
        link.symlink_to((store / ARRAY / "c").resolve(), target_is_directory=True)
    return view


def run_xbatcher(
    view: Path, *, dask_chunks: bool, workers: int, n_batches: int
) -> dict[str, Any]:
    import torch
    import xarray as xr
    import xbatcher
    from xbatcher.loaders.torch import MapDataset

    data = xr.open_zarr(
        view, chunks={} if dask_chunks else None, consolidated=False, zarr_format=3
    )[ARRAY]
    generator = xbatcher.BatchGenerator(
        data, input_dims={"s": 1, "y": PATCH, "x": PATCH}
    )
    loader = torch.utils.data.DataLoader(
        MapDataset(generator),
        batch_size=BATCH,
        shuffle=True,
        num_workers=workers,
        generator=torch.Generator().manual_seed(0),
    )
    batches = iter(loader)
    start = time.perf_counter()
    first = next(batches)
    first_s = time.perf_counter() - start
    shape = tuple(first.shape)
    for _ in range(2 * workers + 1):  # what the loader's workers prefetched meanwhile
        next(batches)
    clock = CpuMeter(family).start()
    patches = 0
    start = time.perf_counter()
    for _ in range(n_batches):
        patches += len(next(batches))
    wall = time.perf_counter() - start
    cpu = clock.stop()
    del batches
    return {
        "backend": "dask (storage chunks)" if dask_chunks else "xarray lazy (zarr)",
        "DataLoader workers": workers,
        "items": len(generator),
        "batch shape": list(shape),
        "batches": n_batches,
        "patches/s": patches / wall,
        "patches per CPU-s": patches / cpu if cpu > 0 else float("nan"),
        "first batch s": first_s,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=4.0, help="store size")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.size_gib, args.batches = 0.5, 30
    from importlib.metadata import version

    args.cache_dir.mkdir(parents=True, exist_ok=True)
    shape = store_shape(args.size_gib)
    store = ensure_store(args.cache_dir / f"bench-{shape[0]}x{shape[1]}.zarr", shape)
    view = xarray_view(store)
    results: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "quick": args.quick,
        "store": {"shape": list(shape), "path": str(store)},
        "versions": {n: version(n) for n in ("xbatcher", "xarray", "torch", "zarr")},
        "load average at start": os.getloadavg()[0],
        "xbatcher": [],
    }
    for dask_chunks, workers in ((False, 0), (False, 2), (True, 0)):
        row = run_xbatcher(
            view, dask_chunks=dask_chunks, workers=workers, n_batches=args.batches
        )
        print(json.dumps(row), flush=True)
        results["xbatcher"].append(row)
    results["load average at end"] = os.getloadavg()[0]
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
