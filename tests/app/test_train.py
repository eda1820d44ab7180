"""``careamics-dask train``: the run file's checks (everywhere) and a real training
run with CAREamics' modules (where careamics is installed: the reference env)."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import yaml

from careamics_dask.app.runfile import RunFile, RunFileError, load_run_file
from careamics_dask.app.train import load_train_run, require_careamics
from careamics_dask.config import DataConfig, save_config
from careamics_dask.errors import MissingDependencyError
from tests.predict.helpers import write_zarr

if TYPE_CHECKING:
    from pathlib import Path

HAS_CAREAMICS = importlib.util.find_spec("careamics") is not None
RNG = np.random.default_rng(3)
CLEAN = np.kron(RNG.uniform(200, 2000, (3, 4, 4)), np.ones((16, 16)))
NOISY = (CLEAN + RNG.normal(0, 150, CLEAN.shape)).astype(np.float32)
ALGORITHM = {"name": "n2v", "depth": 1, "num_channels_init": 8, "steps": 6}


def write_run(folder: Path, mode: str = "training", **changes: Any) -> Path:
    write_zarr(folder / "in.zarr", NOISY, (1, 32, 32))
    write_zarr(folder / "gt.zarr", CLEAN.astype(np.float32), (1, 32, 32))
    config = DataConfig(
        mode=mode,
        data_type="zarr",
        axes="SYX",
        patching={"name": "stratified", "patch_size": [32, 32]}
        if mode == "training"
        else {"name": "tiled", "patch_size": [32, 32], "overlaps": [8, 8]},
        normalization={"name": "mean_std"},
        batch_size=4,
        seed=2,
    )
    save_config(config, folder / "config.yml")
    run = {
        "data": {"inputs": "in.zarr", "n_val_patches": 2},
        "config": "config.yml",
        "cluster": {"local": True},
        "algorithm": {**ALGORITHM, "checkpoints": "ckpt"},
        **changes,
    }
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(run))
    return path


def _without(run: Path, field: str) -> Path:
    content = yaml.safe_load(run.read_text())
    del content[field]
    run.write_text(yaml.safe_dump(content))
    return run


def test_a_run_file_without_an_algorithm_names_the_fix(tmp_path: Path) -> None:
    run = _without(write_run(tmp_path), "algorithm")
    with pytest.raises(RunFileError, match=r"'algorithm'.*algorithm: \{name: n2v"):
        load_train_run(run)


def test_one_run_file_serves_every_verb(tmp_path: Path) -> None:
    run = write_run(tmp_path, model="numpy:negative")
    assert type(load_run_file(run)) is RunFile  # batches/export ignore algorithm
    assert load_train_run(run).algorithm.checkpoints == tmp_path / "ckpt"


def test_train_needs_a_training_config_and_targets_for_care(tmp_path: Path) -> None:
    with pytest.raises(RunFileError, match="mode: training"):
        load_train_run(write_run(tmp_path, mode="predicting"))
    care = {**ALGORITHM, "name": "care"}
    with pytest.raises(RunFileError, match=r"'data.targets'.*name: n2v"):
        load_train_run(write_run(tmp_path, algorithm=care))


@pytest.mark.skipif(HAS_CAREAMICS, reason="careamics is installed here")
def test_without_careamics_train_names_the_extra_and_the_recipe() -> None:
    with pytest.raises(MissingDependencyError, match=r"reference_env\.sh") as caught:
        require_careamics()
    assert caught.value.extra == "lightning"
    assert "reference_env.md" in str(caught.value)


@pytest.mark.torch
@pytest.mark.skipif(not HAS_CAREAMICS, reason="needs careamics (the reference env)")
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")
def test_train_checkpoint_resume_and_predict(tmp_path: Path) -> None:
    import torch

    from careamics_dask.app.predict_run import run_prediction
    from careamics_dask.app.train import load_model, run_training

    torch.set_num_threads(1)
    run = write_run(tmp_path)
    first = run_training(run, progress=False)
    last = tmp_path / "ckpt" / "last.ckpt"
    assert first.steps == 6
    assert first.checkpoint == last
    assert last.exists()
    with pytest.raises(FileExistsError, match="--resume"):
        run_training(run, progress=False)

    more = write_run(
        tmp_path, algorithm={**ALGORITHM, "steps": 10, "checkpoints": "ckpt"}
    )
    resumed = run_training(more, resume=True, progress=False)
    assert resumed.steps == 10  # continued from step 6, not from 0

    pairs = {"inputs": "in.zarr", "targets": "gt.zarr", "n_val_patches": 2}
    care = {**ALGORITHM, "name": "care", "checkpoints": "ckpt"}
    other = write_run(tmp_path, algorithm=care, data=pairs)
    with pytest.raises(ValueError, match="trained with n2v"):
        run_training(other, resume=True, progress=False)
    fresh = write_run(tmp_path, algorithm={**care, "checkpoints": "new"}, data=pairs)
    with pytest.raises(FileNotFoundError, match="without --resume"):
        run_training(fresh, resume=True, progress=False)

    assert isinstance(load_model(last), torch.nn.Module)
    (tmp_path / "p").mkdir()
    predict = write_run(
        tmp_path / "p",
        mode="predicting",
        data={"inputs": "in.zarr"},
        model="careamics_dask.app.train:load_model",
        model_kwargs={"checkpoint": str(last)},
    )
    summary = run_prediction(predict, tmp_path / "pred.zarr", progress=False)
    assert summary.n_predicted == summary.n_tiles > 0
