"""Patch-table benchmark: careamics_dask.patching next to the CAREamics reference.

Shapes: N samples of SIZE x SIZE with PATCH x PATCH patches. For careamics_dask it
times building the strategies, one epoch table (about N * (SIZE / PATCH)**2 patches),
setting region weights (a background fraction at weight 0.1, as a filter would) and
the validation split. Where `careamics` (the reference) is importable, it times the
reference's strategies on the same shapes at a smaller sample count (its epoch is
`get_patch_spec` over every index) and careamics_dask at that count too, so the
ratios compare like with like.

    .venv/bin/python benchmarks/bench_patching.py                  # ours only
    .venv-ref/bin/python benchmarks/bench_patching.py --ref-samples 50
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.patching import (
    RandomPatching,
    StratifiedPatching,
    TiledPatching,
    create_val_split,
)

if TYPE_CHECKING:
    from collections.abc import Callable


def timed(function: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Return the best wall time of ``repeat`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def region_weights(n_regions: int, background: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n_regions) < background, 0.1, 1.0)


def bench_ours(args: argparse.Namespace, n_samples: int) -> dict[str, float]:
    shapes = [(1, 1, args.size, args.size)] * n_samples
    patch = [args.patch, args.patch]
    times: dict[str, float] = {}
    times["random: build"], random = timed(lambda: RandomPatching(shapes, patch, 1))
    times["random: epoch table"], table = timed(
        lambda: random.table(int(np.random.default_rng().integers(1 << 30))),
        args.repeat,
    )
    times["patches per epoch"] = len(table)

    def build_stratified() -> StratifiedPatching:
        patching = StratifiedPatching(shapes, patch, seed=1)
        _ = patching.n_patches  # counts and bin packing
        return patching

    times["stratified: build"], stratified = timed(build_stratified, args.repeat)
    times["stratified: epoch table"], _ = timed(
        lambda: stratified.table(int(np.random.default_rng().integers(1 << 30))),
        args.repeat,
    )
    weights = region_weights(len(stratified.all_grid_coords), args.background, 2)

    def weigh() -> StratifiedPatching:
        patching = stratified.copy()
        patching.set_all_region_weights(weights)
        _ = patching.n_patches
        return patching

    times["stratified: set region weights"], weighted = timed(weigh, args.repeat)
    times["weighted: epoch table"], _ = timed(
        lambda: weighted.table(int(np.random.default_rng().integers(1 << 30))),
        args.repeat,
    )

    def split() -> tuple[Any, Any]:
        train, val = create_val_split(weighted, args.n_val, rng_or_seed=3)
        _ = train.n_patches
        return train, val

    times["weighted: validation split"], _ = timed(split, args.repeat)
    times["stratified + weights + split"] = (
        times["stratified: build"]
        + times["stratified: set region weights"]
        + times["weighted: validation split"]
    )
    times["tiled (overlap 16): build"], _ = timed(
        lambda: TiledPatching(shapes, patch, [16, 16]), args.repeat
    )
    return times


def bench_reference(args: argparse.Namespace, n_samples: int) -> dict[str, float]:
    from careamics.dataset.factory.val_split import create_val_split as ref_split
    from careamics.dataset.patching import RandomPatching as RefRandom
    from careamics.dataset.patching import StratifiedPatching as RefStratified
    from careamics.dataset.patching import TiledPatching as RefTiled

    shapes = [(1, 1, args.size, args.size)] * n_samples
    patch = [args.patch, args.patch]
    times: dict[str, float] = {}
    times["random: build"], random = timed(lambda: RefRandom(shapes, patch, 1))
    times["random: epoch table"], _ = timed(
        lambda: [random.get_patch_spec(i) for i in range(random.n_patches)]
    )
    times["patches per epoch"] = int(random.n_patches)
    times["stratified: build"], stratified = timed(
        lambda: RefStratified(shapes, patch, 1)
    )
    times["stratified: epoch table"], _ = timed(
        lambda: [stratified.get_patch_spec(i) for i in range(stratified.n_patches)]
    )
    cells = stratified.get_all_grid_coords()
    weights = region_weights(sum(len(c) for c in cells.values()), args.background, 2)

    def weigh() -> None:
        # as filter_background does: one set_region_probs per sample, filtered only
        offset = 0
        for (data_idx, sample_idx), grid in cells.items():
            values = weights[offset : offset + len(grid)]
            offset += len(grid)
            probs = {c: 0.1 for c, w in zip(grid, values, strict=True) if w < 1}
            stratified.set_region_probs(data_idx, sample_idx, probs)

    times["stratified: set region weights"], _ = timed(weigh)
    times["weighted: epoch table"], _ = timed(
        lambda: [stratified.get_patch_spec(i) for i in range(stratified.n_patches)]
    )
    times["weighted: validation split"], _ = timed(
        lambda: ref_split(stratified, args.n_val, np.random.default_rng(3))
    )
    times["stratified + weights + split"] = (
        times["stratified: build"]
        + times["stratified: set region weights"]
        + times["weighted: validation split"]
    )
    times["tiled (overlap 16): build"], _ = timed(
        lambda: RefTiled(shapes, patch, [16, 16])
    )
    return times


def print_table(columns: dict[str, dict[str, float]]) -> None:
    names = list(next(iter(columns.values())))
    width = max(len(n) for n in names) + 2
    print("".ljust(width) + "".join(f"{c:>24}" for c in columns))
    for name in names:
        cells = []
        for column, times in columns.items():
            value = times.get(name, float("nan"))
            if name == "patches per epoch":
                text = f"{int(value):,}"
            elif column.startswith("speed-up"):
                text = f"{value:,.0f} x" if value >= 10 else f"{value:.1f} x"
            else:
                text = f"{value:.3f} s"
            cells.append(f"{text:>24}")
        print(name.ljust(width) + "".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1000, help="samples (ours)")
    parser.add_argument("--size", type=int, default=2048, help="image side (pixels)")
    parser.add_argument("--patch", type=int, default=64, help="patch side (pixels)")
    parser.add_argument(
        "--ref-samples", type=int, default=50, help="samples for the reference run"
    )
    parser.add_argument("--n-val", type=int, default=1000, help="validation patches")
    parser.add_argument(
        "--background", type=float, default=0.3, help="fraction of regions at 0.1"
    )
    parser.add_argument("--repeat", type=int, default=3, help="best of (ours)")
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the reference"
    )
    parser.add_argument("--json", default="", help="also write the columns here")
    parser.add_argument(
        "--quick", action="store_true", help="200 samples, 20 for the reference"
    )
    args = parser.parse_args()
    if args.quick:
        args.samples, args.ref_samples = 200, 20

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{args.size}x{args.size} images, {args.patch}x{args.patch} patches, "
        f"{args.background:.0%} background regions at 0.1, {args.n_val} validation "
        "patches"
    )
    columns = {f"ours, {args.samples} samples": bench_ours(args, args.samples)}
    has_reference = False
    if not args.no_reference:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import careamics

            has_reference = True
            print(f"reference: careamics {careamics.__version__}")
        except ImportError:
            print("reference: careamics is not installed (run with .venv-ref)")
    if has_reference:
        n = args.ref_samples
        columns[f"ours, {n} samples"] = bench_ours(args, n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            columns[f"reference, {n} samples"] = bench_reference(args, n)
        ours, ref = columns[f"ours, {n} samples"], columns[f"reference, {n} samples"]
        columns[f"speed-up at {n}"] = {
            name: (ref[name] / ours[name] if name != "patches per epoch" else ref[name])
            for name in ref
        }
    print_table(columns)
    if args.json:
        import json
        import os
        import sys

        Path(args.json).write_text(
            json.dumps(
                {
                    "command": " ".join([Path(sys.executable).name, *sys.argv]),
                    "quick": args.quick,
                    "machine": {
                        "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "numpy": np.__version__,
                    },
                    "settings": {
                        "samples": args.samples,
                        "ref samples": args.ref_samples,
                        "size": args.size,
                        "patch": args.patch,
                        "n val": args.n_val,
                        "background": args.background,
                    },
                    "reference": has_reference,
                    "columns": columns,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
