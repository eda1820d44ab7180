"""Tests of normalization configs to normalizers, and statistics written into configs."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from careamics_dask.config import (
    MeanStdConfig,
    MinMaxConfig,
    NoNormConfig,
    QuantileConfig,
)
from careamics_dask.factory import create_normalizer, resolve_normalization
from careamics_dask.graph.statistics import compute_statistics
from careamics_dask.graph.transforms import Normalizer, build_normalizer


def _stack(values: np.ndarray) -> xr.DataArray:
    return xr.DataArray(values, dims=list("SCYX"))


def test_configs_become_plain_normalizers() -> None:
    config = MinMaxConfig(
        input_mins=[1.0], input_maxes=[3.0], target_mins=[0.0], target_maxes=[2.0]
    )
    assert create_normalizer(config) == build_normalizer(
        "min_max", [1.0], [3.0], [0.0], [2.0]
    )
    quantile = QuantileConfig(
        input_lower_quantile_values=[1.0],
        input_upper_quantile_values=[5.0],
        skip_target=True,
    )
    assert create_normalizer(quantile).skip_target
    assert create_normalizer(NoNormConfig()) == Normalizer(name="none")


def test_missing_statistics_keep_the_reference_message() -> None:
    with pytest.raises(ValueError, match=r"^Mean and standard deviation values must"):
        create_normalizer(MeanStdConfig())


def test_resolve_writes_the_returned_statistics() -> None:
    data = np.random.default_rng(0).normal(size=(1, 2, 8, 8))
    config = MeanStdConfig()
    resolve_normalization(config, [_stack(data)], [_stack(data[:, :1])])
    expected = compute_statistics([_stack(data)], "mean_std")
    assert (config.input_means, config.input_stds) == expected.pair
    assert (
        config.target_means
        == compute_statistics([_stack(data[:, :1])], "mean_std").pair[0]
    )
    resolve_normalization(NoNormConfig(), [_stack(data)])  # nothing to do
