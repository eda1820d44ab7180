"""CAREamics' own Lightning modules train from the data module (reference env).

Run in the environment ``.ci/reference_env.sh`` builds (careamics 0.3.5); skipped
where careamics is not installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("lightning")
pytest.importorskip("careamics")

import lightning.pytorch as pl
import torch

from careamics_dask.factory import TrainValData
from careamics_dask.lightning import CareamicsDataModule

pytestmark = pytest.mark.torch

FACTORIES = {
    "n2v": "create_n2v_config",
    "care": "create_care_config",
    "n2n": "create_n2n_config",
}


class Losses(pl.Callback):
    """Record the training loss of every step."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(
        self, trainer: Any, module: Any, outputs: Any, *_: Any
    ) -> None:
        self.losses.append(float(outputs["loss"]))


def _data(algorithm: str) -> tuple[Any, TrainValData[Any]]:
    """CAREamics' own configuration, from its factory, and the data to train on."""
    careamics_config = pytest.importorskip("careamics.config")
    factory = getattr(careamics_config, FACTORIES[algorithm])
    config = factory(
        experiment_name=f"careamics_dask_{algorithm}",
        data_type="array",
        axes="SYX",
        patch_size=[32, 32],  # N2V's blind spots need at least 32 x 32
        batch_size=8,
    )
    rng = np.random.default_rng(0)
    coarse = rng.uniform(200, 2000, (4, 8, 8))
    clean = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2).astype(np.float32)
    noisy = (clean + rng.normal(0, 150, clean.shape)).astype(np.float32)
    if algorithm == "n2v":
        return config, TrainValData(noisy, noisy[:1])
    target = clean if algorithm == "care" else noisy[::-1].copy()
    return config, TrainValData(noisy, noisy[:1], target, target[:1])


def _fit(module: Any, datamodule: CareamicsDataModule, steps: int) -> list[float]:
    torch.manual_seed(0)
    losses = Losses()
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=steps,
        callbacks=[losses],
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=datamodule)
    return losses.losses


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings(
    "ignore:.*LeafSpec.*:FutureWarning"
)  # lightning on torch 2.13
@pytest.mark.parametrize("algorithm", sorted(FACTORIES))
def test_careamics_modules_train_from_the_data_module(algorithm: str) -> None:
    create_module = pytest.importorskip("careamics.lightning.modules").create_module
    torch.set_num_threads(1)
    config, data = _data(algorithm)
    module = create_module(config.algorithm_config)
    datamodule = CareamicsDataModule.from_config(config, data)
    assert datamodule.train_dataset is not None
    patching = datamodule.train_dataset.config.patching.model_dump()
    assert patching["patch_size"] == [32, 32]  # CAREamics' config, read as ours
    losses = _fit(module, datamodule, steps=24)
    assert len(losses) == 24
    first, last = np.mean(losses[:4]), np.mean(losses[-4:])
    assert last < first, losses
