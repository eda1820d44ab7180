from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from careamics_dask.config import (
    MeanStdConfig,
    MinMaxConfig,
    NoNormConfig,
    NormalizationConfig,
    QuantileConfig,
)
from careamics_dask.errors import CareamicsDaskWarning

ADAPTER: TypeAdapter[Any] = TypeAdapter(NormalizationConfig)

# name -> (input pair, target pair, ordered lower/upper values)
STATS = {
    "mean_std": (("input_means", "input_stds"), ("target_means", "target_stds")),
    "min_max": (("input_mins", "input_maxes"), ("target_mins", "target_maxes")),
    "quantile": (
        ("input_lower_quantile_values", "input_upper_quantile_values"),
        ("target_lower_quantile_values", "target_upper_quantile_values"),
    ),
}
WITH_STATS = list(STATS)


def norm_dict(
    name: str, n_channels: int = 1, per_channel: bool = True, **fields: Any
) -> dict[str, Any]:
    """Build a normalization dict with ordered statistics for ``n_channels``."""
    result: dict[str, Any] = {"name": name}
    if name != "none":
        result["per_channel"] = per_channel
    for first, second in STATS.get(name, ()):
        result[first] = [float(i) for i in range(n_channels)]
        result[second] = [float(i) + 10 for i in range(n_channels)]
    result.update(fields)
    return result


@pytest.mark.parametrize("name", [*WITH_STATS, "none"])
@pytest.mark.parametrize(
    ("n_channels", "per_channel"), [(1, True), (2, True), (3, True), (1, False)]
)
def test_optional_parameters_creation(
    name: str, n_channels: int, per_channel: bool
) -> None:
    config = ADAPTER.validate_python(norm_dict(name, n_channels, per_channel))
    config.validate_size(n_channels, n_channels)
    assert not config.needs_computation()
    assert not config.target_needs_computation()


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("mean_std", MeanStdConfig),
        ("min_max", MinMaxConfig),
        ("quantile", QuantileConfig),
        ("none", NoNormConfig),
    ],
)
def test_validation_class(name: str, cls: type[Any]) -> None:
    assert type(ADAPTER.validate_python({"name": name})) is cls


@pytest.mark.parametrize("name", WITH_STATS)
def test_per_channel_false_length_one(name: str) -> None:
    with pytest.raises(
        ValueError,
        match=r'Global statistics \(`per_channel="False"`\) must be provided as '
        r"single-element lists \(got \[0.0, 1.0\]\).",
    ):
        ADAPTER.validate_python(norm_dict(name, 2, per_channel=False))


def test_per_channel_false_levels() -> None:
    with pytest.raises(ValueError, match="Global statistics"):
        QuantileConfig(
            per_channel=False, lower_quantiles=[0.1, 0.2], upper_quantiles=[0.9, 0.95]
        )


@pytest.mark.parametrize("name", WITH_STATS)
@pytest.mark.parametrize("side", [0, 1])
@pytest.mark.parametrize("drop", [0, 1])
def test_missing_parameter(name: str, side: int, drop: int) -> None:
    pair = STATS[name][side]
    data = norm_dict(name, 2)
    del data[pair[drop]]
    with pytest.raises(
        ValueError, match=f"{pair[0]} and {pair[1]} must be both provided or both None."
    ):
        ADAPTER.validate_python(data)


@pytest.mark.parametrize("name", WITH_STATS)
@pytest.mark.parametrize("side", [0, 1])
def test_mismatching_lengths(name: str, side: int) -> None:
    first, second = STATS[name][side]
    data = norm_dict(name, 2)
    data[second] = [*data[second], 100.0]
    with pytest.raises(
        ValueError, match=f"{first} and {second} must have same length."
    ):
        ADAPTER.validate_python(data)


@pytest.mark.parametrize("name", ["mean_std", "min_max"])
@pytest.mark.parametrize(("n_in", "n_out"), [(1, 2), (3, 2), (2, 1), (2, 3)])
def test_validate_size(name: str, n_in: int, n_out: int) -> None:
    config = ADAPTER.validate_python(norm_dict(name, 2))
    kind, expected = ("input", n_in) if n_in != 2 else ("target", n_out)
    field = STATS[name][0 if kind == "input" else 1][0]
    with pytest.raises(
        ValueError,
        match=f"^{field} length 2 does not match number of {kind} channels {expected}.$",
    ):
        config.validate_size(n_in, n_out)


@pytest.mark.parametrize("n_channels", [1, 3])
def test_validate_size_quantile(n_channels: int) -> None:
    config = ADAPTER.validate_python(norm_dict("quantile", 2))
    with pytest.raises(
        ValueError,
        match="input_lower_quantile_values length 2 does not match number of input "
        f"channels {n_channels}.",
    ):
        config.validate_size(n_channels, n_channels)


@pytest.mark.parametrize("n_out", [1, 3])
def test_validate_size_quantile_channel_counts(n_out: int) -> None:
    config = ADAPTER.validate_python(norm_dict("quantile", 2))
    with pytest.raises(
        ValueError,
        match="Quantile normalization per channel is only compatible with matching "
        f"number of input and output channels. Got 2 input channels and {n_out} "
        "output channels.",
    ):
        config.validate_size(2, n_out)
    QuantileConfig(skip_target=True).validate_size(2, n_out)
    QuantileConfig(per_channel=False).validate_size(2, n_out)


@pytest.mark.parametrize("name", WITH_STATS)
def test_validate_size_skipped_target(name: str) -> None:
    with pytest.warns(CareamicsDaskWarning, match="`skip_target` is `True`"):
        config = ADAPTER.validate_python(norm_dict(name, 2, skip_target=True))
    config.validate_size(2, 5)
    assert not config.target_needs_computation()


@pytest.mark.parametrize("name", WITH_STATS)
def test_validate_size_global_statistics(name: str) -> None:
    config = ADAPTER.validate_python(norm_dict(name, 1, per_channel=False))
    config.validate_size(3, 3)


def test_validate_size_no_norm() -> None:
    NoNormConfig().validate_size(1, 7)


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (
            MeanStdConfig,
            "Target statistics are provided but `skip_target` is `True`. "
            "Target statistics will be ignored.",
        ),
        (
            MinMaxConfig,
            "Target mins/maxes are provided but `skip_target` is `True`. "
            "Target mins/maxes will be ignored.",
        ),
        (
            QuantileConfig,
            "Target quantiles are provided but `skip_target` is `True`. "
            "Target quantiles will be ignored.",
        ),
    ],
)
def test_skip_target_warning(cls: type[Any], message: str) -> None:
    name = cls.model_fields["name"].default
    with pytest.warns(CareamicsDaskWarning, match=f"^{message}$"):
        cls(**norm_dict(name, 1, skip_target=True))


@pytest.mark.parametrize("name", ["min_max", "quantile"])
@pytest.mark.parametrize("side", [0, 1])
def test_values_wrong_order(name: str, side: int) -> None:
    first, second = STATS[name][side]
    data = norm_dict(name, 2)
    data[first], data[second] = data[second], data[first]
    with pytest.raises(
        ValueError,
        match=rf"{first}\[0\] \(10.0\) must be less than {second}\[0\] \(0.0\)",
    ):
        ADAPTER.validate_python(data)


@pytest.mark.parametrize("name", ["min_max", "quantile"])
def test_values_equal_rejected(name: str) -> None:
    first, second = STATS[name][0]
    with pytest.raises(ValueError, match="must be less than"):
        ADAPTER.validate_python({"name": name, first: [3.0], second: [3.0]})


def test_mean_std_order_not_checked() -> None:
    config = MeanStdConfig(input_means=[10.0], input_stds=[1.0])
    assert config.input_means == [10.0]


def test_quantile_levels_wrong_order() -> None:
    with pytest.raises(
        ValueError,
        match=r"lower_quantile\[0\] \(0.9\) must be less than upper_quantile\[0\] \(0.1\)",
    ):
        QuantileConfig(lower_quantiles=0.9, upper_quantiles=0.1)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"lower_quantiles": 1.0},
            r"lower_quantile values must be in \[0, 1\), got 1.0",
        ),
        (
            {"lower_quantiles": -0.1},
            r"lower_quantile values must be in \[0, 1\), got -0.1",
        ),
        (
            {"upper_quantiles": 0.0},
            r"upper_quantile values must be in \(0, 1\], got 0.0",
        ),
        (
            {"upper_quantiles": 1.5},
            r"upper_quantile values must be in \(0, 1\], got 1.5",
        ),
        (
            {"lower_quantiles": [0.1, 0.2]},
            "lower_quantile and upper_quantile lists must have same length, got 2 and 1",
        ),
    ],
)
def test_quantile_levels(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QuantileConfig(**fields)


def test_quantile_defaults() -> None:
    config = QuantileConfig()
    assert (config.lower_quantiles, config.upper_quantiles) == ([0.01], [0.99])
    config.lower_quantiles.append(0.5)
    assert QuantileConfig().lower_quantiles == [0.01]


@pytest.mark.parametrize("value", [3, 3.0, np.float32(3.0), np.int64(3)])
def test_scalars_wrapped(value: Any) -> None:
    config = MeanStdConfig(input_means=value, input_stds=1)
    assert config.input_means == [3.0]
    assert config.input_stds == [1.0]


@pytest.mark.parametrize("name", WITH_STATS)
def test_needs_computation(name: str) -> None:
    config = ADAPTER.validate_python({"name": name})
    assert config.needs_computation()
    assert config.target_needs_computation()
    with pytest.warns(CareamicsDaskWarning):
        skipped = ADAPTER.validate_python(norm_dict(name, 1, skip_target=True))
    assert not skipped.needs_computation()
    assert not skipped.target_needs_computation()
    assert not ADAPTER.validate_python(
        {"name": name, "skip_target": True}
    ).target_needs_computation()


SETTERS = [
    ("mean_std", "set_input_stats", "set_target_stats"),
    ("min_max", "set_input_range", "set_target_range"),
    ("quantile", "set_input_quantile_values", "set_target_quantile_values"),
]


@pytest.mark.parametrize(("name", "set_input", "set_target"), SETTERS)
def test_setters(name: str, set_input: str, set_target: str) -> None:
    config = ADAPTER.validate_python({"name": name})
    getattr(config, set_input)(np.array([1.0, 2.0], dtype=np.float32), [5.0, 6.0])
    assert not config.needs_computation()
    assert config.target_needs_computation()
    getattr(config, set_target)((0, 1), np.array([3.0, 4.0]))
    assert not config.target_needs_computation()
    (first, second), (target_first, target_second) = STATS[name]
    assert getattr(config, first) == [1.0, 2.0]
    assert getattr(config, second) == [5.0, 6.0]
    assert getattr(config, target_first) == [0.0, 1.0]
    assert getattr(config, target_second) == [3.0, 4.0]
    assert {first, second, target_first, target_second} <= config.model_fields_set


@pytest.mark.parametrize(("name", "set_input", "set_target"), SETTERS)
def test_setters_validate_and_keep_config_on_error(
    name: str, set_input: str, set_target: str
) -> None:
    config = ADAPTER.validate_python({"name": name})
    with pytest.raises(ValidationError, match="must have same length"):
        getattr(config, set_input)([1.0, 2.0], [5.0])
    with pytest.raises(ValidationError, match="must be both provided or both None"):
        getattr(config, set_target)([1.0], None)
    assert config.needs_computation()
    assert config.target_needs_computation()
    global_config = ADAPTER.validate_python({"name": name, "per_channel": False})
    with pytest.raises(ValidationError, match="Global statistics"):
        getattr(global_config, set_input)([1.0, 2.0], [5.0, 6.0])
    getattr(global_config, set_input)(1.0, 5.0)
    assert getattr(global_config, STATS[name][0][1]) == [5.0]


@pytest.mark.parametrize(
    ("name", "set_input"),
    [("min_max", "set_input_range"), ("quantile", "set_input_quantile_values")],
)
def test_setters_reject_constant_range(name: str, set_input: str) -> None:
    config = ADAPTER.validate_python({"name": name})
    with pytest.raises(ValidationError, match="must be less than"):
        getattr(config, set_input)([2.0], [2.0])
    assert config.needs_computation()


def test_validate_assignment() -> None:
    config = MinMaxConfig(input_mins=[0.0], input_maxes=[1.0])
    with pytest.raises(ValueError, match="must be less than"):
        config.input_maxes = [-1.0]
    assert config.input_maxes == [1.0]


def test_no_norm() -> None:
    config = NoNormConfig(per_channel=False)
    assert not config.needs_computation()
    assert not config.target_needs_computation()
    assert config.model_dump() == {"name": "none"}


def test_field_order_starts_with_name() -> None:
    assert list(MeanStdConfig.model_fields)[:3] == [
        "name",
        "per_channel",
        "skip_target",
    ]
