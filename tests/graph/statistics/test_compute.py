"""Tests of the normalization statistics reductions against direct NumPy computations."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr
from dask.base import compute
from dask.local import get_sync

from careamics_dask.config import DataConfig
from careamics_dask.config.normalization import (
    MeanStdConfig,
    MinMaxConfig,
    NoNormConfig,
    QuantileConfig,
)
from careamics_dask.factory.normalization import resolve_normalization
from careamics_dask.graph.statistics import (
    HISTOGRAM_BINS,
    NO_DATA_MESSAGE,
    NormalizationStatistics,
    RegionWeights,
    StatisticsKind,
    build_statistics_graph,
    compute_normalization_statistics,
    compute_statistics,
)
from careamics_dask.graph.statistics._histogram import (
    HistogramPlan,
    bin_values,
    merge_histograms,
    plan_histogram,
)
from careamics_dask.graph.statistics._partials import PARTIAL_FIELDS
from careamics_dask.loaders import open_images
from careamics_dask.testing import raise_if_dask_computes

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

RNG = np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def synchronous() -> Iterator[None]:
    with dask.config.set(scheduler="synchronous"):
        yield


def make_stack(data: np.ndarray, chunks: Sequence[int] | None = None) -> xr.DataArray:
    dims = ["S", "C", "Z", "Y", "X"] if data.ndim == 5 else ["S", "C", "Y", "X"]
    values: Any = data if chunks is None else da.from_array(data, chunks=chunks)
    return xr.DataArray(values, dims=dims)


class CountingScheduler:
    """A synchronous scheduler that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, dsk: Any, keys: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return get_sync(dsk, keys, **kwargs)


def pixels_of(arrays: Sequence[np.ndarray], channel: int | None) -> np.ndarray:
    """All pixels of one channel (or all channels) of several arrays, as float64."""
    parts = [a if channel is None else a[:, channel] for a in arrays]
    return np.concatenate([p.ravel() for p in parts]).astype(np.float64)


def expand_weights(
    values: np.ndarray, cell: Sequence[int], shape: Sequence[int]
) -> np.ndarray:
    """Per-pixel weights by repeating cells and edge-padding (independent of the code)."""
    weights = values
    for axis, (size, length) in enumerate(zip(cell, shape, strict=True), start=1):
        weights = np.repeat(weights, size, axis=axis)
        missing = max(length - weights.shape[axis], 0)
        pad = [(0, 0)] * weights.ndim
        pad[axis] = (0, missing)
        weights = np.pad(weights, pad, mode="edge")
        weights = np.take(weights, np.arange(length), axis=axis)
    return weights


# --- equality with NumPy -------------------------------------------------------


def _datasets(dtype: str, ndim: int) -> list[np.ndarray]:
    spatial = [(37, 50), (64, 29)] if ndim == 2 else [(5, 20, 17), (3, 16, 24)]
    arrays = []
    for samples, shape in zip((3, 2), spatial, strict=True):
        full = (samples, 3, *shape)
        if dtype == "uint16":
            arrays.append(RNG.integers(0, 65535, full, dtype=np.uint16))
        else:
            arrays.append((RNG.normal(50, 20, full)).astype(np.float32))
    return arrays


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("channels", [None, [2, 0]])
def test_mean_std_and_min_max_equal_numpy(
    dtype: str, ndim: int, channels: list[int] | None
) -> None:
    arrays = _datasets(dtype, ndim)
    chunks = [(1, 1, *(7,) * ndim), (2, 3, *(16,) * ndim)]
    stacks = [make_stack(a, c) for a, c in zip(arrays, chunks, strict=True)]
    picked = [0, 1, 2] if channels is None else channels
    mean_std = compute_statistics(stacks, "mean_std", channels=channels)
    min_max = compute_statistics(stacks, "min_max", channels=channels)
    for index, channel in enumerate(picked):
        pixels = pixels_of(arrays, channel)
        assert mean_std.means is not None
        assert mean_std.stds is not None
        assert mean_std.means[index] == pytest.approx(pixels.mean(), rel=1e-12)
        assert mean_std.stds[index] == pytest.approx(pixels.std(), rel=1e-10)
        assert min_max.pair == (
            [pixels_of(arrays, c).min() for c in picked],
            [pixels_of(arrays, c).max() for c in picked],
        )
        assert mean_std.weights[index] == pixels.size


@pytest.mark.parametrize("kind", ["mean_std", "min_max", "quantile"])
def test_per_channel_false_pools_channels(kind: StatisticsKind) -> None:
    arrays = _datasets("float32", 2)
    stacks = [make_stack(a, (1, 1, 16, 16)) for a in arrays]
    stats = compute_statistics(stacks, kind, channels=[0, 2], per_channel=False)
    pixels = np.concatenate([pixels_of(arrays, 0), pixels_of(arrays, 2)])
    first, second = stats.pair
    assert len(first) == len(second) == 1
    if kind == "mean_std":
        assert first[0] == pytest.approx(pixels.mean(), rel=1e-12)
        assert second[0] == pytest.approx(pixels.std(), rel=1e-10)
    elif kind == "min_max":
        assert (first[0], second[0]) == (pixels.min(), pixels.max())
    else:
        tolerance = 0.005 * (pixels.max() - pixels.min())
        expected = np.quantile(pixels, [0.01, 0.99])
        np.testing.assert_allclose([first[0], second[0]], expected, atol=tolerance)


def test_numpy_backed_stacks_and_mixed_backends() -> None:
    arrays = _datasets("uint16", 2)
    stacks = [make_stack(arrays[0]), make_stack(arrays[1], (1, 1, 32, 32))]
    stats = compute_statistics(stacks, "quantile", lower_quantiles=[0.1, 0.2, 0.3])
    expected = [
        np.quantile(pixels_of(arrays, c), [q, 0.99])
        for c, q in enumerate([0.1, 0.2, 0.3])
    ]
    assert stats.lower_quantile_values == tuple(e[0] for e in expected)
    assert stats.upper_quantile_values == tuple(e[1] for e in expected)


def test_mean_std_is_stable_with_a_large_offset() -> None:
    data = 1e9 + RNG.normal(0, 1, (4, 1, 64, 64))
    stats = compute_statistics([make_stack(data, (1, 1, 16, 16))], "mean_std")
    naive = np.sqrt(np.mean(data**2) - np.mean(data) ** 2)
    assert stats.stds is not None
    assert stats.stds[0] == pytest.approx(data.std(), rel=1e-6)
    assert abs(naive - data.std()) > 1e-3  # the cancellation this avoids


def test_loader_stacks_from_a_zarr_store(tmp_path: Path) -> None:
    data = RNG.integers(0, 4000, (3, 2, 40, 48), dtype=np.uint16)
    root = zarr.open_group(tmp_path / "data.zarr", mode="w", zarr_format=3)
    array = root.create_array(
        "img", shape=data.shape, dtype=data.dtype, chunks=(1, 1, 16, 16)
    )
    array[...] = data
    stacks = open_images(tmp_path / "data.zarr", "SCYX", "zarr")
    with raise_if_dask_computes():
        graph = build_statistics_graph(stacks, "quantile", channels=[1])
    (values,) = compute(graph.partials)
    stats = graph.finalize(values)
    assert stats.lower_quantile_values == (np.quantile(data[:, 1], 0.01),)
    assert stats.upper_quantile_values == (np.quantile(data[:, 1], 0.99),)


# --- weights ---------------------------------------------------------------------


@pytest.mark.parametrize("ndim", [2, 3])
def test_weighted_statistics_equal_numpy(ndim: int) -> None:
    shape = (45, 38) if ndim == 2 else (9, 21, 17)
    cell = (8, 8) if ndim == 2 else (4, 8, 8)
    grid = tuple((n + 1) // c for n, c in zip(shape, cell, strict=True))
    data = RNG.normal(10, 3, (3, 2, *shape)).astype(np.float32)
    values = RNG.choice([0.0, 0.1, 0.5, 1.0], size=(3, *grid))
    values[(0,) * values.ndim] = 0.0
    data[(0, slice(None)) + (0,) * ndim] = 1000.0  # an extreme in a zero-weight cell
    weights = RegionWeights(values=values, cell_size=cell)
    stack = make_stack(data, (2, 1, *(7,) * ndim))
    per_pixel = expand_weights(values, cell, shape)
    mean_std = compute_statistics([stack], "mean_std", weights=[weights])
    min_max = compute_statistics([stack], "min_max", weights=[weights])
    quantile = compute_statistics(
        [stack],
        "quantile",
        weights=[weights],
        lower_quantiles=[0.05],
        upper_quantiles=[0.9],
    )
    for channel in range(2):
        x = data[:, channel].astype(np.float64).ravel()
        w = per_pixel.ravel()
        mean = np.average(x, weights=w)
        assert mean_std.means is not None
        assert mean_std.stds is not None
        assert mean_std.means[channel] == pytest.approx(mean, rel=1e-12)
        assert mean_std.stds[channel] == pytest.approx(
            np.sqrt(np.average((x - mean) ** 2, weights=w)), rel=1e-10
        )
        assert mean_std.weights[channel] == pytest.approx(w.sum())
        assert min_max.mins is not None
        assert min_max.maxes is not None
        assert min_max.mins[channel] == x[w > 0].min()
        assert min_max.maxes[channel] == x[w > 0].max()
        assert x.max() == 1000.0 > x[w > 0].max()
        tolerance = 0.005 * (x[w > 0].max() - x[w > 0].min())
        expected = np.quantile(x, [0.05, 0.9], weights=w, method="inverted_cdf")
        assert quantile.lower_quantile_values is not None
        assert quantile.upper_quantile_values is not None
        assert abs(quantile.lower_quantile_values[channel] - expected[0]) < tolerance
        assert abs(quantile.upper_quantile_values[channel] - expected[1]) < tolerance


@pytest.mark.parametrize(
    "weight_values", [[0.0, 1.0], [0.0, 0.5], [3.0], [1.0, 2.0, 4.0]]
)
def test_weighted_integer_quantiles(weight_values: list[float]) -> None:
    data = RNG.integers(0, 256, (2, 1, 30, 30), dtype=np.uint8)
    values = RNG.choice(weight_values, (2, 3, 3))
    stack = make_stack(data, (1, 1, 12, 12))
    levels = ([0.13], [0.77])
    stats = compute_statistics(
        [stack],
        "quantile",
        weights=[RegionWeights(values=values, cell_size=(10, 10))],
        lower_quantiles=levels[0],
        upper_quantiles=levels[1],
    )
    per_pixel = expand_weights(values, (10, 10), (30, 30)).ravel()
    if len(set(weight_values) - {0.0}) == 1:  # equal weights: exactly NumPy's quantile
        selected = data.ravel()[per_pixel > 0].astype(np.float64)
        assert stats.pair == (
            [np.quantile(selected, levels[0][0])],
            [np.quantile(selected, levels[1][0])],
        )
    else:  # weight w counts as w / mean(w) pixels: close to repeating pixels w times
        repeated = np.repeat(data.ravel(), per_pixel.astype(int))
        expected = np.quantile(repeated, [levels[0][0], levels[1][0]])
        np.testing.assert_allclose(np.ravel(stats.pair), expected, atol=1.0)


def test_uniform_weights_equal_no_weights() -> None:
    data = RNG.normal(0, 1, (2, 1, 32, 32))
    stack = make_stack(data, (1, 1, 8, 8))
    ones = RegionWeights(values=np.ones((2, 4, 4)), cell_size=(8, 8))
    weighted = compute_statistics([stack, stack], "mean_std", weights=[ones, None])
    plain = compute_statistics([stack, stack], "mean_std")
    assert weighted.means == pytest.approx(plain.means)
    assert weighted.stds == pytest.approx(plain.stds)


def test_all_weights_zero_raises_the_reference_message() -> None:
    stack = make_stack(np.ones((1, 1, 16, 16)), (1, 1, 8, 8))
    zeros = RegionWeights(values=np.zeros((1, 2, 2)), cell_size=(8, 8))
    kinds: tuple[StatisticsKind, ...] = ("mean_std", "min_max", "quantile")
    for kind in kinds:
        with pytest.raises(ValueError, match=NO_DATA_MESSAGE):
            compute_statistics([stack], kind, weights=[zeros])
    with pytest.raises(ValueError, match=NO_DATA_MESSAGE):
        compute_statistics([], "mean_std")


# --- quantiles -------------------------------------------------------------------


@pytest.mark.parametrize("outliers", [False, True])
@pytest.mark.parametrize("chunks", [(1, 1, 16, 16), (1, 1, 64, 64), (2, 1, 5, 7)])
def test_float_quantiles_within_half_a_percent_of_the_range(
    chunks: tuple[int, ...], outliers: bool
) -> None:
    data = RNG.normal(100, 15, (4, 1, 64, 64)).astype(np.float32)
    if outliers:
        data[0, 0, 3, 3], data[2, 0, 10, 40] = 5e4, -2e3
    stack = make_stack(data, chunks)
    pixels = data.astype(np.float64).ravel()
    data_range = pixels.max() - pixels.min()
    for low in [0.001, 0.01, 0.3, 0.45]:
        stats = compute_statistics(
            [stack], "quantile", lower_quantiles=[low], upper_quantiles=[1 - low]
        )
        errors = np.subtract(
            stats.pair, [[q] for q in np.quantile(pixels, [low, 1 - low])]
        )
        assert np.abs(errors).max() < 0.005 * data_range
        if low >= 0.01:  # dense data: bin widths, not gaps between values, bound it
            assert np.abs(errors).max() < 2e-4 * data_range
    extremes = compute_statistics(
        [stack], "quantile", lower_quantiles=[0.0], upper_quantiles=[1.0]
    )
    assert extremes.pair == ([pixels.min()], [pixels.max()])


def test_uniform_float_quantiles_are_close_to_numpy() -> None:
    data = RNG.random((3, 1, 50, 50))
    stats = compute_statistics([make_stack(data, (1, 1, 10, 25))], "quantile")
    expected = np.quantile(data, [0.01, 0.99])
    np.testing.assert_allclose(stats.pair, [[expected[0]], [expected[1]]], atol=1e-3)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "bool"])
def test_small_integer_quantiles_are_exact(dtype: str) -> None:
    info_low, info_high = (
        (0, 2) if dtype == "bool" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
    )
    data = RNG.integers(
        info_low, info_high, (3, 1, 20, 20), endpoint=dtype != "bool"
    ).astype(dtype)
    stats = compute_statistics(
        [make_stack(data, (1, 1, 7, 9))],
        "quantile",
        lower_quantiles=[0.17],
        upper_quantiles=[0.93],
    )
    expected = np.quantile(data.astype(np.float64), [0.17, 0.93])
    assert stats.lower_quantile_values == (expected[0],)
    assert stats.upper_quantile_values == (expected[1],)


def _histogram_values(case: str) -> np.ndarray:
    values = {
        "normal": RNG.normal(0, 1, 5000),
        "offset": 1e9 + RNG.normal(0, 1, 5000),
        "tiny": 1.0 + RNG.normal(0, 1e-12, 5000),
        "negative": -RNG.exponential(1e3, 5000),
        "outliers": np.concatenate([RNG.normal(0, 1, 4990), [1e8, -1e6]]),
    }[case]
    values[:700] = 0.0  # a point-mass block of zeros (the finest scale)
    return values


Histogram = tuple[float, float, int, int, np.ndarray]  # low, high, scale, start, counts


def _merge(histograms: Sequence[Histogram]) -> Histogram:
    lows, highs, scales, starts, counts = zip(*histograms, strict=True)
    scale, start, merged = merge_histograms(
        np.array(lows),
        np.array(highs),
        np.array(scales, dtype=float),
        np.array(starts, dtype=float),
        np.stack(counts),
    )
    return min(lows), max(highs), scale, start, merged


@pytest.mark.parametrize("case", ["normal", "offset", "tiny", "negative", "outliers"])
def test_histogram_merges_are_exact_in_any_order(case: str) -> None:
    values = _histogram_values(case)
    n_bins = 64
    parts: list[Histogram] = [
        (p.min(), p.max(), *bin_values(p, None, p.min(), p.max(), n_bins))
        for p in np.array_split(values, 7)
    ]
    flat = _merge(parts)
    tree = _merge(
        [
            _merge([parts[i] for i in (0, 3, 5)]),
            _merge([parts[i] for i in (6, 1, 2, 4)]),
        ]
    )
    _, _, scale, start, counts = flat
    assert tree[2:4] == (scale, start)
    direct = np.bincount(
        (np.floor(np.ldexp(values, -scale)) - start).astype(np.int64), minlength=n_bins
    )
    np.testing.assert_array_equal(counts, direct)
    np.testing.assert_array_equal(tree[4], direct)
    if case != "tiny":  # bins as fine as the range allows (tiny: float resolution)
        assert np.ldexp(1.0, scale) <= 2 * (values.max() - values.min()) / n_bins


def test_histogram_plan() -> None:
    assert plan_histogram([np.dtype("uint8"), np.dtype("uint16")], 99) == HistogramPlan(
        n_bins=65536, offset=0
    )
    assert plan_histogram([np.dtype("uint16"), np.dtype("int32")], 99) == HistogramPlan(
        n_bins=99
    )
    assert plan_histogram([np.dtype("float32")], 99).exact is False


def test_mixed_dtypes_fall_back_to_equal_width_bins() -> None:
    ints = RNG.integers(0, 1000, (2, 1, 30, 30), dtype=np.uint16)
    floats = RNG.uniform(0, 1000, (1, 1, 25, 25))
    stats = compute_statistics(
        [make_stack(ints, (1, 1, 15, 15)), make_stack(floats, (1, 1, 10, 10))],
        "quantile",
    )
    pixels = pixels_of([ints, floats], 0)
    expected = np.quantile(pixels, [0.01, 0.99])
    np.testing.assert_allclose(
        stats.pair, [[expected[0]], [expected[1]]], atol=0.005 * 1000
    )


def test_per_channel_quantile_levels() -> None:
    data = RNG.integers(0, 500, (2, 2, 16, 16), dtype=np.uint16)
    stats = compute_statistics(
        [make_stack(data, (1, 2, 8, 8))],
        "quantile",
        lower_quantiles=[0.1, 0.2],
        upper_quantiles=[0.8, 0.9],
    )
    assert stats.lower_quantile_values == (
        np.quantile(data[:, 0], 0.1),
        np.quantile(data[:, 1], 0.2),
    )
    assert stats.upper_quantile_values == (
        np.quantile(data[:, 0], 0.8),
        np.quantile(data[:, 1], 0.9),
    )


# --- constant channels -------------------------------------------------------------


def test_constant_channels_get_a_usable_range() -> None:
    data = np.zeros((2, 2, 16, 16), dtype=np.uint16)
    data[:, 0] = 7
    data[:, 1] = RNG.integers(0, 100, (2, 16, 16))
    stack = make_stack(data, (1, 1, 8, 8))
    assert compute_statistics([stack], "min_max").maxes == (
        8.0,
        float(data[:, 1].max()),
    )
    quantile = compute_statistics([stack], "quantile")
    assert quantile.lower_quantile_values is not None
    assert quantile.lower_quantile_values[0] == 7.0
    assert quantile.upper_quantile_values is not None
    assert quantile.upper_quantile_values[0] == 8.0
    mean_std = compute_statistics([stack], "mean_std")
    assert mean_std.means is not None
    assert mean_std.stds is not None
    assert (mean_std.means[0], mean_std.stds[0]) == (7.0, 0.0)
    floats = make_stack(np.full((1, 1, 8, 8), -2.5), (1, 1, 4, 4))
    assert compute_statistics([floats], "quantile").pair == ([-2.5], [-1.5])
    for config in (MinMaxConfig(), QuantileConfig()):
        resolve_normalization(config, [stack], [stack])
        assert not config.needs_computation()
        assert not config.target_needs_computation()


def test_quantiles_of_mostly_constant_data_get_a_usable_range() -> None:
    data = np.zeros((1, 1, 100, 100), dtype=np.float32)
    data[0, 0, 0, :5] = 1.0
    config = QuantileConfig()
    resolve_normalization(config, [make_stack(data, (1, 1, 50, 50))])
    assert config.input_lower_quantile_values is not None
    assert config.input_upper_quantile_values is not None
    assert config.input_lower_quantile_values[0] < config.input_upper_quantile_values[0]


# --- laziness, compute count, graph size ------------------------------------------


def test_building_the_graph_computes_nothing() -> None:
    arrays = _datasets("float32", 2)
    stacks = [make_stack(a, (1, 1, 16, 16)) for a in arrays]
    weights = [
        RegionWeights(values=np.ones((a.shape[0], 2, 2)), cell_size=(16, 16))
        for a in arrays
    ]
    kinds: tuple[StatisticsKind, ...] = ("mean_std", "min_max", "quantile")
    with raise_if_dask_computes():
        for kind in kinds:
            graph = build_statistics_graph(stacks, kind, weights=weights)
            assert graph.partials.name.startswith("careamics-statistics-")
    assert graph.partials.shape == (3, PARTIAL_FIELDS + HISTOGRAM_BINS)


def test_exactly_one_compute_for_all_stacks() -> None:
    arrays = _datasets("uint16", 3)
    stacks = [make_stack(a, (1, 1, 4, 8, 8)) for a in arrays]
    counting = CountingScheduler()
    with dask.config.set(scheduler=counting):
        compute_statistics(stacks, "quantile")
    assert counting.calls == 1


def test_resolve_computes_inputs_and_targets_in_one_call() -> None:
    inputs = make_stack(RNG.normal(0, 1, (2, 3, 16, 16)), (1, 1, 8, 8))
    targets = make_stack(RNG.normal(5, 2, (2, 2, 16, 16)), (1, 1, 8, 8))
    counting = CountingScheduler()
    config = MeanStdConfig()
    with dask.config.set(scheduler=counting):
        resolve_normalization(config, [inputs], [targets], channels=[1])
    assert counting.calls == 1
    assert config.input_means is not None
    assert len(config.input_means) == 1
    assert config.target_means is not None
    assert len(config.target_means) == 2


def _n_tasks(
    shape: tuple[int, ...], chunks: tuple[int, ...], kind: StatisticsKind
) -> int:
    stack = make_stack(np.zeros(shape, dtype=np.uint16), chunks)
    graph = build_statistics_graph([stack, stack], kind)
    return len(dict(graph.partials.__dask_graph__()))


@pytest.mark.parametrize("kind", ["mean_std", "quantile"])
def test_tasks_grow_with_chunks_not_pixels(kind: StatisticsKind) -> None:
    small = _n_tasks((2, 1, 64, 64), (1, 1, 16, 16), kind)
    large = _n_tasks((2, 1, 512, 512), (1, 1, 128, 128), kind)
    finer = _n_tasks((2, 1, 512, 512), (1, 1, 32, 32), kind)
    assert small == large
    assert finer > 10 * large


# --- input errors ------------------------------------------------------------------


def test_input_errors() -> None:
    stack = make_stack(np.zeros((2, 2, 16, 16)), (1, 1, 8, 8))
    with pytest.raises(ValueError, match="Statistics kind unknown"):
        build_statistics_graph([stack], "none")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Channel indices out of range"):
        build_statistics_graph([stack], "mean_std", channels=[2])
    with pytest.raises(ValueError, match="Stack channels differ"):
        build_statistics_graph([stack, make_stack(np.zeros((1, 3, 8, 8)))], "mean_std")
    with pytest.raises(ValueError, match="dims invalid"):
        build_statistics_graph(
            [stack, make_stack(np.zeros((1, 2, 2, 8, 8)))], "mean_std"
        )
    with pytest.raises(ValueError, match="Region weights count"):
        build_statistics_graph([stack], "mean_std", weights=[None, None])
    bad = RegionWeights(values=np.ones((3, 2, 2)), cell_size=(8, 8))
    with pytest.raises(ValueError, match="Region weights do not match stack 0"):
        build_statistics_graph([stack], "mean_std", weights=[bad])
    negative = RegionWeights(values=-np.ones((2, 2, 2)), cell_size=(8, 8))
    with pytest.raises(ValueError, match="Region weights invalid"):
        build_statistics_graph([stack], "mean_std", weights=[negative])
    with pytest.raises(ValueError, match=r"Number of lower_quantiles \(3\)"):
        build_statistics_graph([stack], "quantile", lower_quantiles=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="single-element lists"):
        build_statistics_graph(
            [stack], "quantile", per_channel=False, lower_quantiles=[0.1, 0.2]
        )
    with pytest.raises(ValueError, match="Quantile levels invalid"):
        build_statistics_graph(
            [stack], "quantile", lower_quantiles=[0.5], upper_quantiles=[0.4]
        )


# --- resolve_normalization -------------------------------------------------------


def _data_config(normalization: dict[str, Any]) -> DataConfig:
    return DataConfig(
        mode="training",
        data_type="array",
        axes="SCYX",
        patching={"name": "stratified", "patch_size": [16, 16]},
        normalization=normalization,
    )


@pytest.mark.parametrize("skip_target", [False, True])
@pytest.mark.parametrize("name", ["mean_std", "min_max", "quantile"])
def test_resolve_fills_the_data_config(name: StatisticsKind, skip_target: bool) -> None:
    inputs = RNG.integers(0, 1000, (2, 2, 24, 24), dtype=np.uint16)
    targets = RNG.normal(3, 1, (2, 1, 24, 24)).astype(np.float32)
    config = _data_config({"name": name, "skip_target": skip_target})
    norm = config.normalization
    resolve_normalization(
        norm,
        [make_stack(inputs, (1, 1, 12, 12))],
        [make_stack(targets, (1, 1, 12, 12))],
    )
    assert config.normalization is norm
    fields = {
        "mean_std": ("means", "stds"),
        "min_max": ("mins", "maxes"),
        "quantile": ("lower_quantile_values", "upper_quantile_values"),
    }[name]
    first = getattr(norm, f"input_{fields[0]}")
    second = getattr(norm, f"input_{fields[1]}")
    expected = compute_statistics(
        [make_stack(inputs, (1, 1, 12, 12))],
        name,
        lower_quantiles=[0.01],
        upper_quantiles=[0.99],
    )
    assert (first, second) == expected.pair
    target_first = getattr(norm, f"target_{fields[0]}")
    if skip_target:
        assert target_first is None
    else:
        assert target_first is not None
        assert len(target_first) == 1
        assert not norm.target_needs_computation()


def test_resolve_computes_only_what_is_missing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inputs = make_stack(RNG.normal(0, 1, (1, 1, 16, 16)), (1, 1, 8, 8))
    targets = make_stack(RNG.normal(5, 2, (1, 1, 16, 16)), (1, 1, 8, 8))
    config = MeanStdConfig(input_means=[1.0], input_stds=[2.0])
    with caplog.at_level(logging.INFO, logger="careamics_dask.graph.statistics"):
        resolve_normalization(config, [inputs], [targets])
    assert (config.input_means, config.input_stds) == ([1.0], [2.0])
    assert config.target_means is not None
    assert "statistics of the targets" in caplog.text
    assert "statistics of the inputs" not in caplog.text
    counting = CountingScheduler()
    with dask.config.set(scheduler=counting):
        resolve_normalization(config, [inputs], [targets])
        resolve_normalization(MeanStdConfig(), [inputs], None)
        resolve_normalization(NoNormConfig(), [inputs], [targets])
    assert counting.calls == 1  # only the input-only config computed


def test_resolve_without_targets_leaves_target_stats_missing() -> None:
    config = MinMaxConfig()
    resolve_normalization(config, [make_stack(RNG.normal(0, 1, (1, 1, 8, 8)))])
    assert config.input_mins is not None
    assert config.target_mins is None


def test_resolve_per_channel_false_and_weights() -> None:
    data = RNG.normal(0, 1, (1, 2, 16, 16))
    config = MeanStdConfig(per_channel=False)
    weights = RegionWeights(
        values=np.array([[[1.0, 0.0], [0.0, 0.0]]]), cell_size=(8, 8)
    )
    resolve_normalization(config, [make_stack(data, (1, 1, 8, 8))], weights=[weights])
    corner = data[:, :, :8, :8]
    assert config.input_means is not None
    assert config.input_stds is not None
    assert config.input_means[0] == pytest.approx(corner.mean())
    assert config.input_stds[0] == pytest.approx(corner.std())


def test_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    stack = make_stack(RNG.normal(0, 1, (1, 1, 8, 8)), (1, 1, 4, 4))
    with dask.config.set(scheduler="threads"):
        compute_statistics([stack], "mean_std", progress=True)
    assert "100%" in capsys.readouterr().out


def test_non_finite_pixels_raise() -> None:
    kinds: tuple[StatisticsKind, ...] = ("mean_std", "quantile")
    data = np.ones((1, 1, 8, 8), dtype=np.float32)
    data[0, 0, 2, 2] = np.nan
    for kind in kinds:
        with pytest.raises(ValueError, match="Statistics not finite"):
            compute_statistics([make_stack(data, (1, 1, 4, 4))], kind)
    data[0, 0, 2, 2] = np.inf
    with pytest.raises(ValueError, match="Statistics not finite"):
        compute_statistics([make_stack(data, (1, 1, 4, 4))], "quantile")


# --- compute_normalization_statistics --------------------------------------------


def test_normalization_statistics_are_returned_not_written() -> None:
    inputs = make_stack(RNG.normal(0, 1, (1, 2, 16, 16)), (1, 1, 8, 8))
    targets = make_stack(RNG.normal(5, 2, (1, 1, 16, 16)), (1, 1, 8, 8))
    counting = CountingScheduler()
    with dask.config.set(scheduler=counting):
        result = compute_normalization_statistics(
            "mean_std", [inputs], [targets], channels=[1]
        )
    assert counting.calls == 1  # inputs and targets in one compute
    assert isinstance(result, NormalizationStatistics)
    assert result.inputs == compute_statistics([inputs], "mean_std", channels=[1])
    assert result.targets == compute_statistics([targets], "mean_std")
    only_targets = compute_normalization_statistics("min_max", None, [targets])
    assert only_targets.inputs is None
    assert only_targets.targets is not None
    assert compute_normalization_statistics("quantile", None) == (
        NormalizationStatistics()
    )
