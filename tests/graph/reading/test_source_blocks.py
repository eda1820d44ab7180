"""Large source blocks of loader stacks: same pixels, one read per chunk, few tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
import tifffile
import zarr
from dask.base import optimize

from careamics_dask.graph.reading import group_chunks, source_blocks
from careamics_dask.graph.statistics import build_statistics_graph, compute_statistics
from careamics_dask.loaders import open_image
from careamics_dask.testing import count_region_reads, raise_if_dask_computes

if TYPE_CHECKING:
    from pathlib import Path

RNG = np.random.default_rng(7)


def write_zarr(path: Path, data: np.ndarray, chunks: tuple[int, ...]) -> Path:
    array = zarr.create_array(
        store=str(path), shape=data.shape, dtype=data.dtype, chunks=chunks
    )
    array[...] = data
    return path


def test_group_chunks_grows_the_last_axis_first_within_the_limit() -> None:
    assert group_chunks([(4, 4), (4, 4, 4, 4)], 2, 64) == ((4, 4), (8, 8))
    assert group_chunks([(4, 4), (4, 4, 4, 4)], 2, 128) == ((4, 4), (16,))
    assert group_chunks([(4, 4), (4, 4, 4, 4)], 2, 256) == ((8,), (16,))
    # a chunk above the limit stays one block; uneven last chunks add up
    assert group_chunks([(5, 5, 2), (7, 7, 3)], 4, 10) == ((5, 5, 2), (7, 7, 3))
    assert group_chunks([(5, 5, 2), (7, 7, 3)], 1, 10**6) == ((12,), (17,))


@pytest.mark.parametrize(
    ("axes", "shape", "chunks"),
    [
        ("SYX", (3, 50, 70), (1, 16, 16)),
        ("YXC", (50, 70, 3), (16, 16, 2)),  # channels last, split across chunks
        ("TCYX", (2, 2, 33, 40), (1, 1, 16, 16)),
        ("STZYX", (2, 2, 9, 20, 24), (1, 1, 4, 8, 8)),
    ],
)
def test_source_blocks_equal_the_stack(
    tmp_path: Path, axes: str, shape: tuple[int, ...], chunks: tuple[int, ...]
) -> None:
    data = RNG.integers(0, 60000, shape, dtype=np.uint16)
    stack = open_image(write_zarr(tmp_path / "a.zarr", data, chunks), axes)
    expected = stack.values
    with raise_if_dask_computes():
        blocks = source_blocks(stack, block_bytes=2000)
    assert blocks is not None
    assert blocks.shape == stack.shape
    assert blocks.numblocks[0] == stack.shape[0]
    np.testing.assert_array_equal(blocks.compute(scheduler="sync"), expected)
    channels = [stack.shape[1] - 1, 0]
    picked = source_blocks(stack, channels, block_bytes=2000)
    assert picked is not None
    np.testing.assert_array_equal(
        picked.compute(scheduler="sync"), expected[:, channels]
    )


def test_every_storage_chunk_is_read_once(tmp_path: Path) -> None:
    data = RNG.integers(0, 100, (4, 64, 64), dtype=np.uint8)
    stack = open_image(write_zarr(tmp_path / "a.zarr", data, (1, 16, 16)), "SYX")
    blocks = source_blocks(stack, block_bytes=2048)
    assert blocks is not None
    with count_region_reads() as counter:
        blocks.compute(scheduler="sync")
    assert counter.count == data.size // (16 * 16)


def test_stacks_without_a_reader_get_none(tmp_path: Path) -> None:
    stack = open_image(RNG.random((2, 8, 8)), "SYX")
    assert source_blocks(stack) is None
    lazy = open_image(
        write_zarr(tmp_path / "a.zarr", np.zeros((2, 8, 8)), (1, 4, 4)), "SYX"
    )
    assert source_blocks(lazy[:, :, :4]) is None  # sliced: no longer the source's


def test_statistics_of_a_store_use_few_tasks_and_equal_numpy(tmp_path: Path) -> None:
    data = RNG.integers(0, 4000, (6, 2, 128, 128), dtype=np.uint16)
    path = write_zarr(tmp_path / "a.zarr", data, (1, 1, 32, 32))
    stack = open_image(path, "SCYX")
    graph = build_statistics_graph([stack], "mean_std", channels=[1])
    n_chunks = data.size // (32 * 32)
    assert len(dict(optimize(graph.partials)[0].__dask_graph__())) < n_chunks / 4
    stats = compute_statistics([stack], "mean_std", channels=[1])
    assert stats.means is not None
    assert stats.stds is not None
    assert stats.means[0] == pytest.approx(data[:, 1].mean(), rel=1e-12)
    assert stats.stds[0] == pytest.approx(data[:, 1].std(), rel=1e-12)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint16", "bool"])
def test_small_integer_moments_are_exact(tmp_path: Path, dtype: str) -> None:
    if dtype == "bool":
        data = RNG.random((3, 40, 40)) > 0.3
    else:
        info = np.iinfo(dtype)
        data = RNG.integers(info.min, info.max, (3, 40, 40), dtype=dtype, endpoint=True)
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, data)
    stack = open_image(path, "SYX")
    stats = compute_statistics([stack], "mean_std")
    assert stats.means is not None
    assert stats.stds is not None
    pixels = data.astype(np.float64)
    assert stats.means[0] == pytest.approx(pixels.mean(), rel=1e-12)
    assert stats.stds[0] == pytest.approx(pixels.std(), rel=1e-12)
    minmax = compute_statistics([stack], "min_max")
    assert minmax.pair == ([float(pixels.min())], [float(pixels.max())])


def test_chunks_of_dropped_channels_are_not_read(tmp_path: Path) -> None:
    data = RNG.integers(0, 100, (2, 3, 32, 32), dtype=np.uint16)
    stack = open_image(write_zarr(tmp_path / "a.zarr", data, (1, 1, 16, 16)), "SCYX")
    blocks = source_blocks(stack, [2, 0])
    assert blocks is not None
    with count_region_reads() as counter:
        values = blocks.compute(scheduler="sync")
    np.testing.assert_array_equal(values, data[:, [2, 0]])
    assert counter.count == 2 * 2 * 4  # samples x kept channels x chunks per plane
