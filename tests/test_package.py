"""The public surface: everything design.md names is exported, nothing heavy is."""

from __future__ import annotations

import subprocess
import sys

import careamics_dask
from careamics_dask import factory

FACTORY_API = [
    "ReadFuncLoading",
    "ImageStackLoading",
    "Loading",
    "TrainValData",
    "TrainValSplitData",
    "PredData",
    "create_dataset",
    "create_train_dataset",
    "create_train_val_datasets",
    "create_val_split_datasets",
    "create_pred_dataset",
    "select_image_stack_loader",
    "select_patch_extractor_type",
    "init_patch_extractor",
    "PatchExtractor",
    "LimitFilesPatchExtractor",
]


def test_factory_api_exported_everywhere() -> None:
    for name in FACTORY_API:
        assert name in factory.__all__, name
        assert name in careamics_dask.__all__, name
        assert getattr(careamics_dask, name) is getattr(factory, name)


def test_all_sorted_and_importable() -> None:
    assert careamics_dask.__all__ == sorted(careamics_dask.__all__)
    for name in careamics_dask.__all__:
        assert hasattr(careamics_dask, name), name


def test_import_pulls_no_optional_or_zarr_modules() -> None:
    code = (
        "import sys, careamics_dask; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'zarr', 'pylibCZIrw', 'bioio', 'torch', 'tifffile'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
