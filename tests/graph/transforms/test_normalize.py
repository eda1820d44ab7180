"""Tests of careamics_dask.graph.normalize against the reference's per-patch rules."""

from __future__ import annotations

import pickle
import sys
import types
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from dask.base import tokenize

from careamics_dask.config import (
    MeanStdConfig,
    MinMaxConfig,
    NoNormConfig,
    QuantileConfig,
)
from careamics_dask.factory.normalization import create_normalizer
from careamics_dask.graph.transforms import Normalizer, broadcast_stats

# --- the reference's per-patch transforms (reference_semantics.md §4.1-4.2) -------


def _ref_reshape(stats: list[float], ndim: int, channel_axis: int = 0) -> Any:
    shape = [1] * ndim
    shape[channel_axis] = len(stats)
    return np.array(stats, dtype=np.float32).reshape(shape)


def _ref_broadcast(stats: list[float], n: int) -> list[float]:
    return stats * n if len(stats) == 1 else stats


def ref_mean_std(patch: Any, means: list[float], stds: list[float]) -> Any:
    patch = patch.astype(np.float32)
    m = _ref_reshape(_ref_broadcast(means, patch.shape[0]), patch.ndim)
    s = _ref_reshape(_ref_broadcast(stds, patch.shape[0]), patch.ndim)
    return (patch - m) / (s + 1e-6)


def ref_range(patch: Any, mins: list[float], maxes: list[float]) -> Any:
    patch = patch.astype(np.float32)
    lo = _ref_reshape(_ref_broadcast(mins, patch.shape[0]), patch.ndim)
    hi = _ref_reshape(_ref_broadcast(maxes, patch.shape[0]), patch.ndim)
    return (patch - lo) / (hi - lo + 1e-8)


def ref_denorm_mean_std(batch: Any, means: list[float], stds: list[float]) -> Any:
    m = _ref_reshape(_ref_broadcast(means, batch.shape[1]), batch.ndim, 1)
    s = _ref_reshape(_ref_broadcast(stds, batch.shape[1]), batch.ndim, 1)
    return batch.astype(np.float32) * (s + 1e-6) + m


def ref_denorm_range(batch: Any, mins: list[float], maxes: list[float]) -> Any:
    lo = _ref_reshape(_ref_broadcast(mins, batch.shape[1]), batch.ndim, 1)
    hi = _ref_reshape(_ref_broadcast(maxes, batch.shape[1]), batch.ndim, 1)
    return batch.astype(np.float32) * (hi - lo) + lo


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _batch(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> Any:
    return (rng.random(shape) * 1000).astype(dtype)


# --- forward ------------------------------------------------------------------


@pytest.mark.parametrize("spatial", [(8, 8), (3, 8, 8)])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64, np.uint8])
@pytest.mark.parametrize(
    ("means", "stds"), [([3.5, 200.25], [1.5, 90.1]), ([101.3], [33.3])]
)
def test_mean_std_matches_reference_bitwise(
    rng: np.random.Generator,
    spatial: tuple[int, ...],
    dtype: Any,
    means: list[float],
    stds: list[float],
) -> None:
    batch = _batch(rng, (4, 2, *spatial), dtype)
    norm = create_normalizer(MeanStdConfig(input_means=means, input_stds=stds))
    out, target = norm.normalize(batch)
    assert target is None
    assert out.dtype == np.float32
    expected = np.stack([ref_mean_std(p, means, stds) for p in batch])
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("name", ["min_max", "quantile"])
def test_range_matches_reference_bitwise_without_clipping(
    rng: np.random.Generator, name: str
) -> None:
    mins, maxes = [100.0, 7.3], [600.0, 9.9]
    if name == "min_max":
        config: Any = MinMaxConfig(input_mins=mins, input_maxes=maxes)
    else:
        config = QuantileConfig(
            input_lower_quantile_values=mins, input_upper_quantile_values=maxes
        )
    batch = _batch(rng, (3, 2, 5, 6), np.uint16)
    out, _ = create_normalizer(config).normalize(batch)
    expected = np.stack([ref_range(p, mins, maxes) for p in batch])
    np.testing.assert_array_equal(out, expected)
    assert out.max() > 1.0  # no clipping
    assert out.min() < 0.0


def test_none_only_casts(rng: np.random.Generator) -> None:
    batch = _batch(rng, (2, 1, 4, 4), np.uint16)
    target = _batch(rng, (2, 3, 4, 4), np.uint8)
    out, out_target = create_normalizer(NoNormConfig()).normalize(batch, target)
    assert out.dtype == out_target.dtype == np.float32  # type: ignore[union-attr]
    np.testing.assert_array_equal(out, batch)
    np.testing.assert_array_equal(out_target, target)


def test_targets_use_target_statistics(rng: np.random.Generator) -> None:
    config = MeanStdConfig(
        input_means=[1.0],
        input_stds=[2.0],
        target_means=[5.0, 6.0],
        target_stds=[3.0, 4.0],
    )
    batch = _batch(rng, (2, 1, 4, 4), np.float32)
    target = _batch(rng, (2, 2, 4, 4), np.float32)
    _, out_target = create_normalizer(config).normalize(batch, target)
    expected = np.stack([ref_mean_std(t, [5.0, 6.0], [3.0, 4.0]) for t in target])
    np.testing.assert_array_equal(out_target, expected)


def test_skip_target_returns_target_unchanged_as_float32(
    rng: np.random.Generator,
) -> None:
    config = MinMaxConfig(input_mins=0, input_maxes=10, skip_target=True)
    norm = create_normalizer(config)
    assert norm.target_loc is None
    assert norm.skip_target
    target = _batch(rng, (2, 1, 4, 4), np.uint16)
    _, out_target = norm.normalize(_batch(rng, (2, 1, 4, 4), np.uint16), target)
    assert out_target is not None
    assert out_target.dtype == np.float32
    np.testing.assert_array_equal(out_target, target)


def test_skip_target_drops_given_target_statistics() -> None:
    with pytest.warns(UserWarning, match="skip_target"):
        config = MeanStdConfig(
            input_means=0,
            input_stds=1,
            target_means=5,
            target_stds=2,
            skip_target=True,
        )
    norm = create_normalizer(config)
    assert norm.target_loc is None
    assert norm.target_scale is None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            MeanStdConfig(input_means=0, input_stds=1),
            "Target means and standard deviations must be provided if target is not None.",
        ),
        (
            MinMaxConfig(input_mins=0, input_maxes=1),
            "Target mins and maxs must be provided if target is not None.",
        ),
        (
            QuantileConfig(
                input_lower_quantile_values=0, input_upper_quantile_values=1
            ),
            "Target mins and maxs must be provided if target is not None.",
        ),
    ],
)
def test_missing_target_statistics_messages(config: Any, message: str) -> None:
    norm = create_normalizer(config)
    batch = np.zeros((1, 1, 2, 2), np.float32)
    norm.normalize(batch)  # fine without a target
    with pytest.raises(ValueError, match=message):
        norm.normalize(batch, batch)


# --- broadcasting -----------------------------------------------------------------


def test_broadcast_stats_rule() -> None:
    assert broadcast_stats([1.0], 3, "x") == [1.0, 1.0, 1.0]
    assert broadcast_stats([1.0, 2.0], 2, "x") == [1.0, 2.0]
    with pytest.raises(
        ValueError,
        match=r"^Number of input_means \(2\) and number of channels \(3\) do not match\.$",
    ):
        broadcast_stats([1.0, 2.0], 3, "input_means")


@pytest.mark.parametrize(
    ("config", "name"),
    [
        (MeanStdConfig(input_means=[0, 0], input_stds=[1, 1]), "input_means"),
        (MinMaxConfig(input_mins=[0, 0], input_maxes=[1, 1]), "input_mins"),
        (
            QuantileConfig(
                input_lower_quantile_values=[0, 0],
                input_upper_quantile_values=[1, 1],
            ),
            "input_mins",
        ),
    ],
)
def test_channel_mismatch_message(config: Any, name: str) -> None:
    norm = create_normalizer(config)
    message = rf"^Number of {name} \(2\) and number of channels \(3\) do not match\.$"
    with pytest.raises(ValueError, match=message):
        norm.normalize(np.zeros((1, 3, 2, 2), np.float32))
    with pytest.raises(ValueError, match=message):
        create_normalizer(config, n_input_channels=3)
    create_normalizer(config, n_input_channels=2)


def test_target_channel_mismatch_message() -> None:
    config = MinMaxConfig(
        input_mins=0, input_maxes=1, target_mins=[0, 0], target_maxes=[1, 1]
    )
    message = (
        r"^Number of target_mins \(2\) and number of channels \(1\) do not match\."
    )
    with pytest.raises(ValueError, match=message):
        create_normalizer(config, n_input_channels=4, n_target_channels=1)
    norm = create_normalizer(config, n_input_channels=4, n_target_channels=2)
    batch = np.zeros((1, 4, 2, 2), np.float32)
    with pytest.raises(ValueError, match=message):
        norm.normalize(batch, np.zeros((1, 1, 2, 2), np.float32))


def test_global_statistics_apply_to_every_channel(rng: np.random.Generator) -> None:
    config = MeanStdConfig(per_channel=False, input_means=[10.0], input_stds=[5.0])
    batch = _batch(rng, (2, 4, 3, 3), np.float32)
    out, _ = create_normalizer(config).normalize(batch)
    np.testing.assert_array_equal(out, ref_mean_std(batch, [10.0], [5.0]))


# --- construction -------------------------------------------------------------


def test_quantile_values_missing_message() -> None:
    with pytest.raises(
        ValueError,
        match=r"^Quantile values must be computed before creating the normalization "
        r"transform\.$",
    ):
        create_normalizer(QuantileConfig())


@pytest.mark.parametrize("config", [MeanStdConfig(), MinMaxConfig()])
def test_other_statistics_missing(config: Any) -> None:
    with pytest.raises(ValueError, match="must be computed before creating"):
        create_normalizer(config)


def test_unknown_strategy_message() -> None:
    with pytest.raises(ValueError, match=r"^Unknown normalization strategy: zscore$"):
        create_normalizer(types.SimpleNamespace(name="zscore"))  # type: ignore[arg-type]


def test_statistics_are_float32_exact_tuples() -> None:
    norm = create_normalizer(MinMaxConfig(input_mins=[0.1], input_maxes=[0.7]))
    lo, hi = np.float32(0.1), np.float32(0.7)
    assert norm.input_loc == (float(lo),)
    assert norm.input_scale == (float(hi - lo),)
    assert norm.eps == 1e-8
    assert create_normalizer(MeanStdConfig(input_means=0, input_stds=1)).eps == 1e-6
    assert create_normalizer(NoNormConfig()).eps == 0.0


def test_normalizer_is_picklable_hashable_and_tokenizes_stably() -> None:
    config = MeanStdConfig(input_means=[1, 2], input_stds=[3, 4])
    norm = create_normalizer(config)
    clone = pickle.loads(pickle.dumps(norm))
    assert clone == norm
    assert hash(clone) == hash(norm)
    assert tokenize(clone) == tokenize(create_normalizer(config))
    with pytest.raises(AttributeError):
        norm.skip_target = True  # type: ignore[misc]


def test_batch_dimensions_are_checked() -> None:
    norm = create_normalizer(NoNormConfig())
    with pytest.raises(ValueError, match="expected 4 or 5 dimensions"):
        norm.normalize(np.zeros((1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="target batch"):
        norm.normalize(np.zeros((1, 1, 4, 4)), np.zeros((1, 4, 4)))


# --- in place, single patch -------------------------------------------------------


def test_default_leaves_the_given_array_alone(rng: np.random.Generator) -> None:
    batch = _batch(rng, (2, 1, 4, 4), np.float32)
    before = batch.copy()
    norm = create_normalizer(MeanStdConfig(input_means=3, input_stds=2))
    out, _ = norm.normalize(batch)
    assert out is not batch
    np.testing.assert_array_equal(batch, before)


def test_inplace_writes_into_float32_batches(rng: np.random.Generator) -> None:
    batch = _batch(rng, (2, 1, 4, 4), np.float32)
    target = _batch(rng, (2, 1, 4, 4), np.float32)
    expected = ref_mean_std(batch[:, 0], [3.0], [2.0])[:, None]
    config = MeanStdConfig(input_means=3, input_stds=2, target_means=1, target_stds=1)
    out, out_target = create_normalizer(config).normalize(batch, target, inplace=True)
    assert out is batch
    assert out_target is target
    np.testing.assert_array_equal(out, expected)


def test_inplace_never_writes_into_other_dtypes_or_read_only(
    rng: np.random.Generator,
) -> None:
    norm = create_normalizer(MeanStdConfig(input_means=3, input_stds=2))
    as_uint = _batch(rng, (2, 1, 4, 4), np.uint16)
    out, _ = norm.normalize(as_uint, inplace=True)
    assert out is not as_uint
    assert out.dtype == np.float32
    read_only = _batch(rng, (2, 1, 4, 4), np.float32)
    read_only.flags.writeable = False
    out, _ = norm.normalize(read_only, inplace=True)
    assert out is not read_only


@pytest.mark.parametrize("skip_target", [False, True])
def test_patch_form_equals_batch_form(
    rng: np.random.Generator, skip_target: bool
) -> None:
    targets: dict[str, Any] = (
        {} if skip_target else {"target_mins": [4], "target_maxes": [800]}
    )
    config = MinMaxConfig(
        input_mins=[1, 2], input_maxes=[300, 500], skip_target=skip_target, **targets
    )
    norm = create_normalizer(config)
    batch = _batch(rng, (5, 2, 2, 6, 6), np.uint16)
    target = _batch(rng, (5, 1, 2, 6, 6), np.uint16)
    out, out_target = norm.normalize(batch, target)
    assert out_target is not None
    for i in range(5):
        patch, patch_target = norm.normalize_patch(batch[i], target[i])
        np.testing.assert_array_equal(patch, out[i])
        np.testing.assert_array_equal(patch_target, out_target[i])
    patch, none_target = norm.normalize_patch(batch[0])
    assert none_target is None
    assert patch.shape == (2, 2, 6, 6)


# --- denormalize --------------------------------------------------------------


def test_denormalize_mean_std_matches_reference(rng: np.random.Generator) -> None:
    means, stds = [10.0, 20.0], [2.0, 4.0]
    norm = create_normalizer(MeanStdConfig(input_means=means, input_stds=stds))
    output = rng.standard_normal((3, 2, 4, 4)).astype(np.float32)
    result = norm.denormalize(output)
    np.testing.assert_array_equal(result, ref_denorm_mean_std(output, means, stds))
    assert result is not output
    assert result.dtype == np.float32


def test_denormalize_range_has_no_eps_and_round_trips(
    rng: np.random.Generator,
) -> None:
    mins, maxes = [100.0], [612.0]
    norm = create_normalizer(MinMaxConfig(input_mins=mins, input_maxes=maxes))
    batch = _batch(rng, (2, 3, 4, 4), np.uint16)
    normalized, _ = norm.normalize(batch)
    restored = norm.denormalize(normalized)
    np.testing.assert_array_equal(restored, ref_denorm_range(normalized, mins, maxes))
    np.testing.assert_allclose(restored, batch, rtol=1e-5, atol=1e-3)


def test_denormalize_prefers_target_statistics() -> None:
    config = MeanStdConfig(
        input_means=0, input_stds=1, target_means=[50.0, 60.0], target_stds=[5.0, 6.0]
    )
    output = np.ones((1, 2, 2, 2), np.float32)
    result = create_normalizer(config).denormalize(output)
    np.testing.assert_array_equal(
        result, ref_denorm_mean_std(output, [50.0, 60.0], [5.0, 6.0])
    )


def test_denormalize_with_skip_target_returns_the_array_itself() -> None:
    config = MeanStdConfig(input_means=3, input_stds=2, skip_target=True)
    output = np.ones((1, 1, 2, 2), np.float64)
    assert create_normalizer(config).denormalize(output) is output


def test_denormalize_none_casts() -> None:
    out = create_normalizer(NoNormConfig()).denormalize(np.ones((1, 1, 2), np.uint8))
    assert out.dtype == np.float32


def test_denormalize_channel_selection() -> None:
    config = MinMaxConfig(input_mins=[0, 10, 20], input_maxes=[1, 20, 40])
    norm = create_normalizer(config)
    output = np.ones((2, 2, 3, 3), np.float32)
    result = norm.denormalize(output, channels=[2, 0])
    np.testing.assert_array_equal(result[:, 0], 40.0)
    np.testing.assert_array_equal(result[:, 1], 1.0)
    with pytest.raises(ValueError, match="expected 2 indices"):
        norm.denormalize(output, channels=[1])
    with pytest.raises(ValueError, match=r"expected values in \[0, 2\], got \[3\]"):
        norm.denormalize(output, channels=[0, 3])
    with pytest.raises(ValueError, match=r"Number of input_mins \(3\)"):
        norm.denormalize(output)
    with pytest.raises(ValueError, match="channel axis at position 1"):
        norm.denormalize(np.ones(3, np.float32))


def test_denormalize_global_statistics_ignore_channel_selection() -> None:
    norm = create_normalizer(MeanStdConfig(input_means=5, input_stds=1))
    result = norm.denormalize(np.zeros((1, 2, 2, 2), np.float32), channels=[7, 9])
    np.testing.assert_array_equal(result, 5.0)


class _FakeTensor:
    """A NumPy-backed stand-in for torch.Tensor, enough for denormalize."""

    def __init__(self, array: npt.NDArray[Any], device: str = "fake:0") -> None:
        self.array = array
        self.device = device

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    def to(self, target: Any = None, dtype: Any = None) -> _FakeTensor:
        array = self.array if dtype is None else self.array.astype(dtype)
        device = target if isinstance(target, str) else self.device
        return _FakeTensor(array, device)

    def __mul__(self, other: _FakeTensor) -> _FakeTensor:
        assert other.device == self.device
        return _FakeTensor(self.array * other.array, self.device)

    def __add__(self, other: _FakeTensor) -> _FakeTensor:
        assert other.device == self.device
        return _FakeTensor(self.array + other.array, self.device)


def test_denormalize_dispatches_to_torch_when_given_a_tensor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_torch = types.ModuleType("torch")
    fake_torch.Tensor = _FakeTensor  # type: ignore[attr-defined]
    fake_torch.float32 = np.float32  # type: ignore[attr-defined]
    fake_torch.from_numpy = lambda a: _FakeTensor(a, "cpu")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    means, stds = [10.0, 20.0], [2.0, 4.0]
    norm = create_normalizer(MeanStdConfig(input_means=means, input_stds=stds))
    values = np.random.default_rng(1).standard_normal((2, 2, 3, 3))
    result = norm.denormalize(_FakeTensor(values))
    assert isinstance(result, _FakeTensor)
    assert result.device == "fake:0"
    assert result.array.dtype == np.float32
    np.testing.assert_array_equal(
        result.array, ref_denorm_mean_std(values.astype(np.float32), means, stds)
    )
    none = create_normalizer(NoNormConfig()).denormalize(_FakeTensor(values))
    assert none.array.dtype == np.float32


@pytest.mark.torch
def test_denormalize_real_torch_tensor() -> None:
    torch = pytest.importorskip("torch")
    means, stds = [10.0], [2.0]
    norm = create_normalizer(MeanStdConfig(input_means=means, input_stds=stds))
    values = np.random.default_rng(2).standard_normal((2, 3, 4, 4)).astype(np.float32)
    result = norm.denormalize(torch.from_numpy(values))
    assert isinstance(result, torch.Tensor)
    assert result.dtype == torch.float32
    np.testing.assert_allclose(
        result.numpy(), ref_denorm_mean_std(values, means, stds), rtol=1e-6
    )


def test_normalizer_direct_construction() -> None:
    norm = Normalizer(name="mean_std", input_loc=(1.0,), input_scale=(1.0,))
    out, _ = norm.normalize(np.full((1, 1, 1, 1), 3.0, np.float32))
    np.testing.assert_allclose(out, 2.0 / (1.0 + 1e-6), rtol=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "zscore"}, "Unknown normalization strategy: zscore"),
        ({"name": "mean_std"}, "needs input statistics"),
        (
            {"name": "min_max", "input_loc": (1.0, 2.0), "input_scale": (1.0,)},
            "come in pairs",
        ),
        (
            {
                "name": "min_max",
                "input_loc": (1.0,),
                "input_scale": (1.0,),
                "target_loc": (1.0,),
            },
            "come in pairs",
        ),
    ],
)
def test_normalizer_checks_its_fields(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Normalizer(**kwargs)
