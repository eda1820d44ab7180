"""Draw the README's pictures from a small synthetic OME-Zarr store.

Run from the repository root (about ten seconds on 2 cores)::

    python docs/make_images.py            # writes docs/images/*.png
    python docs/make_images.py --out DIR  # elsewhere

The store (2 samples x 3 channels x 2048 x 2048, uint16, 48 MiB) is written once
into the demo cache (``$XDG_CACHE_HOME/careamics-dask``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dask.config
import numpy as np

import careamics_dask as cd
from careamics_dask.app.demo_render import DemoStoreSpec
from careamics_dask.app.demo_store import default_cache_dir, ensure_demo_store
from careamics_dask.plot import plot_filter_map, plot_patch_origins, plot_patches

SPEC = DemoStoreSpec(n_samples=2, n_channels=3, size=2048, chunk=256, seed=3)
DPI = 72


def main(out: Path) -> list[Path]:
    """Write the pictures; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    store, _ = ensure_demo_store(default_cache_dir(), SPEC)
    config = cd.DataConfig(
        mode="training",
        data_type="zarr",
        axes="SCYX",
        channels=[0, 1],
        patching={"name": "stratified", "patch_size": [128, 128]},
        normalization={"name": "mean_std"},
        patch_filter={"name": "max", "threshold": SPEC.threshold},
        batch_size=16,
        seed=7,
    )
    with dask.config.set(scheduler="threads"):
        train, val = cd.create_val_split_datasets(
            config, cd.TrainValSplitData(str(store), n_val_patches=24)
        )
        figures = {
            "patches": plot_patches(train, n=6, seed=1),
            "patch-origins": plot_patch_origins(train, val, epochs=1, max_side=512),
            "filter-map": plot_filter_map(train, max_side=512),
        }
    paths = []
    for name, figure in figures.items():
        path = out / f"{name}.png"
        figure.savefig(path, dpi=DPI, pil_kwargs={"optimize": True})
        paths.append(path)
        print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "images")
    np.seterr(all="ignore")
    main(parser.parse_args().out)
