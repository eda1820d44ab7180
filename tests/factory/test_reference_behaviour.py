"""The reference's behaviour items of issue 17, with hand-worked values."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from careamics_dask.config import DataConfig
from careamics_dask.factory import TrainValData, create_dataset, create_train_dataset


def _config(mode: str = "training", **normalization: Any) -> DataConfig:
    return DataConfig(
        mode=mode,
        data_type="array",
        axes="SYX",
        patching=(
            {"name": "stratified", "patch_size": [8, 8], "seed": 1}
            if mode == "training"
            else {"name": "whole"}
        ),
        normalization={"name": "mean_std", **normalization},
        batch_size=2,
        seed=2,
    )


TWO_CHANNEL_TARGET_STATS = {
    "input_means": [1.0],
    "input_stds": [2.0],
    "target_means": [10.0, 20.0],
    "target_stds": [3.0, 4.0],
}


@pytest.mark.parametrize("mode", ["training", "predicting"])
def test_target_statistics_may_have_other_channels_than_the_targets(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    # 1-channel targets, 2-entry target statistics (those of a 2-channel model
    # output): accepted at construction as by the reference, logged
    images = np.ones((2, 16, 16), np.float32)
    config = _config(mode, **TWO_CHANNEL_TARGET_STATS)
    with caplog.at_level(logging.WARNING, logger="careamics_dask.factory.components"):
        if mode == "training":
            dataset = create_train_dataset(
                config, TrainValData([images], [images], [images], [images])
            )
        else:
            dataset = create_dataset(config, [images], [images])
    (record,) = caplog.records
    assert "Number of target_means (2) and number of channels (1)" in (
        record.getMessage()
    )
    # denormalize of a 2-channel output uses the target statistics:
    # x * (std + eps) + mean = 1 * 3 + 10 and 1 * 4 + 20
    output = np.ones((1, 2, 4, 4), np.float32)
    restored = dataset.normalization.denormalize(output)
    np.testing.assert_allclose(restored[0, :, 0, 0], [13.0, 24.0], rtol=1e-5)
    # normalizing a 1-channel target patch with them still fails, with the
    # reference's message
    with pytest.raises(ValueError, match=r"Number of target_means \(2\)"):
        dataset[0]


def test_input_statistics_are_still_checked_at_construction() -> None:
    images = np.ones((2, 16, 16), np.float32)
    config = _config("predicting", input_means=[1.0, 2.0], input_stds=[1.0, 1.0])
    with pytest.raises(ValueError, match=r"Number of input_means \(2\)"):
        create_dataset(config, [images], None)


def test_region_shapes_are_tuples() -> None:
    images = np.arange(2 * 16 * 16, dtype=np.float32).reshape(2, 16, 16)
    dataset = create_dataset(
        _config("predicting", input_means=[0.0], input_stds=[1.0]), [images], None
    )
    (region,) = dataset[0]
    assert region.data_shape == (2, 1, 16, 16)
    assert type(region.data_shape) is tuple
    assert region.original_data_shape == (2, 16, 16)
    assert type(region.original_data_shape) is tuple


def test_microsplit_dataset_scales_share_the_native_centre_on_a_ramp() -> None:
    # paired mode, no mixing: every plane of the input is the ramp's lateral
    # context; for even patch sizes each scale's 2 x 2 centre averages to the
    # native patch's centre coords + (patch - 1) / 2 (worked out by hand from
    # the reference's crop start centre - size // 2, centre = coords + patch // 2)
    from careamics_dask.config import MicroSplitDataConfig
    from careamics_dask.factory import PairedInputTarget, create_microsplit_dataset

    y, x = np.mgrid[0:192, 0:192].astype(np.float64)
    ramp = (1000 * y + x).astype(np.float32)[None, None]
    config = MicroSplitDataConfig(
        mode="training",
        data_type="array",
        axes="SCYX",
        patching={"name": "stratified", "patch_size": [16, 16], "seed": 4},
        normalization={"name": "none"},
        multiscale_count=3,
        augmentations=[],
        seed=3,
    )
    dataset = create_microsplit_dataset(
        config, PairedInputTarget([ramp], [np.concatenate([ramp, ramp], axis=1)])
    )
    checked = 0
    for index in range(len(dataset)):
        region, _ = dataset[index]
        cy, cx = region.region_spec["coords"]
        # the largest crop (64) and its filter stay inside the image
        if not (32 <= cy <= 192 - 48 and 32 <= cx <= 192 - 48):
            continue
        centre = 1000 * (cy + 7.5) + (cx + 7.5)
        for scale in range(3):
            mid = region.data[scale, 7:9, 7:9].astype(np.float64).mean()
            assert mid == pytest.approx(centre, abs=0.05)
        checked += 1
    assert checked > 0
