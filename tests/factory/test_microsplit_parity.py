"""Parity of MicroSplit datasets with the reference (CAREamics 0.3.5) where installed.

Run in the reference environment:
``.venv-ref/bin/pytest tests/factory/test_microsplit_parity.py``.

Random patch positions come from different generators here and in the reference,
so patches are compared at the same specs: the reference's constructors are driven
by a ``FixedPatching`` over this package's patch table (and, for uncorrelated
patches, by this package's per-channel locations).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pytest

from careamics_dask.config import MicroSplitDataConfig
from careamics_dask.factory import (
    IndependentTargets,
    MultiChannelTarget,
    PairedInputTarget,
    create_microsplit_dataset,
    create_microsplit_pred_dataset,
)
from careamics_dask.graph.microsplit import extract_lateral_context
from careamics_dask.graph.reading import PatchReader, StackSource

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref_config = pytest.importorskip("careamics.config.data")
    ref_factory = pytest.importorskip("careamics.dataset.factory")
    ref_constructors = pytest.importorskip(
        "careamics.dataset.patch_constructor.microsplit_patch_constructors"
    )
    ref_patching = pytest.importorskip("careamics.dataset.patching")
    ref_extractor = pytest.importorskip("careamics.dataset.patch_extractor")
    ref_stack = pytest.importorskip("careamics.dataset.image_stack")

RNG = np.random.default_rng(4)
PATCH = (16, 16)


def _fields(mode: str = "training", **extra: Any) -> dict[str, Any]:
    patching = {
        "training": {"name": "stratified", "patch_size": list(PATCH), "seed": 3},
        "validating": {"name": "fixed_random", "patch_size": list(PATCH), "seed": 3},
        "predicting": {"name": "tiled", "patch_size": list(PATCH), "overlaps": [4, 4]},
    }[mode]
    fields: dict[str, Any] = {
        "mode": mode,
        "data_type": "array",
        "axes": "SCYX",
        "patching": patching,
        "normalization": {"name": "none"},
        "augmentations": [],
        "seed": 42,
    }
    fields.update(extra)
    return fields


def _ref_extractor(arrays: list[np.ndarray], axes: str = "SCYX") -> Any:
    stacks = [ref_stack.InMemoryImageStack.from_array(a, axes) for a in arrays]
    return ref_extractor.PatchExtractor(stacks)


def _specs(dataset: Any) -> list[dict[str, Any]]:
    table = dataset.patch_table(0)
    return [
        {
            "data_idx": int(table.data_idx[i]),
            "sample_idx": int(table.sample_idx[i]),
            "coords": tuple(int(v) for v in table.coords[i]),
            "patch_size": tuple(int(v) for v in table.patch_size[i]),
        }
        for i in range(len(table))
    ]


@pytest.mark.parametrize("mode", ["reflect", "wrap"])
@pytest.mark.parametrize(
    ("shape", "patch"),
    [
        ((2, 2, 70, 90), (16, 16)),
        ((1, 1, 20, 40, 36), (4, 8, 8)),
        ((1, 1, 24, 24), (16, 16)),
    ],
)
def test_lateral_context_equals_reference(
    mode: str, shape: tuple[int, ...], patch: tuple[int, ...]
) -> None:
    data = (RNG.random(shape) * 100).astype(np.float32)
    axes = "SCZYX" if len(shape) == 5 else "SCYX"
    extractor = _ref_extractor([data], axes)
    source = StackSource(source="a", shape=shape, dtype="float32", data=data)
    reader = PatchReader([source])
    for multiscale_count in (1, 2, 3, 4):
        for _ in range(6):
            coords = [
                int(RNG.integers(0, max(1, s - p + 1)))
                for s, p in zip(shape[2:], patch, strict=True)
            ]
            expected = ref_constructors._extract_lc_patch(
                extractor, 0, 1 if shape[0] > 1 else 0, None, coords, patch,
                multiscale_count, mode,
            )  # fmt: skip
            got = extract_lateral_context(
                reader, 0, 1 if shape[0] > 1 else 0, coords, patch,
                multiscale_count, mode,  # type: ignore[arg-type]
            )  # fmt: skip
            # scale 0 is bit-exact; resized planes match to float32 rounding
            np.testing.assert_array_equal(got[:, 0], expected[:, 0])
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("multiscale_count", [1, 3])
def test_prediction_tiles_equal_reference(multiscale_count: int) -> None:
    arrays = [
        RNG.random((2, 1, 40, 40)).astype(np.float32),
        RNG.random((1, 1, 20, 52)).astype(np.float32),
    ]
    norm = {"name": "mean_std", "input_means": [0.5], "input_stds": [0.2]}
    fields = _fields(
        "predicting", multiscale_count=multiscale_count, normalization=norm
    )
    ours = create_microsplit_pred_dataset(MicroSplitDataConfig(**fields), arrays)
    theirs = ref_factory.create_microsplit_pred_dataset(
        ref_config.MicroSplitDataConfig(**fields), arrays
    )
    assert len(ours) == len(theirs)
    for index in range(len(ours)):
        (mine,) = ours[index]
        (reference,) = theirs[index]
        np.testing.assert_allclose(mine.data, reference.data, rtol=1e-6, atol=1e-6)
        assert mine.region_spec == {
            k: tuple(v) if isinstance(v, list) else v
            for k, v in reference.region_spec.items()
        }
        assert list(mine.data_shape) == list(reference.data_shape)


def test_paired_patches_equal_reference() -> None:
    inputs = [RNG.random((2, 1, 48, 48)).astype(np.float32)]
    targets = [RNG.random((2, 3, 48, 48)).astype(np.float32)]
    fields = _fields("validating", multiscale_count=3)
    ours = create_microsplit_dataset(
        MicroSplitDataConfig(**fields), PairedInputTarget(inputs, targets)
    )
    constructor = ref_constructors.PairedInputTargetMsPatchConstr(
        ref_patching.FixedPatching(_specs(ours)),
        _ref_extractor(inputs),
        _ref_extractor(targets),
        3,
        "reflect",
    )
    for index in range(len(ours)):
        expected_input, expected_target, _ = constructor.construct_patch(index)
        mine, target = ours[index]
        np.testing.assert_allclose(mine.data, expected_input, rtol=1e-6)
        np.testing.assert_array_equal(target.data, expected_target)


@pytest.mark.parametrize("channels", [None, [2, 0]])
@pytest.mark.parametrize("prob", [0.0, 1.0])
def test_multiplexed_patches_equal_reference(channels: Any, prob: float) -> None:
    """Same locations (ours), fixed alphas: the reference builds the same patches."""
    targets = [RNG.random((2, 3, 48, 48)).astype(np.float32) * 50]
    alphas = [(0.3, 0.3), (0.5, 0.5), (1.2, 1.2)]
    fields = _fields(
        "validating",
        multiscale_count=2,
        alpha_ranges=alphas,
        channels=channels,
        uncorrelated_channel_prob=prob,
        padding_mode="wrap",
    )
    ours = create_microsplit_dataset(
        MicroSplitDataConfig(**fields), MultiChannelTarget(targets)
    )
    extractor = _ref_extractor(targets)
    used = [alphas[c] for c in channels] if channels else alphas
    for index in range(len(ours)):
        mine, target = ours[index]
        spec = mine.region_spec
        if prob == 0:
            patch = ref_constructors._extract_lc_patch(
                extractor, **spec, channels=channels, multiscale_count=2,
                padding_mode="wrap",
            )  # fmt: skip
        else:
            specs = [
                {"data_idx": d, "sample_idx": s, "coords": c, "patch_size": PATCH}
                for d, s, c in zip(
                    spec["all_data_idx"], spec["all_sample_idx"], spec["all_coords"],
                    strict=True,
                )
            ]  # fmt: skip
            patch, _ = ref_constructors._construct_uncorrelated_patch(
                extractor, specs, channels, 0, 2, "wrap"
            )
        expected_input, expected_target = ref_constructors._create_input_target(
            patch, used, np.random.default_rng(0)
        )
        np.testing.assert_allclose(mine.data, expected_input, rtol=1e-6)
        np.testing.assert_array_equal(target.data, expected_target)


def test_independent_patches_equal_reference() -> None:
    first = [RNG.random((2, 1, 48, 48)).astype(np.float32)]
    second = [RNG.random((1, 1, 40, 56)).astype(np.float32) + 3]
    fields = _fields("validating", multiscale_count=3, alpha_ranges=[(1, 1), (2, 2)])
    ours = create_microsplit_dataset(
        MicroSplitDataConfig(**fields), IndependentTargets([first, second])
    )
    extractors = [_ref_extractor(first), _ref_extractor(second)]
    for index in range(len(ours)):
        mine, target = ours[index]
        spec = mine.region_spec
        specs = [
            {"data_idx": d, "sample_idx": s, "coords": c, "patch_size": PATCH}
            for d, s, c in zip(
                spec["all_data_idx"], spec["all_sample_idx"], spec["all_coords"],
                strict=True,
            )
        ]  # fmt: skip
        patch, ref_spec = ref_constructors._construct_uncorrelated_patch(
            extractors, specs, None, spec["principal_channel"], 3, "reflect"
        )
        expected_input, expected_target = ref_constructors._create_input_target(
            patch, [(1, 1), (2, 2)], np.random.default_rng(0)
        )
        np.testing.assert_allclose(mine.data, expected_input, rtol=1e-6)
        np.testing.assert_array_equal(target.data, expected_target)
        assert ref_spec["principal_channel"] == spec["principal_channel"]


TARGET_0 = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
TARGET = np.concatenate([TARGET_0, TARGET_0 + 100])


@pytest.mark.parametrize("name", ["mean_std", "min_max", "quantile"])
@pytest.mark.parametrize("kind", ["multiplexed", "independent", "paired"])
def test_statistics_equal_reference(name: str, kind: str) -> None:
    alphas = None if kind == "paired" else [(0.25, 0.25), (0.75, 0.75)]
    fields = _fields(
        axes="CYX",
        patching={"name": "stratified", "patch_size": [4, 4], "seed": 42},
        normalization=(
            {"name": name, "lower_quantiles": [2 / 15], "upper_quantiles": [13 / 15]}
            if name == "quantile"
            else {"name": name}
        ),
        alpha_ranges=alphas,
        multiscale_count=2,
    )
    containers = {
        "multiplexed": ("MultiChannelTarget", MultiChannelTarget, ([TARGET],)),
        "independent": (
            "IndependentTargets",
            IndependentTargets,
            ([[TARGET[:1]], [TARGET[1:]]],),
        ),
        "paired": (
            "PairedInputTarget",
            PairedInputTarget,
            ([TARGET[:1] + TARGET[1:]], [TARGET]),
        ),
    }
    ref_name, ours_type, args = containers[kind]
    ours = MicroSplitDataConfig(**fields)
    theirs = ref_config.MicroSplitDataConfig(**fields)
    create_microsplit_dataset(ours, ours_type(*args))
    ref_factory.create_microsplit_dataset(
        theirs, getattr(ref_factory, ref_name)(*args), rng=np.random.default_rng(1)
    )
    mine = ours.normalization.model_dump()
    expected = theirs.normalization.model_dump()
    rtol = 0.02 if name == "quantile" else 1e-6
    for key, value in expected.items():
        if isinstance(value, list) and value and isinstance(value[0], float):
            np.testing.assert_allclose(mine[key], value, rtol=rtol, err_msg=key)


def test_statistics_of_random_mixtures_close_to_reference() -> None:
    data = [RNG.random((8, 2, 64, 64)).astype(np.float32) * [[[[10]], [[100]]]]]
    fields = _fields(
        normalization={"name": "mean_std"},
        alpha_ranges=[(0.0, 1.0), (0.5, 1.5)],
        uncorrelated_channel_prob=0.5,
    )
    ours = MicroSplitDataConfig(**fields)
    theirs = ref_config.MicroSplitDataConfig(**fields)
    create_microsplit_dataset(ours, MultiChannelTarget(data))
    ref_factory.create_microsplit_dataset(theirs, ref_factory.MultiChannelTarget(data))
    mine = ours.normalization.model_dump()
    expected = theirs.normalization.model_dump()
    for key in ("input_means", "input_stds"):
        np.testing.assert_allclose(mine[key], expected[key], rtol=0.05, err_msg=key)


def test_config_rules_and_conversion_equal_reference() -> None:
    for fields in (
        _fields("predicting", uncorrelated_channel_prob=0.5),
        _fields("predicting", alpha_ranges=[(0, 1)]),
    ):
        with pytest.raises(ValueError) as mine:
            MicroSplitDataConfig(**fields)
        with pytest.raises(ValueError) as reference:
            ref_config.MicroSplitDataConfig(**fields)
        assert mine.value.errors()[0]["msg"] == reference.value.errors()[0]["msg"]  # type: ignore[attr-defined]
    fields = _fields(multiscale_count=3, padding_mode="wrap", alpha_ranges=[(0, 1)])
    ours, theirs = (
        MicroSplitDataConfig(**fields),
        ref_config.MicroSplitDataConfig(**fields),
    )
    for args in (("validating",), ("predicting", [16, 16], [8, 8])):
        a, b = ours.convert_mode(*args), theirs.convert_mode(*args)
        for key in (
            "multiscale_count",
            "padding_mode",
            "alpha_ranges",
            "uncorrelated_channel_prob",
        ):
            assert getattr(a, key) == getattr(b, key), key
        assert a.patching.name == b.patching.name


def test_unused_field_message_equals_reference(
    caplog: pytest.LogCaptureFixture,
) -> None:
    one = [np.ones((1, 1, 32, 32), np.float32)]
    fields = _fields(channels=[0], uncorrelated_channel_prob=0.5)
    with caplog.at_level(logging.WARNING):
        create_microsplit_dataset(
            MicroSplitDataConfig(**fields), IndependentTargets([one, one])
        )
    ours_messages = [
        (r.levelno, r.getMessage())
        for r in caplog.records
        if "MicroSplit" in r.getMessage()
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        ref_factory.create_microsplit_dataset(
            ref_config.MicroSplitDataConfig(**fields),
            ref_factory.IndependentTargets([one, one]),
        )
    messages = [
        (r.levelno, r.getMessage())
        for r in caplog.records
        if "MicroSplit" in r.getMessage()
    ]
    assert ours_messages == messages
    assert len(messages) == 1
