"""Datasets satisfy the BatchSource Protocol with the values the stream reads."""

from __future__ import annotations

import numpy as np

from careamics_dask.config import DataConfig
from careamics_dask.factory import create_dataset
from careamics_dask.feeding import BatchSource, BatchStream
from tests.feeding.helpers import small_train_dataset


def test_a_training_dataset_is_a_batch_source() -> None:
    dataset = small_train_dataset(6, image_seed=3)
    source: BatchSource = dataset
    assert source.seed == 6
    assert source.batch_size == 8
    assert source.patching_name == "stratified"
    assert source.patch_size == (16, 16)
    assert source.input_shapes == [(4, 1, 64, 64)]
    assert source.default_shuffle is True
    assert len(source) == len(source.patch_table(0))
    assert isinstance(source.token, str)
    assert source.token == dataset.token  # stable
    assert BatchStream(source).shuffle is True


def test_validation_does_not_shuffle_and_tokens_follow_the_data() -> None:
    config = DataConfig(
        mode="validating",
        data_type="array",
        axes="SYX",
        patching={"name": "fixed_random", "patch_size": [8, 8]},
        normalization={"name": "none"},
        batch_size=4,
        seed=1,
    )
    one = create_dataset(config, np.ones((2, 16, 16)), None)
    two = create_dataset(config, np.zeros((2, 16, 16)), None)
    assert one.default_shuffle is False
    assert one.token != two.token
    assert one.identity[0] == config.model_dump_json()
