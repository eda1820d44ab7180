"""Sharded Zarr v3 arrays on disk are read by their inner chunks, one byte range each.

Random patches from a sharded store must read the inner chunks they need, not whole
shards (issue 18): checked against zarr-python's own reads, by the chunks a patch
reader reads, and by the bytes this process reads from disk (``/proc/self/io``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask
import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, BytesCodec, Crc32cCodec, ShardingCodec, ZstdCodec

from careamics_dask.config import DataConfig
from careamics_dask.errors import SourceReadError
from careamics_dask.factory import create_dataset
from careamics_dask.graph.reading import PatchReader, StackSource
from careamics_dask.loaders import open_image
from careamics_dask.loaders._zarr_chunks import ChunkDecoder

if TYPE_CHECKING:
    from collections.abc import Callable

DATA = np.random.default_rng(18).integers(0, 60000, (2, 100, 90), dtype=np.uint16)
INNER = (1, 16, 16)


def _sharded(path: Path, **kwargs: Any) -> tuple[StackSource, Any]:
    """Write DATA sharded (1 x 64 x 64 shards of 16 x 16 inner chunks); open it."""
    options: dict[str, Any] = {"shards": (1, 64, 64), "chunks": INNER, **kwargs}
    if "serializer" in kwargs:  # a sharding codec given whole
        options = {"chunks": (1, 64, 64), **kwargs}
    array = zarr.create_array(
        store=str(path), name="a", shape=DATA.shape, dtype=DATA.dtype, **options
    )
    array[...] = DATA
    source = StackSource.from_stack(open_image(path, "SYX"))
    assert source.binding is not None
    return source, source.binding.reader


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"compressors": None},
        {"compressors": BloscCodec()},
        {
            "serializer": ShardingCodec(
                chunk_shape=INNER,
                codecs=[BytesCodec(), ZstdCodec(level=1)],
                index_codecs=[BytesCodec()],  # no checksum
                index_location="start",
            ),
            "compressors": None,
        },
    ],
)
def test_inner_chunks_match_zarr(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    _, reader = _sharded(tmp_path / "s.zarr", **kwargs)
    assert reader.chunks == (1, 64, 64)  # Dask chunks: the shard
    decoder = ChunkDecoder.for_reader(reader)
    assert decoder is not None
    assert decoder.chunks == INNER
    # inner chunks inside a shard, at a shard's edge and at the array's edge
    for index in [(0, 0, 0), (1, 3, 3), (0, 4, 1), (1, 6, 5), (0, 5, 4)]:
        region = tuple(
            slice(i * c, min((i + 1) * c, s))
            for i, c, s in zip(index, INNER, DATA.shape, strict=True)
        )
        got = decoder.read(index)
        np.testing.assert_array_equal(got, DATA[region])
        assert got.dtype == DATA.dtype


def test_unwritten_inner_chunks_and_shards_are_the_fill_value(tmp_path: Path) -> None:
    array = zarr.create_array(
        store=str(tmp_path / "s.zarr"), name="a", shape=(2, 64, 128),
        shards=(1, 64, 64), chunks=INNER, dtype="uint16", fill_value=7,
    )  # fmt: skip
    array[0, :16, :16] = 1  # one inner chunk of one shard; the others never written
    source = StackSource.from_stack(open_image(tmp_path / "s.zarr", "SYX"))
    assert source.binding is not None
    decoder = ChunkDecoder.for_reader(source.binding.reader)
    assert decoder is not None
    assert (decoder.read((0, 0, 0)) == 1).all()
    assert (decoder.read((0, 1, 1)) == 7).all()  # missing inside a written shard
    assert (decoder.read((1, 0, 5)) == 7).all()  # a shard that does not exist


def _in_turn(function: Any, items: Any) -> list[Any]:
    return [function(item) for item in items]


@pytest.mark.parametrize("kwargs", [{}, {"compressors": None}])
def test_many_inner_chunks_at_once_equal_one_by_one(
    tmp_path: Path, kwargs: dict[str, Any]
) -> None:
    array = zarr.create_array(
        store=str(tmp_path / "s.zarr"), name="a", shape=(2, 100, 90),
        shards=(1, 64, 64), chunks=INNER, dtype="uint16", fill_value=7, **kwargs,
    )  # fmt: skip
    array[0] = DATA[0]  # sample 1 never written: its shards do not exist
    array[1, :16, :16] = 3
    source = StackSource.from_stack(open_image(tmp_path / "s.zarr", "SYX"))
    assert source.binding is not None
    decoder = ChunkDecoder.for_reader(source.binding.reader)
    assert decoder is not None
    # neighbours, far apart, at the array's edge, in an unwritten shard, repeated
    wanted = [(0, 0, 0), (0, 0, 1), (0, 3, 3), (0, 6, 5), (1, 0, 0), (1, 2, 4)]
    wanted += [(0, 4, 0), (0, 0, 1)]
    got = decoder.read_many(wanted, _in_turn)
    assert len(got) == len(wanted)
    for index, chunk in zip(wanted, got, strict=True):
        np.testing.assert_array_equal(chunk, decoder.read(index))
        assert chunk.dtype == DATA.dtype
    assert (got[4] == 3).all()
    assert (got[5] == 7).all()


def test_coalescing_joins_neighbours_within_the_gap_and_the_size_cap() -> None:
    from careamics_dask.loaders._shard_bytes import (
        COALESCE_GAP,
        COALESCE_MAX,
        coalesce,
    )

    spans = [(0, 100, 0), (100, 50, 1), (150 + COALESCE_GAP, 10, 2)]
    spans += [(150 + 2 * COALESCE_GAP + 11, 10, 3)]  # one byte beyond the gap
    requests = coalesce("k", spans)
    assert [(start, stop) for _, start, stop, _ in requests] == [
        (0, 160 + COALESCE_GAP),
        (150 + 2 * COALESCE_GAP + 11, 150 + 2 * COALESCE_GAP + 21),
    ]
    assert [[p[2] for p in parts] for *_, parts in requests] == [[0, 1, 2], [3]]
    big = [(0, COALESCE_MAX - 10, 0), (COALESCE_MAX - 10, 20, 1)]
    assert len(coalesce("k", big)) == 2  # one request stays within the cap


def _rchar() -> int:
    """Bytes this process has read through read/pread system calls so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def _bytes_read(action: Callable[[], object]) -> int:
    """Bytes read from files while ``action`` runs (less reading /proc itself)."""
    r0 = _rchar()
    r1 = _rchar()
    action()
    return _rchar() - r1 - (r1 - r0)


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux procfs")
@pytest.mark.parametrize("backend", ["zarr", "tensorstore"])
def test_a_patch_reads_its_inner_chunks_not_its_shard(
    tmp_path: Path, backend: str
) -> None:
    """A 20 x 30 patch touches 2 x 3 inner chunks of one 64 x 64 shard: those are
    read (and the shard's index), by this package's decoder and by TensorStore."""
    if backend == "tensorstore":
        pytest.importorskip("tensorstore")
    source, _ = _sharded(tmp_path / "s.zarr", compressors=None)
    shard = tmp_path / "s.zarr" / "a" / "c" / "1" / "0" / "0"
    shard_bytes = shard.stat().st_size  # 64 x 64 x 2 bytes plus the index
    inner_bytes = 16 * 16 * 2
    index_bytes = 16 * 16 + 4  # 4 x 4 inner chunks, offset and size, CRC32C
    reader = PatchReader([source], backend=backend)
    reader.patch(0, 0, (3, 5), (20, 30))  # opens the array: metadata, handles
    patch = np.empty(0, dtype=np.float32)

    def read_patch() -> None:
        nonlocal patch
        patch = reader.patch(0, 1, (3, 5), (20, 30))

    read = _bytes_read(read_patch)
    np.testing.assert_array_equal(patch[0], DATA[1, 3:23, 5:35])
    assert read < shard_bytes / 2
    if backend == "zarr":
        assert read == 6 * inner_bytes + index_bytes
        again = PatchReader([source], backend=backend)  # the index is kept
        assert (
            again.prefetch(
                np.array([0]), np.array([1]), np.array([[3, 5]]), np.array([[20, 30]])
            )
            == 6
        )  # inner chunks, not the one shard
        assert _bytes_read(lambda: again.patch(0, 1, (3, 5), (20, 30))) == 0


def test_batches_equal_those_of_the_unsharded_copy(tmp_path: Path) -> None:
    sharded = _sharded(tmp_path / "s.zarr")[0]
    assert sharded.binding is not None
    zarr.create_array(store=str(tmp_path / "p.zarr"), name="a", data=DATA, chunks=INNER)
    config = DataConfig(
        mode="training", data_type="array", axes="SYX",
        patching={"name": "random", "patch_size": [24, 24]},
        normalization={"name": "none"}, batch_size=8, seed=4,
    )  # fmt: skip
    with dask.config.set({"careamics-dask.batching.backend": "zarr"}):
        datasets = [
            create_dataset(config, open_image(tmp_path / name, "SYX"), None)
            for name in ("s.zarr", "p.zarr")
        ]
        for index in range(datasets[0].n_batches()):
            np.testing.assert_array_equal(
                datasets[0].batch(index).input, datasets[1].batch(index).input
            )


def test_a_corrupt_shard_index_names_the_source(tmp_path: Path) -> None:
    _, reader = _sharded(tmp_path / "s.zarr")
    shard = tmp_path / "s.zarr" / "a" / "c" / "0" / "0" / "1"
    data = bytearray(shard.read_bytes())
    data[-10] ^= 0xFF  # inside the index: its CRC32C no longer matches
    shard.write_bytes(bytes(data))
    decoder = ChunkDecoder.for_reader(reader)
    assert decoder is not None
    with pytest.raises(SourceReadError, match="checksum") as info:
        decoder.read((0, 1, 5))
    assert str(tmp_path / "s.zarr") in str(info.value)
    np.testing.assert_array_equal(decoder.read((0, 0, 0)), DATA[:1, :16, :16])


def test_codecs_it_cannot_decode_fall_back_to_whole_shards(tmp_path: Path) -> None:
    serializer = ShardingCodec(
        chunk_shape=INNER,
        codecs=[BytesCodec(), ZstdCodec()],
        index_codecs=[BytesCodec(endian="big"), Crc32cCodec()],
    )
    source, reader = _sharded(
        tmp_path / "s.zarr", serializer=serializer, compressors=None
    )
    assert ChunkDecoder.for_reader(reader) is None
    patch = PatchReader([source]).patch(0, 0, (40, 50), (30, 30))
    np.testing.assert_array_equal(patch[0], DATA[0, 40:70, 50:80])
    assert os.path.isdir(tmp_path / "s.zarr")
