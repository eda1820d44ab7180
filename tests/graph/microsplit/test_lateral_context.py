from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pytest
import zarr

from careamics_dask.graph.microsplit import (
    context_bounds,
    downscale,
    extract_lateral_context,
    lateral_context,
    read_window,
    window_of,
)
from careamics_dask.graph.reading import PatchReader, StackSource
from careamics_dask.loaders import open_image

RNG = np.random.default_rng(11)


def _reader(image: np.ndarray) -> PatchReader:
    """A reader over one in-memory ``S C (Z) Y X`` stack."""
    source = StackSource(
        source="array", shape=image.shape, dtype=str(image.dtype), data=image
    )
    return PatchReader([source])


@pytest.mark.parametrize("mode", ["reflect", "wrap"])
def test_corner_padding_values(mode: str) -> None:
    """An 8x8 image, a 4x4 patch at the corner, two scales: window [-2, 6)."""
    image = np.arange(64, dtype=np.float32).reshape(1, 1, 8, 8)
    lc = extract_lateral_context(_reader(image), 0, 0, (0, 0), (4, 4), 2, mode)  # type: ignore[arg-type]
    rows = [2, 1, 0, 1, 2, 3, 4, 5] if mode == "reflect" else [6, 7, 0, 1, 2, 3, 4, 5]
    window = image[0, 0][np.ix_(rows, rows)]
    np.testing.assert_array_equal(lc[0, 0], image[0, 0, :4, :4])
    np.testing.assert_array_equal(lc[0, 1], downscale(window[None], 2)[0])
    # the corner pixel of the window, written out
    expected_corner = 18.0 if mode == "reflect" else 54.0
    assert window[0, 0] == expected_corner


def test_wrap_repeats_the_reference_context_window() -> None:
    """Near one border, wrap repeats the clipped context window, not the image."""
    image = RNG.random((1, 1, 64, 64)).astype(np.float32)
    reader = _reader(image)
    start, size = window_of((0, 24), (8, 8), 2)
    bounds = context_bounds((0, 24), (8, 8), 2, (64, 64))
    assert start == (-4, 20)
    assert bounds == ((0, 20), (12, 44))
    window = read_window(reader, 0, 0, start, size, bounds, "wrap")
    rows = [16, 17, 18, 19, *range(12)]
    np.testing.assert_array_equal(window[0], image[0, 0][rows][:, 20:36])
    reflected = read_window(reader, 0, 0, start, size, bounds, "reflect")
    np.testing.assert_array_equal(
        reflected[0], image[0, 0][[4, 3, 2, 1, *range(12)]][:, 20:36]
    )


@pytest.mark.parametrize("scale", [1, 2, 3])
def test_centre_of_scale_is_downscaled_native_patch(scale: int) -> None:
    """Scale s's centre equals the native patch downscaled by 2**s, borders aside."""
    image = RNG.random((1, 1, 200, 200)).astype(np.float32)
    patch, coords = (32, 32), (84, 90)
    lc = extract_lateral_context(_reader(image), 0, 0, coords, patch, 4)
    native = image[0, 0, 84:116, 90:122]
    np.testing.assert_array_equal(lc[0, 0], native)
    factor = 2**scale
    small = downscale(native[None], factor)[0]
    n = 32 // factor
    first = 32 * (factor - 1) // (2 * factor)
    centre = lc[0, scale, first : first + n, first : first + n]
    radius = math.ceil(4 * (factor - 1) / 2 / factor) + 1
    inner = slice(radius, n - radius)
    np.testing.assert_allclose(centre[inner, inner], small[inner, inner], atol=1e-6)
    assert not np.allclose(centre, small, atol=1e-6) or n <= 2 * radius


def test_three_d_scales_every_axis() -> None:
    image = RNG.random((2, 2, 16, 40, 40)).astype(np.float32)
    lc = extract_lateral_context(
        _reader(image), 0, 1, (4, 8, 8), (4, 8, 8), 3, channels=[1]
    )
    assert lc.shape == (1, 3, 4, 8, 8)
    np.testing.assert_array_equal(lc[0, 0], image[1, 1, 4:8, 8:16, 8:16])
    window = RNG.random((1, 16, 32, 32)).astype(np.float32)
    planes = lateral_context(window, (4, 8, 8), 3)
    np.testing.assert_array_equal(planes[0, 0], window[0, 6:10, 12:20, 12:20])
    np.testing.assert_allclose(planes[0, 2], downscale(window, 4)[0], atol=1e-6)


def test_constant_image_stays_constant() -> None:
    image = np.full((1, 1, 20, 30), 16.2, dtype=np.float32)
    modes: tuple[Literal["reflect", "wrap"], ...] = ("reflect", "wrap")
    for mode in modes:
        lc = extract_lateral_context(_reader(image), 0, 0, (0, 14), (16, 16), 3, mode)
        assert (lc == 16.2).all()


def test_zarr_source_reads_each_chunk_once(tmp_path: object) -> None:
    data = RNG.integers(0, 1000, (1, 64, 64)).astype(np.uint16)
    path = f"{tmp_path}/lc.zarr"
    zarr.open_group(path, mode="w").create_array("a", data=data, chunks=(1, 16, 16))
    stack = open_image(f"{path}/a", "SYX", data_type="zarr")
    reader = PatchReader([StackSource.from_stack(stack)])
    lc = extract_lateral_context(reader, 0, 0, (24, 24), (16, 16), 2)
    expected = extract_lateral_context(
        _reader(data[:, None].astype(np.float32)), 0, 0, (24, 24), (16, 16), 2
    )
    np.testing.assert_array_equal(lc, expected)


def test_matches_scikit_image_resize() -> None:
    transform = pytest.importorskip("skimage.transform")
    crops = RNG.random((2, 64, 64)).astype(np.float32) * 1000
    for factor in (2, 4, 8):
        expected = transform.resize(crops, (2, 64 // factor, 64 // factor))
        np.testing.assert_allclose(downscale(crops, factor), expected, rtol=1e-6)


def _ramp_value(coord: int, patch: int, factor: int, index: float) -> float:
    """Worked out by hand: plane ``factor``'s pixel ``index`` on a ramp f(t) = t.

    The reference crops ``patch * factor`` pixels from ``centre - size // 2``, with
    ``centre = coord + patch // 2``; the anti-aliasing Gaussian is symmetric, so it
    leaves a ramp unchanged away from borders, and linear interpolation at
    half-pixel centres samples position ``factor * index + (factor - 1) / 2`` of the
    crop. Its value on the ramp is that position plus the crop start (for output
    pixels whose filter stays inside the crop: scikit-image mirrors at the crop's
    own edges, see :func:`_inside_crop`).
    """
    start = coord + patch // 2 - (patch * factor) // 2
    return start + factor * index + (factor - 1) / 2


def _inside_crop(patch: int, factor: int) -> np.ndarray:
    """Output pixels whose Gaussian taps (radius ``int(4 sigma + 0.5)``) stay in."""
    radius = int(4 * (factor - 1) / 2 + 0.5)
    index = np.arange(patch)
    first = factor * index + factor // 2 - 1 - radius
    last = factor * index + factor // 2 + radius
    return (first >= 0) & (last < patch * factor) if factor > 1 else index >= 0


@pytest.mark.parametrize(
    ("patch", "coords"),
    [((16, 16), (61, 70)), ((8, 12), (40, 33)), ((15, 9), (50, 47))],
)
def test_scales_are_centred_by_the_reference_crop_arithmetic_on_a_ramp(
    patch: tuple[int, int], coords: tuple[int, int]
) -> None:
    # f(y, x) = 1000 y + x over 160 x 160; four scales of a patch well inside
    y, x = np.mgrid[0:160, 0:160].astype(np.float64)
    image = (1000 * y + x).astype(np.float32)[None, None]
    lc = extract_lateral_context(_reader(image), 0, 0, coords, patch, 4)
    assert lc.shape == (1, 4, *patch)
    for scale in range(4):
        factor = 2**scale
        rows = [_ramp_value(coords[0], patch[0], factor, i) for i in range(patch[0])]
        cols = [_ramp_value(coords[1], patch[1], factor, j) for j in range(patch[1])]
        expected = 1000 * np.array(rows)[:, None] + np.array(cols)[None, :]
        inside = np.ix_(_inside_crop(patch[0], factor), _inside_crop(patch[1], factor))
        assert expected[inside].size > 0
        np.testing.assert_allclose(
            lc[0, scale][inside], expected[inside], rtol=2e-7, atol=0.02
        )
    # even sizes: every scale's centre is the native patch's centre,
    # coords + (patch - 1) / 2; no one-pixel shift between scales
    if all(p % 2 == 0 for p in patch):
        centre = [c + (p - 1) / 2 for c, p in zip(coords, patch, strict=True)]
        for scale in range(4):
            plane = lc[0, scale].astype(np.float64)
            mid = plane[
                patch[0] // 2 - 1 : patch[0] // 2 + 1,
                patch[1] // 2 - 1 : patch[1] // 2 + 1,
            ].mean()
            assert mid == pytest.approx(1000 * centre[0] + centre[1], abs=0.02)


def test_hand_worked_ramp_values_at_scale_two() -> None:
    # 16 x 16 patch at (61, 70), factor 4: crop start 61 + 8 - 32 = 37 along Y,
    # 70 + 8 - 32 = 46 along X; output pixel 0 samples crop position 1.5
    assert _ramp_value(61, 16, 4, 0) == 38.5
    assert _ramp_value(70, 16, 4, 0) == 47.5
    # odd 15: centre 61 + 7 = 68, size 60, start 38 (the reference's floor)
    assert _ramp_value(61, 15, 4, 0) == 39.5
