"""Parity of the background filters with CAREamics' own, where it is installed."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest

from careamics_dask.config import (
    MaskPatchFilterConfig,
    MaxPatchFilterConfig,
    MeanStdPatchFilterConfig,
    ShannonPatchFilterConfig,
)
from careamics_dask.factory.filters import apply_background_filter, compute_background
from careamics_dask.graph.filters import (
    MaskPatchFilter,
    MaxPatchFilter,
    MeanStdPatchFilter,
    ShannonPatchFilter,
    shannon_entropy,
)
from careamics_dask.patching import StratifiedPatching

ref_filters = pytest.importorskip("careamics.dataset.patch_filter")
ref_filter_bg = pytest.importorskip("careamics.dataset.factory.filter_bg")
ref_patching = pytest.importorskip("careamics.dataset.patching")
ref_extractor = pytest.importorskip("careamics.dataset.patch_extractor")
ref_loaders = pytest.importorskip("careamics.dataset.image_stack_loader")
ref_configs = pytest.importorskip("careamics.config.data.patch_filter")
skimage_measure = pytest.importorskip("skimage.measure")


@pytest.fixture(autouse=True)
def _synchronous() -> Any:
    with dask.config.set(scheduler="synchronous"):
        yield


def _patches(rng: np.random.Generator) -> list[np.ndarray]:
    """Float32 ``(1, *region)`` patches: noise, sparse, offset, constant, NaN."""
    patches = []
    for shape in [(1, 16, 16), (1, 8, 16, 16), (1, 2, 32)]:
        patches += [
            rng.integers(0, 5, shape).astype(np.float32),
            (rng.random(shape) * 1000).astype(np.float32),
            rng.normal(1e4, 1e-2, shape).astype(np.float32),
            np.where(rng.random(shape) < 0.3, rng.random(shape), 0).astype(np.float32),
            np.full(shape, 0.1, np.float32),
            np.zeros(shape, np.float32),
        ]
    with_nan = patches[1].copy()
    with_nan[0, 0, 0] = np.nan
    return [*patches, with_nan]


def test_shannon_entropy_equals_scikit_image() -> None:
    rng = np.random.default_rng(0)
    for patch in _patches(rng):
        assert shannon_entropy(patch) == skimage_measure.shannon_entropy(patch)


def test_rules_equal_the_reference_filters() -> None:
    rng = np.random.default_rng(1)
    patches = _patches(rng)
    for patch in patches:
        mean, std = float(np.mean(patch)), float(np.std(patch))
        entropy = float(skimage_measure.shannon_entropy(patch))
        values = [mean, float(np.nanmax(patch)), 0.1, 3.0]
        fraction = np.count_nonzero(patch) / patch.size
        pairs: list[tuple[Any, Any]] = [
            (ref_filters.MaxPatchFilter(v, c), MaxPatchFilter(v, c))
            for v in values
            for c in [0.1, 0.25, 0.5]
        ]
        pairs += [
            (ref_filters.MeanStdPatchFilter(m, s), MeanStdPatchFilter(m, s))
            for v in values
            for m, s in [(abs(v), None), (abs(v), std), (0.0, std)]
        ]
        pairs += [
            (ref_filters.ShannonPatchFilter(t), ShannonPatchFilter(t))
            for t in [entropy, entropy / 2, 0.0, 1.0]
        ]
        pairs += [
            (ref_filters.MaskPatchFilter(c), MaskPatchFilter(c))
            for c in [fraction, 0.25, 0.5]
        ]
        for reference, ours in pairs:
            expected = bool(reference.filter_out(patch))
            assert ours.filter_out(patch) == expected, ours
            assert ours.filter_out_regions(patch.copy()).tolist() == [expected], ours


def _image(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    image = rng.integers(0, 60, shape).astype(np.uint16)
    half = (..., slice(0, shape[-2] // 2), slice(None))
    image[half] += rng.integers(0, 400, image[half].shape).astype(np.uint16)
    return image


def _reference_run(
    arrays: list[np.ndarray],
    patch: list[int],
    runs: list[tuple[Any, list[np.ndarray], bool]],
) -> tuple[Any, dict[tuple[int, int], dict[tuple[int, ...], float]]]:
    """Run CAREamics' filter functions, recording the probabilities they set."""
    axes = "SCYX" if len(patch) == 2 else "SCZYX"
    strategy = ref_patching.StratifiedPatching([a.shape for a in arrays], patch, seed=0)
    recorded: dict[tuple[int, int], dict[tuple[int, ...], float]] = {}
    original = strategy.set_region_probs

    def record(data_idx: int, sample_idx: int, probs: dict[Any, float]) -> None:
        recorded.setdefault((data_idx, sample_idx), {}).update(probs)
        original(data_idx, sample_idx, probs)

    strategy.set_region_probs = record
    for config, stacks, is_mask in runs:
        extractor = ref_extractor.PatchExtractor(
            ref_loaders.load_arrays(stacks, axes=axes)
        )
        if is_mask:
            ref_filter_bg.filter_background_with_mask(config, strategy, extractor)
        else:
            ref_filter_bg.filter_background(config, strategy, extractor)
    return strategy, recorded


def _as_grids(
    recorded: dict[tuple[int, int], dict[tuple[int, ...], float]],
    arrays: list[np.ndarray],
    patch: list[int],
) -> list[np.ndarray]:
    grids = []
    for d, array in enumerate(arrays):
        shape = (np.array(array.shape[2:]) + 1) // patch
        weights = np.ones((array.shape[0], *shape))
        for s in range(array.shape[0]):
            for cell, prob in recorded.get((d, s), {}).items():
                weights[(s, *cell)] = prob
        grids.append(weights)
    return grids


CASES = [
    ([8, 8], [(3, 2, 45, 37), (1, 2, 70, 21)], (1, 1, 10, 13)),
    ([4, 8, 8], [(2, 1, 11, 27, 14), (1, 1, 8, 16, 24)], (1, 1, 5, 7, 9)),
]
CONFIGS = [
    MaxPatchFilterConfig(threshold=300, coverage=0.25),
    MeanStdPatchFilterConfig(mean_threshold=150, std_threshold=50),
    ShannonPatchFilterConfig(threshold=6.5, filtered_patch_prob=0.2),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.name)
@pytest.mark.parametrize(("patch", "shapes", "chunks"), CASES, ids=["2d", "3d"])
def test_compute_background_equals_reference_filter_background(
    config: Any, patch: list[int], shapes: list[tuple[int, ...]], chunks: Any
) -> None:
    rng = np.random.default_rng(2)
    arrays = [_image(rng, s) for s in shapes]
    reference_config = getattr(ref_configs, type(config).__name__)(
        **config.model_dump()
    )
    _, recorded = _reference_run(arrays, patch, [(reference_config, arrays, False)])
    expected = _as_grids(recorded, arrays, patch)
    stacks = [da.from_array(a, chunks=chunks) for a in arrays]
    found = compute_background(stacks, config, patch)
    for decisions, weights in zip(found, expected, strict=True):
        np.testing.assert_array_equal(decisions, weights < 1)


@pytest.mark.parametrize(("patch", "shapes", "chunks"), CASES, ids=["2d", "3d"])
def test_filter_then_mask_matches_the_reference(
    patch: list[int], shapes: list[tuple[int, ...]], chunks: Any
) -> None:
    rng = np.random.default_rng(3)
    arrays = [_image(rng, s) for s in shapes]
    # mask density grows along X, the max filter's foreground is the top half
    masks = [rng.random(s) < np.linspace(0, 0.4, s[-1]) for s in shapes]
    config = MaxPatchFilterConfig(threshold=300, coverage=0.25, filtered_patch_prob=0.3)
    mask_config = MaskPatchFilterConfig(coverage=0.15, filtered_patch_prob=0.05)
    strategy, recorded = _reference_run(
        arrays,
        patch,
        [
            (ref_configs.MaxPatchFilterConfig(**config.model_dump()), arrays, False),
            (
                ref_configs.MaskPatchFilterConfig(**mask_config.model_dump()),
                masks,
                True,
            ),
        ],
    )
    ours = StratifiedPatching([a.shape for a in arrays], patch, seed=0)
    apply_background_filter(
        ours, [da.from_array(a, chunks=chunks) for a in arrays], config
    )
    apply_background_filter(ours, masks, mask_config)
    expected = np.concatenate(
        [w.reshape(-1) for w in _as_grids(recorded, arrays, patch)]
    )
    np.testing.assert_array_equal(ours.region_weights, expected)
    assert {0.05, 1.0} <= set(np.unique(expected).tolist())
    if len(patch) == 2:  # regions of the max filter only keep its weight
        assert 0.3 in expected
    assert ours.n_patches == strategy.n_patches
