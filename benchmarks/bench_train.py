"""Training benchmark: N2V quality and the training step's share of wall time.

CAREamics 0.3.5's own ``N2VModule`` (from ``create_n2v_config``) trains the same
number of steps fed two ways: by CAREamics' own data module (its dataset and
``DataLoader``) and by ``careamics_dask.lightning.CareamicsDataModule`` (local
threads; one run on an embedded cluster too). The data: the demo's cells (bright
Gaussian blobs on a background, ``app.demo.synthetic_image`` without its noise)
with Poisson-Gaussian noise; quality is the PSNR of the trained UNet's prediction
of a held-out image against its ground truth, the median over seeds. The share is
the time inside Lightning's training batches over the wall time from the first
batch's start to the last one's end, less validation (the rest is waiting for
batches and the loop's own work). Runs in the reference environment::

    .venv-ref/bin/python benchmarks/bench_train.py --json benchmarks/results/train.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--size", type=int, default=256, help="image side")
    parser.add_argument("--images", type=int, default=4, help="training images")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", type=Path, default=None, help="write results here")
    parser.add_argument(
        "--no-embedded", action="store_true", help="skip the embedded-cluster run"
    )
    parser.add_argument(
        "--embedded-only",
        action="store_true",
        help="only the embedded-cluster runs, one per seed",
    )
    return parser.parse_args()


def cells(shape: tuple[int, int], seed: int, n_blobs: int = 40) -> np.ndarray:
    """The demo's clean image (``synthetic_image`` before its noise)."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*(np.arange(s, dtype=np.float32) for s in shape), indexing="ij")
    image = np.full(shape, 100.0, dtype=np.float32)
    for _ in range(n_blobs):
        centre = [rng.uniform(0, s) for s in shape]
        sigma = rng.uniform(1.5, max(2.0, min(shape) / 40))
        dist2 = sum((g - c) ** 2 for g, c in zip(grids, centre, strict=True))
        image += rng.uniform(300, 2000) * np.exp(-dist2 / (2 * sigma**2))
    return image


def noisy(clean: np.ndarray, seed: int) -> np.ndarray:
    """Poisson (one photon per 100 grey levels) plus Gaussian (sigma 50) noise."""
    rng = np.random.default_rng(seed + 1000)
    photons = rng.poisson(clean / 100.0) * 100.0
    return (photons + rng.normal(0, 50, clean.shape)).astype(np.float32)


def psnr(gt: np.ndarray, pred: np.ndarray) -> float:
    mse = float(np.mean((gt.astype(np.float64) - pred) ** 2))
    return 10 * np.log10(float(gt.max() - gt.min()) ** 2 / mse)


def _stats(datamodule: Any) -> tuple[float, float]:
    config = datamodule.train_dataset.config.normalization
    if config.input_means is None:  # CAREamics' data module keeps them elsewhere
        config = datamodule.config.normalization
    return float(config.input_means[0]), float(config.input_stds[0])


def train_once(
    feeder: str, seed: int, data: dict[str, np.ndarray], steps: int
) -> dict[str, Any]:
    import lightning.pytorch as pl
    import torch
    from careamics.config import create_n2v_config
    from careamics.lightning.data import CareamicsDataModule as ReferenceModule
    from careamics.lightning.modules import create_module

    from careamics_dask import TrainValData
    from careamics_dask.lightning import CareamicsDataModule

    config = create_n2v_config(
        experiment_name=f"bench_{feeder}_{seed}",
        data_type="array",
        axes="SYX",
        patch_size=[64, 64],
        batch_size=16,
    )
    config.data_config.seed = seed + 1  # CAREamics wants seeds > 0
    config.data_config.patching.seed = seed + 1
    if feeder == "careamics":
        datamodule: Any = ReferenceModule(
            config.data_config, train_data=data["train"], val_data=data["val"]
        )
    else:
        cluster = "embedded" if feeder == "careamics_dask embedded" else None
        datamodule = CareamicsDataModule.from_config(
            config, TrainValData(data["train"], data["val"]), cluster=cluster,
            n_workers=2 if cluster else None,
        )  # fmt: skip

    class Share(pl.Callback):
        def __init__(self) -> None:
            self.inside = 0.0
            self.validating = 0.0
            self.first: float | None = None
            self.last = 0.0

        def on_train_batch_start(self, *_: Any) -> None:
            self.t0 = time.perf_counter()
            self.first = self.t0 if self.first is None else self.first

        def on_train_batch_end(self, *_: Any) -> None:
            self.last = time.perf_counter()
            self.inside += self.last - self.t0

        def on_validation_start(self, *_: Any) -> None:
            self.v0 = time.perf_counter()

        def on_validation_end(self, *_: Any) -> None:
            self.validating += time.perf_counter() - self.v0

    torch.manual_seed(seed)
    module = create_module(config.algorithm_config)
    share = Share()
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=steps, logger=False, callbacks=[share],
        enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=2,
    )  # fmt: skip
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    wall = time.perf_counter() - start
    mean, std = _stats(datamodule)
    net = module.model.eval()
    with torch.inference_mode():
        x = torch.from_numpy((data["test"] - mean) / std)[None, None]
        pred = net(x)[0, 0].numpy() * std + mean
    assert share.first is not None
    return {
        "feeder": feeder,
        "seed": seed,
        "steps": int(trainer.global_step),
        "psnr": psnr(data["gt"], pred),
        "share": share.inside / (share.last - share.first - share.validating),
        "fit s": wall,
    }


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    shape = (args.size, args.size)
    clean = np.stack([cells(shape, 97 * i) for i in range(args.images + 2)])
    images = np.stack([noisy(c, i) for i, c in enumerate(clean)])
    data = {
        "train": images[: args.images],
        "val": images[args.images : args.images + 1],
        "test": images[-1],
        "gt": clean[-1],
    }
    runs = []
    embedded = "careamics_dask embedded"
    plan = [(f, s) for s in args.seeds for f in ("careamics", "careamics_dask")]
    if args.embedded_only:
        plan = [(embedded, s) for s in args.seeds]
    elif not args.no_embedded:
        plan.append((embedded, args.seeds[0]))
    for feeder, seed in plan:
        runs.append(train_once(feeder, seed, data, args.steps))
        print(json.dumps(runs[-1]), flush=True)
    summary: dict[str, Any] = {"noisy psnr": psnr(data["gt"], data["test"])}
    for feeder in ("careamics", "careamics_dask", "careamics_dask embedded"):
        mine = [r for r in runs if r["feeder"] == feeder]
        if not mine:
            continue
        summary[feeder] = {
            "median psnr": statistics.median(r["psnr"] for r in mine),
            "median share": statistics.median(r["share"] for r in mine),
            "runs": len(mine),
        }
    if "careamics" in summary and "careamics_dask" in summary:
        summary["psnr gap dB"] = (
            summary["careamics_dask"]["median psnr"]
            - summary["careamics"]["median psnr"]
        )
    result = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "machine": {"nproc": os.cpu_count(), "cpu": platform.processor()},
        "runs": runs,
        "summary": summary,
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
