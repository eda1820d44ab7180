"""Tests of the background filters: rules, lazy block decisions, region weights."""

from __future__ import annotations

import logging
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from dask.local import get_sync

from careamics_dask.config import (
    MaskPatchFilterConfig,
    MaxPatchFilterConfig,
    MeanStdPatchFilterConfig,
    ShannonPatchFilterConfig,
)
from careamics_dask.factory.filters import (
    apply_background_filter,
    build_background,
    compute_background,
    create_patch_filter,
)
from careamics_dask.graph.filters import (
    BackgroundFilter,
    MaskPatchFilter,
    MaxPatchFilter,
    MeanStdPatchFilter,
    RegionFilter,
    ShannonPatchFilter,
    background_weights,
    shannon_entropy,
)
from careamics_dask.graph.filters import (
    apply_background_filter as graph_apply_background_filter,
)
from careamics_dask.graph.filters import compute_background as graph_compute_background
from careamics_dask.graph.filters._blocks import plan_block_chunks
from careamics_dask.graph.filters._region_statistics import region_entropies
from careamics_dask.patching import RandomPatching, StratifiedPatching
from careamics_dask.testing.laziness import raise_if_dask_computes


@pytest.fixture(autouse=True)
def _synchronous() -> Any:
    with dask.config.set(scheduler="synchronous"):
        yield


# --- helpers ----------------------------------------------------------------


def direct_background(
    stack: np.ndarray,
    patch_filter: RegionFilter,
    patch: tuple[int, ...],
    ref_channel: int = 0,
    grid: tuple[int, ...] | None = None,
) -> np.ndarray:
    """The reference's loop: one zero-padded float32 (1, *2p) region per grid cell."""
    data = np.asarray(stack)[:, ref_channel]
    spatial = data.shape[1:]
    if grid is None:
        grid = tuple((n + 1) // p for n, p in zip(spatial, patch, strict=True))
    out = np.zeros((data.shape[0], *grid), dtype=bool)
    for s in range(data.shape[0]):
        for cell in np.ndindex(*grid):
            starts = [c * p for c, p in zip(cell, patch, strict=True)]
            source = data[s][
                tuple(
                    slice(st, min(st + 2 * p, n))
                    for st, p, n in zip(starts, patch, spatial, strict=True)
                )
            ]
            region = np.zeros((1, *(2 * p for p in patch)), dtype=np.float32)
            inside: tuple[Any, ...] = (0, *(slice(0, k) for k in source.shape))
            region[inside] = source
            out[(s, *cell)] = patch_filter.filter_out(region)
    return out


def make_image(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """uint16 noise with a bright, textured half and a few bright dots."""
    image = rng.integers(0, 60, shape).astype(np.uint16)
    half = (..., slice(0, shape[-2] // 2), slice(None))
    image[half] += rng.integers(0, 400, image[half].shape).astype(np.uint16)
    image[..., -3:, -3:] = 1000
    return image


CONFIGS = [
    MaxPatchFilterConfig(threshold=300, coverage=0.25, ref_channel=1),
    MaxPatchFilterConfig(threshold=300, coverage=0.6),
    MeanStdPatchFilterConfig(mean_threshold=150, std_threshold=50),
    MeanStdPatchFilterConfig(mean_threshold=100),
    ShannonPatchFilterConfig(threshold=6.5),
]


# --- the rules on the reference's small synthetic patches (§3.3) -------------


def test_mask_filter_unit_expectations() -> None:
    mask = np.zeros((16, 16))
    mask[4:-4, 4:-4] = 1
    rule = MaskPatchFilter(coverage=0.5)
    assert rule.filter_out(mask[0:4, 0:4])  # corner, 0 %
    assert rule.filter_out(mask[2:6, 2:6])  # 25 %
    assert not rule.filter_out(mask[2:6, 4:8])  # 50 %
    assert not rule.filter_out(mask[4:8, 4:8])  # 100 %


def test_max_filter_unit_expectations() -> None:
    img = np.arange(16 * 16).reshape((16, 16))
    img[4:-4, 4:-4] = 255
    patch = img[4:12, 4:12]
    corner = int(patch[0, 0])
    assert MaxPatchFilter(threshold=corner + 10).filter_out(patch)
    assert not MaxPatchFilter(threshold=corner - 10).filter_out(patch)


def test_mean_std_filter_unit_expectations() -> None:
    img = np.zeros((8, 8))
    img[4:, 4:] = 255
    rule = MeanStdPatchFilter(mean_threshold=255 / 2)
    assert rule.filter_out(img[0:4, 0:4])  # corner, mean 0
    assert rule.filter_out(img[2:6, 2:6])  # a quarter foreground
    assert not rule.filter_out(img[2:6, 4:])  # half
    assert not rule.filter_out(img[4:, 4:])  # full
    rule = MeanStdPatchFilter(mean_threshold=255 / 2, std_threshold=50)
    assert rule.filter_out(img[0:4, 0:4])
    assert rule.filter_out(img[2:6, 2:6])
    assert not rule.filter_out(img[2:6, 4:])  # half, high std
    assert rule.filter_out(img[4:, 4:])  # uniform foreground, null std


def test_shannon_filter_unit_expectations() -> None:
    rng = np.random.default_rng(42)
    img = np.zeros((8, 8))
    img[4:, 4:] = rng.integers(100, 255, (4, 4))
    rule = ShannonPatchFilter(threshold=shannon_entropy(img[4:, 4:]) / 2)
    assert rule.filter_out(img[0:4, 0:4])  # background, no entropy
    assert rule.filter_out(img[2:6, 2:6])  # a quarter
    assert not rule.filter_out(img[2:6, 4:])  # half
    assert not rule.filter_out(img[4:, 4:])  # full


def test_shannon_entropy_values() -> None:
    assert shannon_entropy(np.arange(8)) == 3.0
    assert shannon_entropy(np.array([0, 0, 0, 1])) == pytest.approx(0.8112781244591328)
    assert shannon_entropy(np.arange(4), base=4) == pytest.approx(1.0)
    assert shannon_entropy(np.array([np.nan, np.nan, 1.0, 1.0])) == 1.0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MeanStdPatchFilter(-1.0), "Mean threshold must be non-negative."),
        (lambda: MeanStdPatchFilter(1.0, -2.0), "Std threshold must be non-negative."),
        (lambda: ShannonPatchFilter(-0.1), "Threshold must be non-negative."),
        (lambda: MaskPatchFilter(1.5), "Coverage must be between 0 and 1."),
        (lambda: MaskPatchFilter(-0.5), "Coverage must be between 0 and 1."),
    ],
)
def test_constructor_validation(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_max_filter_has_no_validation_like_the_reference() -> None:
    assert MaxPatchFilter(-5.0, 2.0).coverage == 2.0


def test_create_patch_filter() -> None:
    assert create_patch_filter(MaxPatchFilterConfig(threshold=1)) == MaxPatchFilter(
        1.0, 0.25
    )
    assert create_patch_filter(
        MeanStdPatchFilterConfig(mean_threshold=2, std_threshold=3)
    ) == MeanStdPatchFilter(2.0, 3.0)
    assert create_patch_filter(
        ShannonPatchFilterConfig(threshold=4)
    ) == ShannonPatchFilter(4.0)
    assert create_patch_filter(MaskPatchFilterConfig(coverage=0.5)) == MaskPatchFilter(
        0.5
    )
    with pytest.raises(ValueError, match="Unknown filter name"):
        create_patch_filter("max")  # type: ignore[arg-type]
    assert isinstance(MaxPatchFilter(1.0), RegionFilter)


# --- vectorized decisions equal per-region ones --------------------------------


def _regions(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    kinds = [
        rng.integers(0, 4, shape),
        rng.random(shape) * 1000,
        rng.normal(1e4, 1e-2, shape),
        np.where(rng.random(shape) < 0.3, rng.random(shape), 0),
        np.full(shape, 0.1),
        np.zeros(shape),
    ]
    return np.concatenate([k.astype(np.float32) for k in kinds])


@pytest.mark.parametrize("region_shape", [(16, 16), (4, 8, 8), (2, 16)])
def test_vectorized_rules_equal_per_region_rules(region_shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    regions = _regions(rng, (6, *region_shape))
    regions[7, 0, 0] = np.nan
    means = [float(np.mean(r[None])) for r in regions]
    entropies = [shannon_entropy(r[None]) for r in regions]
    rules: list[RegionFilter] = [MaskPatchFilter(0.25), MaskPatchFilter(0.5)]
    for value in [*means[::5], 0.1, 500.0]:  # exact ties included
        rules += [MaxPatchFilter(value, 0.25), MaxPatchFilter(value, 0.5)]
        rules += [MeanStdPatchFilter(abs(value)), MeanStdPatchFilter(abs(value), 1.0)]
        rules += [MeanStdPatchFilter(0.0, float(np.std(regions[10][None])))]
    rules += [ShannonPatchFilter(h) for h in [*entropies[::4], 0.0, 1.0]]
    for rule in rules:
        expected = [rule.filter_out(np.array(r[None])) for r in regions]
        assert rule.filter_out_regions(regions.copy()).tolist() == expected, rule


def test_region_entropies_count_values_either_way() -> None:
    rng = np.random.default_rng(8)
    integers = rng.integers(-5, 300, (6, 256)).astype(np.float32)  # bincount
    shifted = integers + np.float32(0.5)  # sorted: not integers
    spread = integers * np.float32(1e5)  # sorted: too many bins
    expected = [shannon_entropy(row) for row in integers]
    for rows in (integers, shifted, spread):
        np.testing.assert_allclose(region_entropies(rows), expected, rtol=1e-12)
    np.testing.assert_array_equal(region_entropies(integers), region_entropies(shifted))
    assert region_entropies(np.zeros((0, 4), np.float32)).shape == (0,)


def test_vectorized_rules_accept_no_regions() -> None:
    empty = np.zeros((0, 4, 4), np.float32)
    for rule in (
        MaxPatchFilter(1.0),
        MeanStdPatchFilter(1.0, 1.0),
        ShannonPatchFilter(1.0),
        MaskPatchFilter(0.5),
    ):
        assert rule.filter_out_regions(empty).shape == (0,)


# --- compute_background equals the per-region loop -----------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.name}")
@pytest.mark.parametrize("backing", ["dask", "numpy"])
def test_compute_background_2d_equals_direct_loop(config: Any, backing: str) -> None:
    rng = np.random.default_rng(1)
    arrays = [make_image(rng, (3, 2, 45, 37)), make_image(rng, (1, 2, 70, 21))]
    stacks = (
        [da.from_array(a, chunks=(1, 1, 10, 13)) for a in arrays]
        if backing == "dask"
        else arrays
    )
    result = compute_background(stacks, config, [8, 8])
    rule = create_patch_filter(config)
    for array, decisions in zip(arrays, result, strict=True):
        expected = direct_background(array, rule, (8, 8), config.ref_channel)
        assert decisions.dtype == np.bool_
        np.testing.assert_array_equal(decisions, expected)
    assert 0 < sum(int(r.sum()) for r in result) < sum(r.size for r in result)


@pytest.mark.parametrize("config", CONFIGS[::2], ids=lambda c: f"{c.name}")
def test_compute_background_3d_equals_direct_loop(config: Any) -> None:
    rng = np.random.default_rng(2)
    arrays = [make_image(rng, (2, 2, 11, 27, 14)), make_image(rng, (1, 2, 8, 16, 24))]
    stacks = [da.from_array(a, chunks=(1, 2, 5, 7, 9)) for a in arrays]
    patch = (4, 8, 8)
    result = compute_background(stacks, config, patch)
    rule = create_patch_filter(config)
    for array, decisions in zip(arrays, result, strict=True):
        expected = direct_background(array, rule, patch, config.ref_channel)
        np.testing.assert_array_equal(decisions, expected)
    assert result[0].shape == (2, 3, 3, 1)


def test_mask_filter_on_mask_stacks() -> None:
    rng = np.random.default_rng(3)
    masks = [make_image(rng, (2, 1, 33, 50)) > 200, make_image(rng, (1, 1, 17, 17)) > 0]
    stacks = [xr.DataArray(da.from_array(masks[0], chunks=(2, 1, 9, 20))), masks[1]]
    config = MaskPatchFilterConfig(coverage=0.3)
    result = compute_background(stacks, config, [8, 8])
    for mask, decisions in zip(masks, result, strict=True):
        np.testing.assert_array_equal(
            decisions, direct_background(mask, MaskPatchFilter(0.3), (8, 8))
        )


def test_float32_ties_are_decided_like_the_reference() -> None:
    image = np.full((1, 1, 40, 40), 0.1, np.float32)
    image[..., 20:, :] = np.float32(1e4) + np.float32(0.01)
    mean = float(np.mean(image[0, :, :16, :16][None]))
    for config in (
        MeanStdPatchFilterConfig(mean_threshold=mean, std_threshold=0.0),
        MeanStdPatchFilterConfig(mean_threshold=0.1),
        ShannonPatchFilterConfig(threshold=1.0),
    ):
        rule = create_patch_filter(config)
        (decisions,) = compute_background([image], config, [8, 8])
        np.testing.assert_array_equal(decisions, direct_background(image, rule, (8, 8)))


def test_xarray_stacks_from_loader_and_empty_grids() -> None:
    from careamics_dask.loaders import open_images

    rng = np.random.default_rng(4)
    image = make_image(rng, (2, 30, 30))
    (stack,) = open_images(da.from_array(image, chunks=(1, 16, 16)), "SYX")
    small = np.zeros((2, 1, 6, 6), np.uint8)
    config = MaxPatchFilterConfig(threshold=300)
    big, tiny = compute_background([stack, small], config, [8, 8])
    np.testing.assert_array_equal(
        big, direct_background(image[:, None], create_patch_filter(config), (8, 8))
    )
    assert tiny.shape == (2, 0, 0)


def test_grid_shapes_override_pads_or_crops() -> None:
    rng = np.random.default_rng(5)
    mask = make_image(rng, (1, 1, 20, 20)) > 100
    config = MaskPatchFilterConfig(coverage=0.2)
    for grid in [(4, 4), (1, 2), (0, 3)]:
        (decisions,) = compute_background([mask], config, [8, 8], grid_shapes=[grid])
        expected = direct_background(mask, MaskPatchFilter(0.2), (8, 8), grid=grid)
        np.testing.assert_array_equal(decisions, expected)


def test_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    image = np.zeros((1, 1, 16, 16), np.uint8)
    compute_background(
        [image], MaxPatchFilterConfig(threshold=1), [8, 8], progress=True
    )
    assert "Completed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("stacks", "kwargs", "message"),
    [
        (
            [np.zeros((1, 1, 8, 8))],
            {"ref_channel": 1},
            "reference channel out of range",
        ),
        ([np.zeros((1, 8, 8))], {}, "wrong number of axes"),
        ([np.zeros((1, 1, 4, 8, 8))], {}, "wrong number of axes"),
    ],
)
def test_bad_stacks(stacks: list[Any], kwargs: dict[str, Any], message: str) -> None:
    config = MaxPatchFilterConfig(threshold=1, **kwargs)
    with pytest.raises(ValueError, match=message):
        build_background(stacks, config, [4, 4])


def test_bad_grid_shapes() -> None:
    config = MaxPatchFilterConfig(threshold=1)
    image = np.zeros((1, 1, 8, 8))
    with pytest.raises(ValueError, match="Grid shapes do not match"):
        build_background([image], config, [4, 4], grid_shapes=[])
    with pytest.raises(ValueError, match="Grid shape of image stack 0 is invalid"):
        build_background([image], config, [4, 4], grid_shapes=[[1, -1]])


# --- laziness ---------------------------------------------------------------


def test_building_computes_nothing_and_compute_runs_once() -> None:
    rng = np.random.default_rng(6)
    stacks = [da.from_array(make_image(rng, (2, 1, 64, 64)), chunks=(1, 1, 32, 32))]
    config = MeanStdPatchFilterConfig(mean_threshold=100)
    with raise_if_dask_computes():
        lazy = build_background(stacks, config, [8, 8])
    assert lazy[0].name.startswith("careamics-filter-")
    calls: list[int] = []

    def counting_scheduler(dsk: Any, keys: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return get_sync(dsk, keys, **kwargs)

    with dask.config.set(scheduler=counting_scheduler):
        compute_background(stacks * 3, config, [8, 8])
    assert len(calls) == 1


def _n_tasks(chunks: int, patch: int) -> int:
    image = da.zeros((1, 1, 512, 512), dtype=np.uint16, chunks=(1, 1, chunks, chunks))
    (lazy,) = build_background([image], MaxPatchFilterConfig(threshold=1), [patch] * 2)
    return len(lazy.__dask_graph__())


def test_tasks_grow_with_chunks_not_regions() -> None:
    coarse = {p: _n_tasks(128, p) for p in (4, 8, 16, 32)}
    n_regions = (513 // 4) ** 2
    assert len(set(coarse.values())) == 1, coarse  # 16 to 16,000 regions, same tasks
    assert coarse[4] < n_regions / 100
    assert _n_tasks(64, 8) > 3 * coarse[8]  # 4x the chunks


def test_plan_block_chunks_snaps_to_cells() -> None:
    # 2.5 rounds to 2; blocks follow chunks smaller than a cell one cell apart
    assert plan_block_chunks([10, 10, 10, 10, 10], 8, 7) == (1, 1, 2, 1, 2)
    assert plan_block_chunks([3] * 10, 8, 4) == (1, 1, 2)
    assert plan_block_chunks([64] * 4, 64, 5) == (1, 1, 1, 2)
    assert plan_block_chunks([64] * 4, 64, 5, length=256) == (1, 1, 1, 2)
    assert plan_block_chunks([64] * 4, 64, 5, length=255) == (1, 1, 3)
    assert plan_block_chunks([16, 4], 8, 11, length=20) == (11,)
    blocks = plan_block_chunks([100] * 7, 32, 23)
    assert sum(blocks) == 23
    assert all(b >= 2 for b in blocks[-1:])


# --- region weights on the stratified patching -----------------------------------


def test_background_weights() -> None:
    weights = background_weights(
        [np.array([[True, False]]), np.zeros((2, 1), bool)], 0.3
    )
    assert weights[0].tolist() == [[0.3, 1.0]]
    assert weights[1].tolist() == [[1.0], [1.0]]
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        background_weights([], 1.5)


def _reference_like(
    shapes: list[tuple[int, ...]],
    background: list[list[np.ndarray]],
    probs: list[float],
) -> StratifiedPatching:
    """The reference's loop: set_region_probs with a dict of background cells."""
    patching = StratifiedPatching(shapes, [8, 8], seed=0)
    for found, prob in zip(background, probs, strict=True):
        for data_idx, per_stack in enumerate(found):
            for sample_idx, cells in enumerate(per_stack):
                patching.set_region_probs(
                    data_idx,
                    sample_idx,
                    {tuple(int(c) for c in g): prob for g in np.argwhere(cells)},
                )
    return patching


def test_apply_background_filter_overwrites_like_the_reference(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rng = np.random.default_rng(7)
    images = [make_image(rng, (3, 2, 45, 37)), make_image(rng, (1, 2, 70, 21))]
    masks = [(rng.random(a.shape) < 0.2) for a in images]
    shapes = [a.shape for a in images]
    patching = StratifiedPatching(shapes, [8, 8], seed=0)
    max_config = MaxPatchFilterConfig(
        threshold=300, coverage=0.25, filtered_patch_prob=0.3
    )
    mask_config = MaskPatchFilterConfig(coverage=0.2, filtered_patch_prob=0.05)
    old = patching.n_patches
    with caplog.at_level(logging.INFO, logger="careamics_dask.graph.filters"):
        n_max = apply_background_filter(patching, images, max_config)
    found_max = compute_background(images, max_config, [8, 8])
    assert n_max == sum(int(f.sum()) for f in found_max)
    assert (
        f"Found {n_max} background regions. Number of patches has been reduced to "
        f"{patching.n_patches} from {old}." in caplog.messages
    )
    n_mask = apply_background_filter(patching, masks, mask_config)
    found_mask = compute_background(masks, mask_config, [8, 8])
    assert n_mask == sum(int(f.sum()) for f in found_mask)
    both = np.concatenate(
        [(a & b).ravel() for a, b in zip(found_max, found_mask, strict=True)]
    )
    assert both.any()
    assert (~both).any()
    weights = patching.region_weights
    assert set(np.unique(weights).tolist()) == {0.05, 0.3, 1.0}
    assert (weights[both] == 0.05).all()  # overwritten, not 0.3 * 0.05
    expected = _reference_like(shapes, [found_max, found_mask], [0.3, 0.05])
    np.testing.assert_array_equal(weights, expected.region_weights)
    assert patching.n_patches == expected.n_patches < old


def test_apply_background_filter_errors() -> None:
    image = np.zeros((2, 1, 16, 16), np.uint8)
    config = MaxPatchFilterConfig(threshold=1)
    random = RandomPatching([image.shape], [8, 8], seed=0)
    with pytest.raises(TypeError, match="only compatible with stratified patching"):
        apply_background_filter(random, [image], config)  # type: ignore[arg-type]
    patching = StratifiedPatching([image.shape], [8, 8], seed=0)
    with pytest.raises(ValueError, match="do not match the patching's stacks"):
        apply_background_filter(patching, [image[:1]], config)
    with pytest.raises(ValueError, match="do not match the patching's stacks"):
        apply_background_filter(patching, [image, image], config)


# --- plain background filters -----------------------------------------------------


def test_background_filter_is_a_plain_value() -> None:
    image = np.zeros((1, 2, 32, 32), np.float32)
    image[0, 1, :16] = 5.0
    plain = BackgroundFilter(
        rule=MaxPatchFilter(1.0, 0.25), ref_channel=1, filtered_patch_prob=0.5
    )
    (found,) = graph_compute_background([image], plain, [8, 8])
    assert found.shape == (1, 4, 4)
    assert not found[0, :2].any()
    assert found[0, 2:].all()
    patching = StratifiedPatching([image.shape], [8, 8], seed=0)
    assert graph_apply_background_filter(patching, [image], plain) == int(found.sum())
    weights = np.asarray(patching.region_weights).reshape(found.shape)
    np.testing.assert_array_equal(weights, np.where(found, 0.5, 1.0))
    with pytest.raises(ValueError, match="reference channel out of range"):
        graph_compute_background(
            [image], BackgroundFilter(rule=MaskPatchFilter(0.5), ref_channel=2), [8, 8]
        )
