"""Whole-file sources (custom read functions): each file decoded once per visit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from careamics_dask.config import DataConfig
from careamics_dask.factory import (
    LimitFilesPatchExtractor,
    ReadFuncLoading,
    TrainValSplitData,
    create_train_dataset,
    select_patch_extractor_type,
)
from careamics_dask.graph.reading import block_cache as stacks

READS: list[str] = []


def read_npy(path: Path, **kwargs: Any) -> np.ndarray:
    READS.append(Path(path).name)
    data: np.ndarray = np.load(path)
    return data


def test_each_file_decoded_once_per_epoch(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(3):
        np.save(tmp_path / f"img{i}.npy", rng.random((2, 40, 40), dtype=np.float32))
    config = DataConfig(
        mode="training",
        data_type="custom",
        axes="SYX",
        in_memory=False,
        patching={"name": "random", "patch_size": [16, 16]},
        normalization={"name": "none"},
        batch_size=4,
        seed=3,
    )
    loading = ReadFuncLoading(read_npy, extension_filter="*.npy")
    stacks._block_cache.clear()
    READS.clear()
    dataset = create_train_dataset(config, TrainValSplitData(tmp_path, 1), loading)
    probes = len(READS)
    assert probes == 3  # one shape probe per file at open
    batches = [dataset.batch(b, epoch=0) for b in range(dataset.n_batches())]
    assert sum(len(b) for b in batches) == len(dataset) == 3 * 2 * 9
    assert len(READS) - probes == 3  # one decode per file for all its batches
    first = np.load(tmp_path / "img0.npy")
    spec = batches[0].specs.row(0)
    y, x = spec["coords"]
    raw = first[spec["sample_idx"], y : y + 16, x : x + 16]
    # the first patch (possibly flipped or rotated) holds the same pixels
    assert np.isclose(
        np.sort(batches[0].input[0, 0].ravel()), np.sort(raw.ravel())
    ).all()


def test_lazy_tiff_and_custom_use_the_limit_files_extractor() -> None:
    assert (
        select_patch_extractor_type("custom", in_memory=False)
        is LimitFilesPatchExtractor
    )
    assert (
        select_patch_extractor_type("tiff", in_memory=True).__name__ == "PatchExtractor"
    )
