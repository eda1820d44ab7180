from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from careamics_dask.app.demo import write_demo_data
from careamics_dask.app.run_datasets import build_datasets, select_dataset
from careamics_dask.app.runfile import RunFile
from tests.app.configs import CONFIG

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_demo_data(
        tmp_path / "data.zarr", n_samples=2, spatial=(32, 32), chunks=(16, 16)
    )


def test_build_datasets_by_mode(store: Path) -> None:
    split = RunFile.model_validate(
        {"data": {"inputs": str(store), "n_val_patches": 2}, "config": CONFIG}
    )
    datasets = build_datasets(split)
    assert list(datasets) == ["train", "val"]
    assert len(datasets["val"]) == 2
    assert select_dataset(split, datasets)[0] == "train"

    alone = RunFile.model_validate({"data": {"inputs": str(store)}, "config": CONFIG})
    assert list(build_datasets(alone)) == ["train"]

    validating = {
        **CONFIG,
        "mode": "validating",
        "patching": {"name": "fixed_random", "patch_size": [16, 16]},
    }
    run = RunFile.model_validate(
        {"data": {"inputs": str(store)}, "config": validating, "dataset": "train"}
    )
    datasets = build_datasets(run)
    assert list(datasets) == ["val"]
    with pytest.raises(ValueError, match="expected one of \\['val'\\]"):
        select_dataset(run, datasets)

    predicting = {
        **CONFIG,
        "mode": "predicting",
        "patching": {"name": "tiled", "patch_size": [16, 16], "overlaps": [4, 4]},
    }
    run = RunFile.model_validate({"data": {"inputs": str(store)}, "config": predicting})
    assert list(build_datasets(run)) == ["predict"]


def test_training_only_fields_need_a_training_config(store: Path) -> None:
    validating = {
        **CONFIG,
        "mode": "validating",
        "patching": {"name": "fixed_random", "patch_size": [16, 16]},
    }
    run = RunFile.model_validate(
        {"data": {"inputs": str(store), "n_val_patches": 2}, "config": validating}
    )
    with pytest.raises(ValueError, match="need a training config"):
        build_datasets(run)


def test_separate_validation_data(store: Path) -> None:
    run = RunFile.model_validate(
        {"data": {"inputs": str(store), "val_inputs": str(store)}, "config": CONFIG}
    )
    datasets = build_datasets(run)
    assert list(datasets) == ["train", "val"]
    assert datasets["val"].config.mode == "validating"
