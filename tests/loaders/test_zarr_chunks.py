from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, BytesCodec, GzipCodec, TransposeCodec, ZstdCodec

from careamics_dask.errors import SourceReadError
from careamics_dask.graph.reading import PatchReader, StackSource
from careamics_dask.loaders import open_image, reader_of
from careamics_dask.loaders._zarr_chunks import ChunkDecoder
from careamics_dask.testing import count_region_reads

if TYPE_CHECKING:
    from pathlib import Path

DATA = np.random.default_rng(0).integers(0, 60000, (3, 37, 45), dtype=np.uint16)


def _reader(path: Path, **kwargs: Any) -> Any:
    zarr.create_array(
        store=str(path), name="a", data=DATA, chunks=(1, 16, 16), **kwargs
    )
    stack = open_image(path, "SYX")
    source = StackSource.from_stack(stack)
    assert source.binding is not None
    return source, source.binding.reader


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"compressors": ZstdCodec(level=1)},
        {"compressors": GzipCodec()},
        {"compressors": BloscCodec()},
        {"compressors": None},
        {"serializer": BytesCodec(endian="big")},
        {"serializer": BytesCodec(endian="big"), "compressors": None},
        {"zarr_format": 2},
        {"zarr_format": 2, "compressors": None},
    ],
)
def test_decoder_matches_zarr(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    _, reader = _reader(tmp_path / "d.zarr", **kwargs)
    decoder = ChunkDecoder.for_reader(reader)
    assert decoder is not None
    for index in [(0, 0, 0), (2, 2, 2), (1, 0, 2), (1, 2, 0)]:  # edges included
        region = tuple(
            slice(i * c, min((i + 1) * c, s))
            for i, c, s in zip(index, (1, 16, 16), DATA.shape, strict=True)
        )
        got = decoder.read(index)
        np.testing.assert_array_equal(got, DATA[region])
        assert got.dtype == DATA.dtype
    # plain bytes (+ zstd) of a local v3 store skip zarr's buffers
    plain = kwargs.get("compressors", ZstdCodec()) in (None,) or isinstance(
        kwargs.get("compressors", ZstdCodec()), ZstdCodec
    )
    expected = plain and kwargs.get("zarr_format", 3) == 3
    assert (decoder._raw is not None) == expected


def test_decoder_counts_reads(tmp_path: Path) -> None:
    _, reader = _reader(tmp_path / "d.zarr")
    decoder = ChunkDecoder.for_reader(reader)
    assert decoder is not None
    with count_region_reads() as counter:
        decoder.read((0, 0, 0))
    assert counter.count == 1


def test_missing_chunk_is_fill_value(tmp_path: Path) -> None:
    array = zarr.create_array(
        store=str(tmp_path / "d.zarr"),
        name="a",
        shape=(2, 32, 32),
        chunks=(1, 16, 16),
        dtype="uint16",
        fill_value=7,
    )
    array[0, :16, :16] = 1
    source = StackSource.from_stack(open_image(tmp_path / "d.zarr", "SYX"))
    assert source.binding is not None
    decoder = ChunkDecoder.for_reader(source.binding.reader)
    assert decoder is not None
    assert (decoder.read((0, 0, 0)) == 1).all()
    assert (decoder.read((1, 1, 1)) == 7).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filters": TransposeCodec(order=(0, 2, 1))},
        {"filters": TransposeCodec(order=(0, 2, 1)), "shards": (1, 32, 32)},
    ],
)
def test_falls_back_where_it_cannot_apply(
    tmp_path: Path, kwargs: dict[str, Any]
) -> None:
    source, reader = _reader(tmp_path / "d.zarr", **kwargs)
    assert ChunkDecoder.for_reader(reader) is None
    patch = PatchReader([source]).patch(0, 1, (3, 5), (20, 30))
    np.testing.assert_array_equal(patch[0], DATA[1, 3:23, 5:35])


def test_non_zarr_readers_are_left_alone() -> None:
    stack = open_image(DATA, "SYX")
    reader = reader_of(stack.data)
    assert reader is None or ChunkDecoder.for_reader(reader) is None


def test_corrupt_chunk_names_source_and_region(tmp_path: Path) -> None:
    source, reader = _reader(tmp_path / "d.zarr")
    (tmp_path / "d.zarr" / "a" / "c" / "1" / "0" / "2").write_bytes(b"garbage")
    decoder = ChunkDecoder.for_reader(reader)
    assert decoder is not None
    with pytest.raises(SourceReadError, match=r"\[1:2, 0:16, 32:45\]") as info:
        decoder.read((1, 0, 2))
    assert info.value.array == "a"
    with pytest.raises(SourceReadError, match=r"d\.zarr"):
        PatchReader([source]).patch(0, 1, (0, 30), (8, 8))
