from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

from careamics_dask.graph.ordering import (
    canonical_chunks,
    chunk_aware_order,
    chunk_groups,
    count_touched_chunks,
    draw_chunk_aware_table,
)
from careamics_dask.graph.reading import StackSource
from careamics_dask.loaders import open_image
from careamics_dask.patching import PatchTable, RandomPatching

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

SHAPES = [(3, 1, 512, 512), (2, 1, 300, 700)]
CHUNKS = [(1, 1, 128, 128), (1, 1, 128, 128)]
PATCH = [32, 32]


def _table(epoch: int = 0) -> PatchTable:
    return RandomPatching(SHAPES, PATCH, seed=5).table(epoch)


@pytest.mark.parametrize("batch_size", [1, 7, 32, 10_000])
def test_order_is_a_permutation(batch_size: int) -> None:
    table = _table()
    order = chunk_aware_order(table, CHUNKS, batch_size, seed=1, epoch=0)
    assert order.dtype == np.int64
    np.testing.assert_array_equal(np.sort(order), np.arange(len(table)))


def test_order_of_an_empty_table() -> None:
    table = PatchTable.from_columns(
        data_idx=[], sample_idx=[], coords=np.zeros((0, 2), int), patch_size=[4, 4]
    )
    assert len(chunk_aware_order(table, CHUNKS, 4, seed=0, epoch=0)) == 0
    assert len(count_touched_chunks(table, CHUNKS, 4)) == 0


def test_order_is_deterministic_per_seed_and_epoch() -> None:
    table = _table()
    a = chunk_aware_order(table, CHUNKS, 32, seed=1, epoch=3)
    np.testing.assert_array_equal(
        a, chunk_aware_order(table, CHUNKS, 32, seed=1, epoch=3)
    )
    assert not np.array_equal(a, chunk_aware_order(table, CHUNKS, 32, seed=1, epoch=4))
    assert not np.array_equal(a, chunk_aware_order(table, CHUNKS, 32, seed=2, epoch=3))


def test_batch_order_differs_between_epochs() -> None:
    # the same table, two epochs: the batches' first rows come in another order
    table = _table()
    firsts = []
    for epoch in (0, 1):
        order = chunk_aware_order(table, CHUNKS, 16, seed=1, epoch=epoch)
        firsts.append(order[: (len(order) // 16) * 16 : 16])
    assert not np.array_equal(firsts[0], firsts[1])
    # and the batches are globally shuffled: consecutive batches rarely share a stack
    # sample as they would in table order
    order = chunk_aware_order(table, CHUNKS, 16, seed=1, epoch=0)
    batch_sample = (table.data_idx * 10 + table.sample_idx)[order[::16]]
    changes = np.mean(batch_sample[1:] != batch_sample[:-1])
    assert changes > 0.5


def test_batches_touch_few_chunks() -> None:
    table = _table()
    shuffled = np.random.default_rng(0).permutation(len(table))  # a shuffled epoch
    plain = count_touched_chunks(table.take(shuffled), CHUNKS, 32, SHAPES)
    order = chunk_aware_order(table, CHUNKS, 32, seed=1, epoch=0)
    ordered = count_touched_chunks(table.take(order), CHUNKS, 32, SHAPES)
    assert plain.mean() > 25
    assert ordered.mean() < plain.mean() / 3
    # rows of each batch start in few chunks
    ids, _ = chunk_groups(table, CHUNKS)
    full = len(order) // 32 * 32
    starts = ids[order[:full]].reshape(-1, 32)
    distinct = [len(set(row)) for row in starts.tolist()]
    assert np.mean(distinct) <= 4


def test_the_last_partial_batch_stays_last() -> None:
    table = _table()
    batch_size = 48
    assert len(table) % batch_size
    order = chunk_aware_order(table, CHUNKS, batch_size, seed=1, epoch=0)
    n_full = len(table) // batch_size * batch_size
    # the tail holds the last rows of the grouped sequence: they are unique and few
    assert len(order[n_full:]) == len(table) % batch_size


def test_chunk_groups_follow_chunks_of_samples() -> None:
    table = PatchTable.from_columns(
        data_idx=[0, 0, 0, 1, 0],
        sample_idx=[0, 1, 2, 0, 0],
        coords=[[0, 0], [5, 5], [0, 0], [0, 0], [-3, 200]],
        patch_size=[8, 8],
    )
    ids, n = chunk_groups(table, [(2, 1, 128, 128), (1, 1, 16, 16)])
    # samples 0 and 1 share a chunk along S; sample 2 does not; stack 1 is its own
    assert ids[0] == ids[1]
    assert len({ids[0], ids[2], ids[3], ids[4]}) == 4
    assert n == 4


def test_chunk_shapes_are_checked() -> None:
    table = _table()
    with pytest.raises(ValueError, match="one positive size per axis"):
        chunk_groups(table, [(1, 128, 128)] * 2)
    with pytest.raises(ValueError, match="missing stacks"):
        chunk_groups(table, [(1, 1, 128, 128)])
    with pytest.raises(ValueError, match="Batch size must be positive"):
        chunk_aware_order(table, CHUNKS, 0, seed=0, epoch=0)


def _brute_force_counts(
    table: PatchTable, chunks: Sequence[tuple[int, ...]], batch_size: int
) -> list[int]:
    counts = []
    for start in range(0, len(table), batch_size):
        touched = set()
        for i in range(start, min(start + batch_size, len(table))):
            row = table.row(i)
            size = chunks[row["data_idx"]]
            axes = [
                range(max(c, 0) // s, (c + p - 1) // s + 1)
                for c, p, s in zip(
                    row["coords"], row["patch_size"], size[2:], strict=True
                )
            ]
            for cell in itertools.product(*axes):
                touched.add((row["data_idx"], row["sample_idx"] // size[0], *cell))
        counts.append(len(touched))
    return counts


def test_count_touched_chunks_matches_brute_force() -> None:
    rng = np.random.default_rng(2)
    n = 200
    table = PatchTable.from_columns(
        data_idx=rng.integers(0, 2, n),
        sample_idx=rng.integers(0, 4, n),
        coords=rng.integers(-10, 300, (n, 2)),
        patch_size=[40, 24],
    )
    chunks = [(2, 1, 32, 64), (1, 1, 100, 16)]
    got = count_touched_chunks(table, chunks, 9)
    assert got.tolist() == _brute_force_counts(table, chunks, 9)


def test_drawn_table_counts_bounds_and_groups() -> None:
    table = draw_chunk_aware_table(
        SHAPES, CHUNKS, PATCH, patches_per_chunk=8, seed=3, epoch=0
    )
    reference = _table()
    assert len(table) == len(reference)
    for d in range(len(SHAPES)):
        for s in range(SHAPES[d][0]):
            mine = ((table.data_idx == d) & (table.sample_idx == s)).sum()
            theirs = ((reference.data_idx == d) & (reference.sample_idx == s)).sum()
            assert mine == theirs
    upper = np.array(SHAPES)[table.data_idx][:, 2:] - PATCH
    assert (table.coords >= 0).all()
    assert (table.coords <= upper).all()
    # groups of 8 from the start of every sample (a last group may be smaller)
    cells = table.coords // 128
    for d, s in [(0, 0), (0, 2), (1, 1)]:
        rows = cells[(table.data_idx == d) & (table.sample_idx == s)]
        whole = rows[: len(rows) // 8 * 8].reshape(-1, 8, 2)
        assert (whole == whole[:, :1]).all()
        tail = rows[len(rows) // 8 * 8 :]
        assert (tail == tail[:1]).all()


def test_drawn_table_is_deterministic_per_seed_and_epoch() -> None:
    def draw(seed: int, epoch: int) -> PatchTable:
        return draw_chunk_aware_table(
            SHAPES, CHUNKS, PATCH, patches_per_chunk=4, seed=seed, epoch=epoch
        )

    assert draw(1, 2) == draw(1, 2)
    assert draw(1, 2) != draw(1, 3)
    assert draw(1, 2) != draw(2, 2)


def test_drawn_positions_are_uniform() -> None:
    # 300 x 700 images, 32 patches, 128 chunks: edge cells hold fewer starts (13 of
    # 269 along Y), so a uniform marginal needs chunks picked in proportion to their
    # starts; a chunk-blind pick would put a third of the patches in the edge cells
    shapes = [(1600, 1, 300, 700)]
    table = draw_chunk_aware_table(
        shapes, [(1, 1, 128, 128)], PATCH, patches_per_chunk=16, seed=0, epoch=0
    )
    starts = np.array([300, 700]) - 32 + 1  # possible starts per axis
    for axis in range(2):
        edges = np.linspace(0, starts[axis], 13).round()
        counts, _ = np.histogram(table.coords[:, axis], bins=edges)
        expected = len(table) * np.diff(edges) / starts[axis]
        assert np.abs(counts / expected - 1).max() < 0.05, (axis, counts.tolist())


def test_drawn_then_ordered_batches_touch_four_chunks() -> None:
    table = draw_chunk_aware_table(
        SHAPES, CHUNKS, PATCH, patches_per_chunk=32, seed=3, epoch=0
    )
    order = chunk_aware_order(table, CHUNKS, 32, seed=3, epoch=0)
    counts = count_touched_chunks(table.take(order), CHUNKS, 32, SHAPES)
    assert counts.max() <= 4 * 2  # groups may share a chunk and merge: at most two
    assert np.median(counts) <= 4


def test_draw_checks_arguments() -> None:
    with pytest.raises(ValueError, match="patches_per_chunk must be positive"):
        draw_chunk_aware_table(
            SHAPES, CHUNKS, PATCH, patches_per_chunk=0, seed=0, epoch=0
        )
    with pytest.raises(ValueError, match="one chunk shape per stack"):
        draw_chunk_aware_table(
            SHAPES, CHUNKS[:1], PATCH, patches_per_chunk=2, seed=0, epoch=0
        )


def test_canonical_chunks_of_sources(tmp_path: Path) -> None:
    zarr_data = np.zeros((4, 40, 50, 3), np.float32)  # S Y X C
    group = zarr.open_group(tmp_path / "b.zarr", mode="w")
    group.create_array("img", data=zarr_data, chunks=(2, 16, 32, 3))
    tiff = np.zeros((3, 2, 64, 64), np.uint16)  # T C Y X
    tifffile.imwrite(tmp_path / "a.tif", tiff, tile=(32, 32), metadata={"axes": "TCYX"})
    sources = [
        open_image(tmp_path / "b.zarr", "SYXC"),
        open_image(tmp_path / "a.tif", "TCYX"),
        open_image(da.zeros((4, 64, 64), chunks=(1, 16, 32)), "SYX"),
        open_image(np.zeros((4, 64, 64)), "SYX"),
    ]
    chunks = [canonical_chunks(StackSource.from_stack(s)) for s in sources]
    assert chunks[0] == (2, 3, 16, 32)
    assert chunks[1] == (1, 1, 32, 32)
    assert chunks[2] == (1, 1, 16, 32)
    assert chunks[3] == (4, 1, 64, 64)
