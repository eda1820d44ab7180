"""Synchronous decoders of Zarr chunks: stored bytes in, flat pixels out.

zarr-python decodes through its asynchronous codec pipeline; the chunk decoder and
the shard layout call the codecs' synchronous halves on the calling thread instead
(zarr's ``SupportsSyncCodec``), or numcodecs' zstd directly for the commonest case.
Each builder returns None where its decoder would not be exact, and the caller
keeps zarr-python's own path.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, cast

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt
    from zarr.codecs import ShardingCodec
    from zarr.core.buffer import Buffer, NDBuffer
    from zarr.types import AnyArray

__all__ = ["inner_decoder", "raw_decoder", "sync_decoder"]


def raw_decoder(array: AnyArray) -> Callable[[bytes], npt.NDArray[Any]] | None:
    """Return ``file bytes -> flat pixels`` for the commonest v3 codecs, or None.

    ``bytes`` (any byte order) optionally followed by ``zstd``: the same
    numcodecs call zarr makes, without zarr's buffer objects around it.
    """
    from zarr.codecs import BytesCodec, ZstdCodec
    from zarr.core.codec_pipeline import BatchedCodecPipeline

    if array.metadata.zarr_format != 3:
        return None
    pipeline = array._async_array.codec_pipeline
    if not isinstance(pipeline, BatchedCodecPipeline) or pipeline.array_array_codecs:
        return None
    codec = pipeline.array_bytes_codec
    compressors = pipeline.bytes_bytes_codecs
    if not isinstance(codec, BytesCodec) or len(compressors) > 1:
        return None
    if compressors and not isinstance(compressors[0], ZstdCodec):
        return None
    dtype = np.dtype(array.dtype)
    if codec.endian is not None and dtype.itemsize > 1:
        dtype = dtype.newbyteorder("<" if codec.endian.value == "little" else ">")
    native = np.dtype(array.dtype)
    zstd = cast("ZstdCodec", compressors[0])._zstd_codec if compressors else None

    def decode(data: bytes) -> npt.NDArray[Any]:
        raw = zstd.decode(data) if zstd is not None else data
        pixels = np.frombuffer(raw, dtype=dtype)
        return pixels if pixels.dtype == native else pixels.astype(native)

    return decode


def sync_decoder(array: AnyArray) -> Callable[[Buffer], npt.NDArray[Any]] | None:
    """Return ``stored buffer -> flat ndarray`` for the array's codecs, or None."""
    from zarr.abc.codec import SupportsSyncCodec
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.codec_pipeline import BatchedCodecPipeline

    if array.metadata.zarr_format == 2:
        return _v2_decoder(array)
    pipeline = array._async_array.codec_pipeline
    if not isinstance(pipeline, BatchedCodecPipeline) or pipeline.array_array_codecs:
        return None
    codecs = [*pipeline.bytes_bytes_codecs[::-1], pipeline.array_bytes_codec]
    sync_codecs = [codec for codec in codecs if isinstance(codec, SupportsSyncCodec)]
    if len(sync_codecs) != len(codecs):
        return None
    spec = array.metadata.get_chunk_spec(
        (0,) * array.ndim, array._async_array.config, default_buffer_prototype()
    )

    def decode(stored: Buffer) -> npt.NDArray[Any]:
        data: Buffer | NDBuffer = stored
        for codec in sync_codecs:
            data = codec._decode_sync(data, spec)
        return np.asarray(data.as_numpy_array())

    return decode


def _v2_decoder(array: AnyArray) -> Callable[[Buffer], npt.NDArray[Any]] | None:
    """Return the decoder of a C-ordered numeric Zarr v2 array, or None."""
    metadata = array.metadata
    dtype = np.dtype(array.dtype)
    if getattr(metadata, "order", "C") != "C" or dtype.hasobject:
        return None
    compressor = getattr(metadata, "compressor", None)
    filters = tuple(getattr(metadata, "filters", None) or ())[::-1]

    def decode(stored: Buffer) -> npt.NDArray[Any]:
        data: Any = stored.as_array_like()
        if compressor is not None:
            data = compressor.decode(data)
        for codec in filters:
            data = codec.decode(data)
        if isinstance(data, np.ndarray):
            return np.ascontiguousarray(data).reshape(-1).view(dtype)
        return np.frombuffer(data, dtype=dtype)

    return decode


def inner_decoder(
    array: AnyArray, sharding: ShardingCodec
) -> Callable[[bytes], npt.NDArray[Any]] | None:
    """Return ``stored bytes -> flat pixels`` for a shard's inner codecs, or None."""
    from zarr.abc.codec import ArrayBytesCodec, BytesBytesCodec, SupportsSyncCodec
    from zarr.codecs import BytesCodec, ZstdCodec
    from zarr.core.buffer import default_buffer_prototype

    codecs = sharding.codecs
    if not codecs or not isinstance(codecs[0], BytesCodec):
        return None  # an array-to-array codec first, or another array-to-bytes one
    compressors = codecs[1:]
    if not all(
        isinstance(c, BytesBytesCodec) and isinstance(c, SupportsSyncCodec)
        for c in compressors
    ):
        return None
    bytes_codec: ArrayBytesCodec = codecs[0]
    native = np.dtype(array.dtype)
    stored_dtype = native
    endian = cast("BytesCodec", bytes_codec).endian
    if endian is not None and native.itemsize > 1:
        stored_dtype = native.newbyteorder("<" if endian.value == "little" else ">")
    if len(compressors) <= 1 and all(isinstance(c, ZstdCodec) for c in compressors):
        zstd = cast("ZstdCodec", compressors[0])._zstd_codec if compressors else None

        def raw(data: bytes) -> npt.NDArray[Any]:
            pixels = np.frombuffer(
                zstd.decode(data) if zstd is not None else data, dtype=stored_dtype
            )
            return pixels if pixels.dtype == native else pixels.astype(native)

        return raw
    prototype = default_buffer_prototype()
    shard_spec = array.metadata.get_chunk_spec(
        (0,) * array.ndim, array._async_array.config, prototype
    )
    spec = dataclasses.replace(shard_spec, shape=tuple(sharding.chunk_shape))
    steps = [cast("Any", c) for c in compressors[::-1]]

    def generic(data: bytes) -> npt.NDArray[Any]:
        buffer = prototype.buffer.from_bytes(data)
        for codec in steps:
            buffer = codec._decode_sync(buffer, spec)
        pixels = buffer.as_numpy_array().view(stored_dtype)
        return pixels if pixels.dtype == native else pixels.astype(native)

    return generic
