"""Tests of resolving a data configuration into plain batch components."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from careamics_dask.config import DataConfig, MinMaxConfig
from careamics_dask.factory import DatasetComponents, resolve_components
from careamics_dask.graph.transforms import Normalizer, XYFlip, XYRandomRotate90


def _config(mode: str, **normalization: object) -> DataConfig:
    return DataConfig(
        mode=mode,
        data_type="array",
        axes="SCYX",
        patching={
            "name": "stratified" if mode == "training" else "fixed_random",
            "patch_size": [8, 8],
        },
        normalization={"name": "min_max", **normalization},
    )


def test_training_components_and_statistics_in_the_config() -> None:
    stack = xr.DataArray(np.arange(128.0).reshape(1, 2, 8, 8), dims=list("SCYX"))
    config = _config("training")
    components = resolve_components(config, n_input_channels=2, input_stacks=[stack])
    assert isinstance(components, DatasetComponents)
    norm = config.normalization
    assert isinstance(norm, MinMaxConfig)
    assert (norm.input_mins, norm.input_maxes) == (
        [0.0, 64.0],
        [63.0, 127.0],
    )
    assert components.normalizer.input_scale == (63.0, 63.0)
    assert [type(a) for a in components.augmentations] == [XYFlip, XYRandomRotate90]


def test_without_stacks_nothing_is_computed() -> None:
    config = _config("validating", input_mins=[0.0], input_maxes=[1.0])
    components = resolve_components(config, n_input_channels=3)
    assert components.augmentations == ()
    assert components.normalizer == Normalizer(
        name="min_max", input_loc=(0.0,), input_scale=(1.0,)
    )
    with pytest.raises(ValueError, match="must be computed before"):
        resolve_components(_config("validating"), n_input_channels=1)
    with pytest.raises(ValueError, match="do not match"):
        resolve_components(
            _config("validating", input_mins=[0.0, 0.0], input_maxes=[1.0, 1.0]),
            n_input_channels=3,
        )
