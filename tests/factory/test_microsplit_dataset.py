"""Tests of the MicroSplit dataset's construction: statistics and plain components."""

from __future__ import annotations

import numpy as np

from careamics_dask.config import MicroSplitDataConfig, MinMaxConfig
from careamics_dask.factory import (
    MicroSplitDataset,
    MultiChannelTarget,
    create_microsplit_dataset,
)
from careamics_dask.graph.transforms import XYFlip, XYRandomRotate90


def _config(**normalization: object) -> MicroSplitDataConfig:
    return MicroSplitDataConfig(
        mode="training",
        data_type="array",
        axes="SCYX",
        patching={"name": "stratified", "patch_size": [16, 16]},
        normalization={"name": "min_max", **normalization},
        batch_size=4,
        seed=3,
    )


def test_statistics_are_written_into_the_config_and_the_plan() -> None:
    data = np.ones((2, 2, 32, 32), np.float32) * np.array([2.0, 4.0]).reshape(
        1, 2, 1, 1
    )
    config = _config()
    dataset = create_microsplit_dataset(config, MultiChannelTarget(data))
    assert isinstance(dataset, MicroSplitDataset)
    norm = config.normalization
    assert isinstance(norm, MinMaxConfig)
    # the input plane is the mix of the channels; the targets are the channels
    assert norm.input_mins == [3.0]
    assert norm.target_mins == [2.0, 4.0]
    plan = dataset.microsplit_plan
    assert plan.normalizer.input_loc == (3.0,)
    assert [type(a) for a in plan.augmentations] == [XYFlip, XYRandomRotate90]


def test_given_statistics_are_not_recomputed() -> None:
    data = np.ones((1, 2, 32, 32), np.float32)
    config = _config(
        input_mins=[0.0], input_maxes=[10.0], target_mins=[0.0], target_maxes=[5.0]
    )
    dataset = create_microsplit_dataset(config, MultiChannelTarget(data))
    assert isinstance(config.normalization, MinMaxConfig)
    assert config.normalization.input_maxes == [10.0]
    assert dataset.microsplit_plan.normalizer.target_scale == (5.0,)
