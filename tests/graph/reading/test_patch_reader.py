from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

from careamics_dask.graph.reading import PatchReader, StackSource
from careamics_dask.loaders import open_image
from careamics_dask.testing import count_region_reads
from tests.graph.reading.helpers import mixed_sources as _sources

if TYPE_CHECKING:
    from pathlib import Path

IMAGE = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3)


def _reference_patch(
    image: np.ndarray, coords: tuple[int, ...], size: tuple[int, ...]
) -> np.ndarray:
    """The reference's slicing plus pad_patch, written out with NumPy."""
    spatial = image.shape[1:]
    slices = tuple(
        slice(int(np.clip(c, 0, s)), int(np.clip(c + p, 0, s)))
        for c, p, s in zip(coords, size, spatial, strict=True)
    )
    data = image[(slice(None), *slices)].astype(np.float32)
    out = np.zeros((image.shape[0], *size), np.float32)
    start = np.clip(coords, 0, None) - np.asarray(coords)
    end = start + np.asarray(data.shape[1:])
    out[(slice(None), *(slice(a, b) for a, b in zip(start, end, strict=True)))] = data
    return out


@pytest.mark.parametrize(
    ("coords", "size", "expected"),
    [
        ((-1, 0), (2, 2), [[0, 0], [1, 2]]),
        ((1, 1), (3, 3), [[5, 6, 0], [8, 9, 0], [0, 0, 0]]),
        ((-4, 5), (2, 2), [[0, 0], [0, 0]]),
    ],
)
def test_reference_pad_cases(
    coords: tuple[int, int], size: tuple[int, int], expected: list[list[int]]
) -> None:
    reader = PatchReader([StackSource.from_stack(open_image(IMAGE[0], "YX"))])
    np.testing.assert_array_equal(reader.patch(0, 0, coords, size)[0], expected)


def test_pad_both_sides() -> None:
    reader = PatchReader([StackSource.from_stack(open_image(IMAGE[0], "YX"))])
    patch = reader.patch(0, 0, (-1, -1), (3, 5))
    np.testing.assert_array_equal(patch, _reference_patch(IMAGE, (-1, -1), (3, 5)))
    assert patch[0, 0].sum() == 0
    assert patch[0, :, 0].sum() == 0
    assert patch[0, :, 4].sum() == 0


@pytest.mark.parametrize("seed", range(4))
def test_patches_equal_numpy(tmp_path: Path, seed: int) -> None:
    sources, expected = _sources(tmp_path)
    rng = np.random.default_rng(seed)
    reader = PatchReader(sources, threads=2)
    for data_idx, image in enumerate(expected):
        for _ in range(10):
            size = tuple(int(v) for v in rng.integers(4, 40, 2))
            sample = int(rng.integers(0, image.shape[0]))
            coords = tuple(
                int(rng.integers(-s, image.shape[2 + i])) for i, s in enumerate(size)
            )
            channels = [image.shape[1] - 1, 0] if image.shape[1] > 1 else None
            got = reader.patch(data_idx, sample, coords, size, channels)
            want = _reference_patch(image[sample], coords, size)
            if channels is not None:
                want = want[channels]
            np.testing.assert_array_equal(got, want)
            assert got.dtype == np.float32


def test_each_chunk_read_once_per_batch(tmp_path: Path) -> None:
    sources, expected = _sources(tmp_path)
    n = 12
    data_idx = np.zeros(n, np.int64)
    sample_idx = np.zeros(n, np.int64)
    coords = np.tile([[2, 3]], (n, 1))  # all inside tile (0, 0) of channel planes
    size = np.full((n, 2), 20)
    reader = PatchReader(sources)
    with count_region_reads() as counter:
        read = reader.prefetch(data_idx, sample_idx, coords, size)
        patches = [
            reader.patch(0, 0, c.tolist(), p.tolist())
            for c, p in zip(coords, size, strict=True)
        ]
    # T C Y X with tiles (1, 1, 32, 32): one tile per channel, read once for 12 patches
    assert read == 2
    assert counter.count == 2
    np.testing.assert_array_equal(
        patches[0], _reference_patch(expected[0][0], (2, 3), (20, 20))
    )


def test_patch_fully_outside_is_zero(tmp_path: Path) -> None:
    sources, _ = _sources(tmp_path)
    reader = PatchReader(sources)
    with count_region_reads() as counter:
        patch = reader.patch(0, 1, (500, 500), (8, 8))
    assert counter.count == 0
    assert patch.shape == (2, 8, 8)
    assert not patch.any()


@pytest.mark.parametrize(
    ("axes", "shape", "chunks", "patch", "channels"),
    [
        ("SCYX", (3, 3, 70, 90), (1, 1, 16, 16), (8, 12), [2, 0]),
        ("SYX", (2, 70, 90), (1, 32, 32), (16, 16), None),
        ("SZYX", (2, 12, 30, 40), (1, 4, 8, 8), (4, 8, 8), None),
    ],
)
def test_neighbouring_patches_cut_together_equal_one_by_one(
    tmp_path: Path,
    axes: str,
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
    patch: tuple[int, ...],
    channels: list[int] | None,
) -> None:
    from careamics_dask.graph.batch import read_patches
    from careamics_dask.graph.neighbourhoods import neighbourhoods
    from careamics_dask.patching import PatchTable

    rng = np.random.default_rng(9)
    data = rng.integers(0, 60000, shape).astype(np.uint16)
    path = tmp_path / "a.zarr"
    zarr.create_array(store=str(path), data=data, chunks=chunks)
    source = StackSource.from_stack(open_image(path, axes))
    spatial = np.array(source.spatial_shape)
    n = 40
    # clusters of neighbours in two samples, plus patches sticking out of the image
    centre = rng.integers(0, spatial - np.array(patch), (2, len(patch)))
    coords = np.concatenate(
        [centre[i % 2] + rng.integers(-6, 7, len(patch)) for i in range(n - 4)]
        + [
            -np.array(patch) // 2,
            spatial - np.array(patch) // 2,
            [-3] * len(patch),
            spatial - 1,
        ]
    ).reshape(n, len(patch))
    rows = PatchTable.from_columns(
        data_idx=np.zeros(n, np.int64),
        sample_idx=np.arange(n) % 2,
        coords=coords,
        patch_size=np.tile(patch, (n, 1)),
    )
    together = read_patches([source], rows, channels)
    reader = PatchReader([source])
    low, high = reader.clipped(rows.data_idx, rows.coords, rows.patch_size)
    groups, grouped = neighbourhoods(rows, low, high, np.array(patch))
    assert groups  # the shared-region path is exercised
    assert grouped.sum() >= n // 2
    for i in range(n):
        one = read_patches([source], rows.take(np.array([i])), channels)
        np.testing.assert_array_equal(together[i], one[0])
