"""A tiny training run in its own process, for the DDP and kill-and-resume tests.

``python -m tests.lightning.run_training OUT [--devices 2] [--kill-at N]
[--resume CKPT] [--cluster embedded]`` trains a 1x1 convolution on a small array
dataset through :class:`~careamics_dask.lightning.CareamicsDataModule` and appends,
for every training step, ``rank epoch batch_idx index,index,...`` to
``OUT/batches-RANK.txt``. ``--kill-at N`` kills the process (SIGKILL) at global
step N, after the checkpoint of step N-1 was written to ``OUT/ckpt``.
"""

from __future__ import annotations

import argparse
import os
import signal
import warnings
from pathlib import Path
from typing import Any

import numpy as np


def dataset_pair(
    n_images: int, batch_size: int, folder: Path | None = None
) -> tuple[Any, Any]:
    """Return training and validation datasets over random images.

    In memory, or in Zarr stores written to ``folder`` (what ranks sharing one
    cluster read).
    """
    from careamics_dask.config import DataConfig
    from careamics_dask.factory import TrainValData, create_train_val_datasets

    rng = np.random.default_rng(0)
    images: Any = rng.uniform(0, 100, (n_images, 32, 32)).astype(np.float32)
    validation: Any = images[:2]
    if folder is not None:
        import zarr

        for name, array in (("train", images), ("val", validation)):
            path = folder / f"{name}.zarr"
            if not path.exists():
                zarr.create_array(store=str(path), data=array, chunks=(1, 32, 32))
        images, validation = str(folder / "train.zarr"), str(folder / "val.zarr")
    config = DataConfig(
        mode="training",
        data_type="zarr" if folder is not None else "array",
        axes="SYX",
        patching={"name": "stratified", "patch_size": [16, 16]},
        normalization={"name": "mean_std"},
        batch_size=batch_size,
        seed=5,
    )
    return create_train_val_datasets(config, TrainValData(images, validation))


def main(argv: list[str] | None = None) -> None:
    """Train, recording the batches of every step."""
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--resume", default=None)
    parser.add_argument("--cluster", default=None)
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)

    import lightning.pytorch as pl
    import torch

    from careamics_dask.lightning import CareamicsDataModule

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Conv2d(1, 1, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            region = batch[0]
            indices = ",".join(str(int(i)) for i in region.region_spec["index"])
            path = out / f"batches-{self.global_rank}.txt"
            with path.open("a") as handle:
                handle.write(
                    f"{self.global_rank} {self.current_epoch} {batch_idx} {indices}\n"
                )
            if args.kill_at and self.global_step == args.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            x = region.data
            loss = torch.nn.functional.mse_loss(self.net(x), x)
            self.log("loss", loss, batch_size=x.shape[0])
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x = batch[0].data
            loss = torch.nn.functional.mse_loss(self.net(x), x)
            self.log("val_loss", loss, batch_size=x.shape[0], sync_dist=True)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    folder = out / "data" if args.cluster else None
    if folder is not None:
        folder.mkdir(exist_ok=True)
    train, val = dataset_pair(args.images, batch_size=4, folder=folder)
    datamodule = CareamicsDataModule(train, val, cluster=args.cluster, n_workers=1)
    checkpoints = pl.callbacks.ModelCheckpoint(
        dirpath=out / "ckpt", every_n_train_steps=1, save_top_k=-1, save_last=True
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=args.devices,
        strategy="ddp" if args.devices > 1 else "auto",
        max_epochs=args.epochs,
        callbacks=[checkpoints],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(Tiny(), datamodule=datamodule, ckpt_path=args.resume)


if __name__ == "__main__":
    main()
