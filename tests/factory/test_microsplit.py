from __future__ import annotations

import itertools
import logging
import pickle
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import tifffile
import zarr

from careamics_dask import BatchStream
from careamics_dask.config import DataConfig, MicroSplitDataConfig
from careamics_dask.factory import (
    IndependentTargets,
    MicroSplitDataset,
    MultiChannelTarget,
    PairedInputTarget,
    UNetConstraints,
    create_microsplit_dataset,
    create_microsplit_pred_dataset,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from distributed import Client

    from careamics_dask.patching import PatchTable

PATCH = (16, 16)
VALUES = (1.0, 5.0, 10.0)
REAL_INPUT = 16.2
MULTIPLEXED_SHAPES = [(2, 3, 48, 48), (1, 3, 56, 40)]
SEPARATE_SHAPES = [
    [(2, 1, 48, 48), (1, 1, 56, 40)],
    [(1, 1, 40, 48), (1, 1, 48, 48), (1, 1, 32, 56)],
    [(4, 1, 48, 48)],
]
ALPHAS = [
    None,
    [(1.2, 1.2)] * 3,
    [(0.2, 0.2), (0.5, 0.5), (0.8, 0.8)],
    [(0.5, 1.0)] * 3,
]


def config(mode: str = "training", **fields: Any) -> MicroSplitDataConfig:
    patching = {
        "training": {"name": "stratified", "patch_size": list(PATCH)},
        "validating": {"name": "fixed_random", "patch_size": list(PATCH)},
        "predicting": {"name": "tiled", "patch_size": list(PATCH), "overlaps": [8, 8]},
    }[mode]
    values: dict[str, Any] = {
        "mode": mode,
        "data_type": "array",
        "axes": "SCYX",
        "patching": patching,
        "normalization": {"name": "none"},
        "batch_size": 8,
        "seed": 42,
    }
    values.update(fields)
    return MicroSplitDataConfig(**values)


def channel_arrays(
    shapes: Sequence[tuple[int, ...]], values: tuple[float, ...]
) -> list[np.ndarray]:
    weights = np.asarray(values, np.float32).reshape(1, -1, 1, 1)
    return [np.ones(shape, np.float32) * weights for shape in shapes]


def sources(arrays: list[np.ndarray], data_type: str, tmp_path: Path, name: str) -> Any:
    """Arrays as they are, as TIFF files, or as one Zarr store of arrays."""
    if data_type == "array":
        return arrays
    if data_type == "tiff":
        paths = []
        for index, array in enumerate(arrays):
            paths.append(tmp_path / f"{name}_{index}.tiff")
            tifffile.imwrite(paths[-1], array)
        return paths
    store = tmp_path / f"{name}.zarr"
    group = zarr.open_group(store, mode="w")
    for index, array in enumerate(arrays):
        group.create_array(f"a{index}", data=array, chunks=(1, 1, 16, 16))
    return store


def all_patches(dataset: MicroSplitDataset, epoch: int = 0) -> tuple[Any, Any, Any]:
    """Inputs, targets and uncorrelated flags of every patch of an epoch."""
    inputs = dataset.to_dask(epoch).compute()
    targets = (
        dataset.to_dask(epoch, target=True).compute()
        if dataset.targets is not None
        else None
    )
    indices = np.arange(len(dataset))
    plan: Any = dataset.plan
    locations = plan.locate(dataset.patch_table(epoch), indices, epoch)
    return inputs, targets, locations.uncorrelated


def upper_bound(alphas: Any, values: tuple[float, ...], channels: Any) -> float:
    selected = list(channels) if channels is not None else list(range(len(values)))
    if alphas is None:
        return sum(values[c] for c in selected) / len(selected)
    return float(sum(alphas[c][1] * values[c] for c in selected))


# --- the reference's patch-constructor catalogue ------------------------------


@pytest.mark.parametrize(
    ("case", "multiscale_count", "alphas", "prob"),
    [
        (i, *combo)
        for i, combo in enumerate(itertools.product([1, 2, 3], ALPHAS, [0.0, 0.5, 1.0]))
    ],
)
def test_multiplexed_patches(
    case: int, multiscale_count: int, alphas: Any, prob: float
) -> None:
    channels = [None, [0, 1], [2, 0]][case % 3]
    cfg = config(
        multiscale_count=multiscale_count,
        alpha_ranges=alphas,
        uncorrelated_channel_prob=prob,
        channels=channels,
        augmentations=[],
    )
    data = channel_arrays(MULTIPLEXED_SHAPES, VALUES)
    dataset = create_microsplit_dataset(cfg, MultiChannelTarget(data))
    inputs, targets, uncorrelated = all_patches(dataset)
    n = len(channels) if channels is not None else 3
    assert inputs.shape == (len(dataset), multiscale_count, *PATCH)
    assert targets.shape == (len(dataset), n, *PATCH)
    expected = [VALUES[c] for c in (channels or range(3))]
    np.testing.assert_array_equal(
        targets, np.broadcast_to(np.reshape(expected, (1, n, 1, 1)), targets.shape)
    )
    assert (inputs <= np.float32(upper_bound(alphas, VALUES, channels))).all()
    assert uncorrelated.all() if prob == 1 else True
    assert not uncorrelated.any() if prob == 0 else True
    if prob == 0.5:
        assert 0 < uncorrelated.sum() < len(dataset)
    for index in (0, len(dataset) - 1):
        region, target = dataset[index]
        assert ("all_data_idx" in region.region_spec) is bool(uncorrelated[index])
        assert region.region_spec is target.region_spec


@pytest.mark.parametrize(
    ("multiscale_count", "alphas"),
    list(itertools.product([1, 2, 3], ALPHAS)),
)
def test_independent_patches(multiscale_count: int, alphas: Any) -> None:
    data = IndependentTargets(
        [
            channel_arrays(shapes, (value,))
            for shapes, value in zip(SEPARATE_SHAPES, VALUES, strict=True)
        ]
    )
    cfg = config(multiscale_count=multiscale_count, alpha_ranges=alphas)
    dataset = create_microsplit_dataset(cfg, data)
    inputs, targets, uncorrelated = all_patches(dataset)
    assert inputs.shape == (len(dataset), multiscale_count, *PATCH)
    assert targets.shape == (len(dataset), 3, *PATCH)
    np.testing.assert_array_equal(
        targets, np.broadcast_to(np.reshape(VALUES, (1, 3, 1, 1)), targets.shape)
    )
    assert (inputs <= np.float32(upper_bound(alphas, VALUES, None))).all()
    assert uncorrelated.all()
    # the principal source has the most patches: the 4 samples of 48 x 48
    assert dataset.plan.principal == 2  # type: ignore[attr-defined]
    region, _ = dataset[0]
    assert region.region_spec["principal_channel"] == 2


@pytest.mark.parametrize("multiscale_count", [1, 2, 3])
def test_paired_and_prediction_constant_inputs(multiscale_count: int) -> None:
    real = [
        np.full((s[0], 1, *s[2:]), REAL_INPUT, np.float32) for s in MULTIPLEXED_SHAPES
    ]
    targets = channel_arrays(MULTIPLEXED_SHAPES, VALUES)
    dataset = create_microsplit_dataset(
        config(multiscale_count=multiscale_count),
        PairedInputTarget(real, targets),
    )
    inputs, target, uncorrelated = all_patches(dataset)
    assert inputs.shape == (len(dataset), multiscale_count, *PATCH)
    assert (inputs == REAL_INPUT).all()
    np.testing.assert_array_equal(
        target, np.broadcast_to(np.reshape(VALUES, (1, 3, 1, 1)), target.shape)
    )
    assert not uncorrelated.any()
    assert "all_data_idx" not in dataset[0][0].region_spec
    pred = create_microsplit_pred_dataset(
        config("predicting", multiscale_count=multiscale_count), real
    )
    values, none, _ = all_patches(pred)
    assert none is None
    assert values.shape == (len(pred), multiscale_count, *PATCH)
    assert (values == REAL_INPUT).all()
    (region,) = pred[len(pred) - 1]
    assert "stitch_coords" in region.region_spec


def test_uncorrelated_metadata_names_every_channel_source(tmp_path: Path) -> None:
    data = channel_arrays(MULTIPLEXED_SHAPES, VALUES)
    paths = sources(data, "tiff", tmp_path, "multiplexed")
    cfg = config(data_type="tiff", uncorrelated_channel_prob=1.0, channels=[2, 0])
    dataset = create_microsplit_dataset(cfg, MultiChannelTarget(paths))
    for index in range(0, len(dataset), 7):
        region, target = dataset[index]
        spec = region.region_spec
        names = [str(paths[d]) for d in spec["all_data_idx"]]
        assert region.source == names[0] == target.source
        assert region.additional_metadata["all_sources"] == names
        assert region.additional_metadata["all_data_shapes"] == [
            MULTIPLEXED_SHAPES[d] for d in spec["all_data_idx"]
        ]
        assert region.data_shape[1] == 2  # the channel selection
        assert target.data_shape[1] == 3
    separate = [
        sources(channel_arrays(shapes, (value,)), "tiff", tmp_path, f"sep{c}")
        for c, (shapes, value) in enumerate(zip(SEPARATE_SHAPES, VALUES, strict=True))
    ]
    cfg = config(data_type="tiff")
    dataset = create_microsplit_dataset(cfg, IndependentTargets(separate))
    region, _ = dataset[5]
    spec = region.region_spec
    names = [str(separate[c][d]) for c, d in enumerate(spec["all_data_idx"])]
    assert region.source == names[spec["principal_channel"]]
    assert region.additional_metadata["all_sources"] == names
    assert region.additional_metadata["all_data_shapes"] == [
        SEPARATE_SHAPES[c][d] for c, d in enumerate(spec["all_data_idx"])
    ]


# --- the reference's factory catalogue, on arrays, TIFF and Zarr ---------------


def _factory_data(mode: str, data_type: str, tmp_path: Path) -> tuple[Any, int]:
    rng = np.random.default_rng(42)
    if mode == "multiplexed":
        arrays = [rng.random((2, 2, 48, 48)).astype(np.float32)]
        return MultiChannelTarget(sources(arrays, data_type, tmp_path, "t")), 2
    if mode == "separate":
        first = [rng.random((2, 1, 48, 48)).astype(np.float32)]
        second = [rng.random((2, 1, 40, 56)).astype(np.float32)]
        return IndependentTargets(
            [
                sources(first, data_type, tmp_path, "s0"),
                sources(second, data_type, tmp_path, "s1"),
            ]
        ), 2
    inputs = [rng.random((2, 1, 48, 48)).astype(np.float32)]
    targets = [rng.random((2, 2, 48, 48)).astype(np.float32)]
    return PairedInputTarget(
        sources(inputs, data_type, tmp_path, "i"),
        sources(targets, data_type, tmp_path, "t"),
    ), 2


@pytest.mark.parametrize("data_type", ["array", "tiff", "zarr"])
@pytest.mark.parametrize(
    ("mode", "prob"),
    [("multiplexed", 0.0), ("multiplexed", 1.0), ("separate", 1.0), ("paired", 0.0)],
)
@pytest.mark.parametrize("multiscale_count", [1, 2, 3])
def test_train_dataset_all_indices(
    tmp_path: Path, data_type: str, mode: str, prob: float, multiscale_count: int
) -> None:
    data, n_channels = _factory_data(mode, data_type, tmp_path)
    cfg = config(
        data_type=data_type,
        multiscale_count=multiscale_count,
        uncorrelated_channel_prob=prob,
    )
    dataset = create_microsplit_dataset(cfg, data, rng=np.random.default_rng(23))
    inputs, targets, uncorrelated = all_patches(dataset)
    assert inputs.shape == (len(dataset), multiscale_count, *PATCH)
    assert targets.shape == (len(dataset), n_channels, *PATCH)
    expected = mode == "separate" or (mode == "multiplexed" and prob == 1.0)
    assert (uncorrelated == expected).all()
    for index in (0, len(dataset) // 2, len(dataset) - 1):
        region, target = dataset[index]
        np.testing.assert_array_equal(region.data, inputs[index])
        np.testing.assert_array_equal(target.data, targets[index])
        assert ("all_data_idx" in region.region_spec) is expected
        assert ("all_data_idx" in target.region_spec) is expected


@pytest.mark.parametrize("data_type", ["array", "tiff", "zarr"])
@pytest.mark.parametrize("multiscale_count", [1, 3])
def test_pred_dataset_all_indices(
    tmp_path: Path, data_type: str, multiscale_count: int
) -> None:
    rng = np.random.default_rng(42)
    arrays = [
        rng.random((2, 1, 48, 48)).astype(np.float32),
        rng.random((1, 1, 40, 56)).astype(np.float32),
    ]
    cfg = config("predicting", data_type=data_type, multiscale_count=multiscale_count)
    source = sources(arrays, data_type, tmp_path, "p")
    # standard loading takes a sequence (the reference's rule): a store goes in a list
    dataset = create_microsplit_pred_dataset(
        cfg, source if isinstance(source, list) else [source]
    )
    inputs, _, _ = all_patches(dataset)
    assert inputs.shape == (len(dataset), multiscale_count, *PATCH)
    table = dataset.patch_table()
    for index in range(0, len(dataset), 5):
        (region,) = dataset[index]
        d, s = int(table.data_idx[index]), int(table.sample_idx[index])
        y, x = table.coords[index]
        np.testing.assert_array_equal(
            region.data[0], arrays[d][s, 0, y : y + 16, x : x + 16]
        )


def test_factories_reject_wrong_mode_and_data() -> None:
    data = MultiChannelTarget(channel_arrays(MULTIPLEXED_SHAPES, VALUES))
    with pytest.raises(ValueError, match="Use `create_microsplit_pred_dataset`"):
        create_microsplit_dataset(config("predicting"), data)
    with pytest.raises(ValueError, match="requires a config with mode='predicting'"):
        create_microsplit_pred_dataset(config(), [np.ones((32, 32))])
    for few in ([], [channel_arrays(SEPARATE_SHAPES[0], (1.0,))]):
        with pytest.raises(ValueError, match="two target channel sources"):
            create_microsplit_dataset(config(), IndependentTargets(few))
    with pytest.raises(TypeError, match="Prediction input must be a sequence"):
        create_microsplit_pred_dataset(
            config("predicting", axes="YX"), np.ones((32, 32))
        )
    with pytest.raises(TypeError, match="`data` must be one of"):
        create_microsplit_dataset(config(), data.target_data)  # type: ignore[arg-type]
    plain = DataConfig(**config().model_dump(exclude={"multiscale_count"}))
    with pytest.raises(TypeError, match="need a MicroSplitDataConfig"):
        create_microsplit_dataset(plain, data)  # type: ignore[arg-type]


def test_channel_and_alpha_rules() -> None:
    two = [np.ones((1, 2, 32, 32), np.float32)]
    one = [np.ones((1, 1, 32, 32), np.float32)]
    with pytest.raises(ValueError, match="paired inputs must have one channel"):
        create_microsplit_dataset(config(), PairedInputTarget(two, two))
    with pytest.raises(ValueError, match="independent sources must have one channel"):
        create_microsplit_dataset(config(), IndependentTargets([one, two]))
    with pytest.raises(ValueError, match="predicting inputs must have one channel"):
        create_microsplit_pred_dataset(config("predicting"), two)
    with pytest.raises(ValueError, match="expected 2, got 3"):
        create_microsplit_dataset(
            config(alpha_ranges=[(0, 1)] * 3), MultiChannelTarget(two)
        )
    with pytest.raises(ValueError, match="Channel index 2 is out of bounds"):
        create_microsplit_dataset(config(channels=[2]), MultiChannelTarget(two))


def _unused_notices(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "careamics_dask.factory.microsplit"
        and r.levelno == logging.WARNING
    ]


def test_factory_logs_unused_fields_once(caplog: pytest.LogCaptureFixture) -> None:
    one = [np.ones((1, 1, 32, 32), np.float32)]
    with caplog.at_level(logging.WARNING):
        create_microsplit_dataset(
            config(alpha_ranges=[(0, 1)], channels=[0], uncorrelated_channel_prob=0.2),
            PairedInputTarget(one, one),
        )
    assert _unused_notices(caplog) == [
        "MicroSplit paired-input-target mode does not use config field(s): "
        "alpha_ranges, channels, uncorrelated_channel_prob."
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        create_microsplit_dataset(config(channels=[0]), IndependentTargets([one, one]))
    (notice,) = _unused_notices(caplog)
    assert "separate-target mode does not use config field(s): channels." in notice
    caplog.clear()
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")
        create_microsplit_dataset(
            config(alpha_ranges=None), PairedInputTarget(one, one)
        )
        create_microsplit_dataset(config(), MultiChannelTarget(one * 1))
    assert _unused_notices(caplog) == []


# --- statistics of the synthesized input (reference functional catalogue) ----

TARGET_0 = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
TARGET_1 = TARGET_0 + 100
TARGET = np.concatenate([TARGET_0, TARGET_1])
MIXED = 0.25 * TARGET_0 + 0.75 * TARGET_1
LEVELS = (2 / 15, 1 - 2 / 15)


def _expected(name: str, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if name == "mean_std":
        return data.mean(axis=(1, 2)), data.std(axis=(1, 2))
    if name == "min_max":
        return data.min(axis=(1, 2)), data.max(axis=(1, 2))
    return (
        np.quantile(data, LEVELS[0], axis=(1, 2)),
        np.quantile(data, LEVELS[1], axis=(1, 2)),
    )


@pytest.mark.parametrize("name", ["mean_std", "min_max", "quantile"])
@pytest.mark.parametrize(
    ("data", "alphas", "expected_input"),
    [
        (MultiChannelTarget([TARGET]), [(0.25, 0.25), (0.75, 0.75)], MIXED),
        (
            IndependentTargets([[TARGET_0], [TARGET_1]]),
            [(0.25, 0.25), (0.75, 0.75)],
            MIXED,
        ),
        (PairedInputTarget([TARGET_0 + TARGET_1], [TARGET]), None, TARGET_0 + TARGET_1),
    ],
    ids=["multiplexed", "independent", "paired"],
)
def test_statistics_of_principal_input(
    name: str, data: Any, alphas: Any, expected_input: np.ndarray
) -> None:
    norm: dict[str, Any] = {"name": name}
    if name == "quantile":
        norm.update(lower_quantiles=[LEVELS[0]], upper_quantiles=[LEVELS[1]])
    cfg = config(
        axes="CYX",
        patching={"name": "stratified", "patch_size": [4, 4]},
        normalization=norm,
        alpha_ranges=alphas,
        multiscale_count=2,
    )
    create_microsplit_dataset(cfg, data)
    stats = cfg.normalization.model_dump()
    keys = {
        "mean_std": ("means", "stds"),
        "min_max": ("mins", "maxes"),
        "quantile": ("lower_quantile_values", "upper_quantile_values"),
    }[name]
    rtol = 0.02 if name == "quantile" else 1e-6
    for prefix, values in (("input", expected_input), ("target", TARGET)):
        low, high = _expected(name, values)
        np.testing.assert_allclose(stats[f"{prefix}_{keys[0]}"], low, rtol=rtol)
        np.testing.assert_allclose(stats[f"{prefix}_{keys[1]}"], high, rtol=rtol)


def test_statistics_of_random_mixtures_use_the_epoch_patches() -> None:
    rng = np.random.default_rng(5)
    data = [rng.random((4, 2, 64, 64)).astype(np.float32) * [[[[10]], [[100]]]]]
    cfg = config(
        normalization={"name": "mean_std"},
        alpha_ranges=[(0.0, 1.0), (0.5, 1.5)],
        uncorrelated_channel_prob=0.5,
    )
    dataset = create_microsplit_dataset(cfg, MultiChannelTarget(data))
    raw = config(
        alpha_ranges=[(0.0, 1.0), (0.5, 1.5)],
        uncorrelated_channel_prob=0.5,
        multiscale_count=1,
        augmentations=[],
    )
    plain = create_microsplit_dataset(raw, MultiChannelTarget(data))
    principal = plain.to_dask(0).compute()[:, 0]
    norm = cfg.normalization.model_dump()
    np.testing.assert_allclose(norm["input_means"], [principal.mean()], rtol=1e-5)
    np.testing.assert_allclose(norm["input_stds"], [principal.std()], rtol=1e-5)
    assert len(dataset) == len(plain)


# --- batches: eager, lazy, streamed, pickled -----------------------------------


def _training_dataset(batch_size: int = 8) -> MicroSplitDataset:
    rng = np.random.default_rng(9)
    data = [rng.random((3, 2, 48, 48)).astype(np.float32)]
    cfg = config(
        multiscale_count=3,
        alpha_ranges=[(0.2, 0.8), (0.5, 1.0)],
        uncorrelated_channel_prob=0.5,
        normalization={"name": "mean_std"},
        batch_size=batch_size,
        padding_mode="wrap",
    )
    return create_microsplit_dataset(cfg, MultiChannelTarget(data))


def test_to_dask_and_stream_equal_getitem() -> None:
    dataset = _training_dataset()
    dataset.set_epoch(1)
    inputs = dataset.to_dask(epoch=1).compute()
    targets = dataset.to_dask(epoch=1, target=True).compute()
    for index in range(len(dataset)):
        region, target = dataset[index]
        np.testing.assert_array_equal(region.data, inputs[index])
        np.testing.assert_array_equal(target.data, targets[index])
    stream = BatchStream(dataset, epochs=2, shuffle=True)
    seen = 0
    for batch in stream:
        if batch.epoch == 1:
            np.testing.assert_array_equal(batch.input, inputs[batch.indices])
            assert batch.target is not None
            np.testing.assert_array_equal(batch.target, targets[batch.indices])
            seen += len(batch.indices)
    assert seen == len(dataset)
    # training augments: an epoch's inputs differ from the unaugmented build
    assert not np.array_equal(inputs, dataset.to_dask(epoch=2).compute())


def test_batches_do_not_depend_on_batch_grouping_or_pickling() -> None:
    small, large = _training_dataset(3), _training_dataset(11)
    np.testing.assert_array_equal(
        small.to_dask(epoch=2).compute(), large.to_dask(epoch=2).compute()
    )
    plan = pickle.loads(pickle.dumps(small.plan))
    table: PatchTable = small.patch_table(2)
    indices = np.array([7, 0, 12])
    again, _ = plan.build(table.take(indices), indices, 2)
    np.testing.assert_array_equal(again, small.to_dask(epoch=2).compute()[indices])


def test_validation_config_and_model_constraints() -> None:
    dataset = _training_dataset()
    val_config = dataset.config.convert_mode("validating")
    assert isinstance(val_config, MicroSplitDataConfig)
    rng = np.random.default_rng(9)
    data = MultiChannelTarget([rng.random((3, 2, 48, 48)).astype(np.float32)])
    val = create_microsplit_dataset(val_config, data)
    assert val.plan.augmentations == ()
    np.testing.assert_array_equal(val.to_dask(0).compute(), val.to_dask(3).compute())
    # explicit mixing options on a validating config: the same draws every epoch
    mixed = val_config.model_copy(
        update={"alpha_ranges": [(0, 1), (0, 1)], "uncorrelated_channel_prob": 0.5}
    )
    varied = create_microsplit_dataset(mixed, data)
    np.testing.assert_array_equal(
        varied.to_dask(0).compute(), varied.to_dask(3).compute()
    )
    assert not np.array_equal(varied.to_dask(0).compute(), val.to_dask(0).compute())
    unet = UNetConstraints(depth=2, n_input_channels=1, n_output_channels=2)
    create_microsplit_dataset(val_config, data, model_constraints=unet)
    wrong = UNetConstraints(depth=2, n_input_channels=1, n_output_channels=3)
    with pytest.raises(ValueError, match="Number of channels in target image"):
        create_microsplit_dataset(val_config, data, model_constraints=wrong)


def test_three_d_multiplexed() -> None:
    rng = np.random.default_rng(2)
    data = [rng.random((1, 2, 12, 32, 32)).astype(np.float32)]
    cfg = config(
        axes="SCZYX",
        patching={"name": "stratified", "patch_size": [4, 8, 8]},
        multiscale_count=2,
    )
    dataset = create_microsplit_dataset(cfg, MultiChannelTarget(data))
    inputs = dataset.to_dask().compute()
    assert inputs.shape == (len(dataset), 2, 4, 8, 8)
    region, target = dataset[0]
    np.testing.assert_allclose(region.data[0], target.data.mean(axis=0), rtol=1e-6)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


@pytest.mark.distributed
def test_cluster_batches_equal_local(cluster: Client) -> None:
    dataset = _training_dataset()
    local = [b.input for b in BatchStream(dataset, client=None, shuffle=True)]
    remote = [b.input for b in BatchStream(dataset, cluster, shuffle=True, prefetch=3)]
    for a, b in zip(local, remote, strict=True):
        np.testing.assert_array_equal(a, b)
