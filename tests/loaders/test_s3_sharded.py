"""Sharded Zarr v3 on S3 and batches in flight over the network (issue 18).

Random patches from a sharded store on a real S3 server (moto on 127.0.0.1, behind
the recording proxy) fetch the inner chunks they need with byte-range requests, not
whole shards, and give the local copy's batches; a stream over a remote store keeps
``prefetch`` batches building at once, since its reads wait on the network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr

from careamics_dask.config import DataConfig
from careamics_dask.factory import create_dataset
from careamics_dask.feeding import BatchStream
from careamics_dask.loaders import clear_handle_cache
from careamics_dask.loaders.open import open_image
from tests.loaders.s3_proxy import FaultProxy
from tests.loaders.test_s3_zarr import S3Server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import xarray as xr

pytest.importorskip("s3fs")

DATA = np.random.default_rng(1819).integers(0, 4000, (2, 128, 128), dtype=np.uint16)
SHARD = 64 * 64 * 2  # bytes of one decoded 64 x 64 shard (inner chunks 16 x 16)


@pytest.fixture
def proxied() -> Iterator[tuple[S3Server, FaultProxy]]:
    server = S3Server()
    proxy = FaultProxy(server.endpoint)
    clear_handle_cache()
    yield server, proxy
    proxy.stop()
    server.stop()
    clear_handle_cache()


def _options(server: S3Server, proxy: FaultProxy) -> dict[str, Any]:
    return {
        **server.options,
        "client_kwargs": {"endpoint_url": proxy.endpoint, "region_name": "us-east-1"},
    }


def _sharded_on_s3(
    local: Path, server: S3Server, proxy: FaultProxy, **extra: Any
) -> tuple[Path, xr.DataArray]:
    """Write DATA sharded (64 x 64 shards of 16 x 16 inner chunks), upload, open it."""
    zarr.create_array(
        store=str(local), name="a", data=DATA, shards=(1, 64, 64), chunks=(1, 16, 16),
        compressors=None,
    )  # fmt: skip
    url = server.upload(local)
    options = {**_options(server, proxy), **extra}
    return local / "a", open_image(f"{url}/a", "SYX", storage_options=options)


def _config() -> DataConfig:
    return DataConfig(
        mode="training", data_type="array", axes="SYX",
        patching={"name": "random", "patch_size": [16, 16]},
        normalization={"name": "none"}, augmentations=[], batch_size=4, seed=9,
    )  # fmt: skip


@pytest.mark.network
def test_random_patches_fetch_inner_chunks_by_byte_range(
    tmp_path: Path, proxied: tuple[S3Server, FaultProxy]
) -> None:
    local, remote = _sharded_on_s3(tmp_path / "remote-sharded.zarr", *proxied)
    proxy = proxied[1]
    assert remote.data.chunksize == (1, 1, 64, 64)  # Dask's chunk: the shard
    datasets = [
        create_dataset(_config(), stack, None)
        for stack in (remote, open_image(local, "SYX"))
    ]
    proxy.clear()
    for index in range(4):
        np.testing.assert_array_equal(
            datasets[0].batch(index).input, datasets[1].batch(index).input
        )
    shard_gets = [r for r in proxy.matching() if r.method == "GET"]
    assert shard_gets
    assert all(r.range is not None for r in shard_gets)  # never a whole shard
    # each shard's index once (a suffix range), then one range per inner chunk
    indexes = [r for r in shard_gets if str(r.range).startswith("bytes=-")]
    assert sorted(r.path for r in indexes) == sorted({r.path for r in shard_gets})
    inner = [r for r in shard_gets if r not in indexes]
    assert len(inner) <= 4 * 4 * 4  # at most 4 inner chunks per patch


@pytest.mark.network
@pytest.mark.parametrize("client", ["s3fs", "obstore"])
def test_neighbouring_inner_chunks_of_a_shard_come_in_one_request(
    tmp_path: Path, proxied: tuple[S3Server, FaultProxy], client: str
) -> None:
    """Through s3fs and through obstore alike: the coalescing is this package's."""
    from careamics_dask.graph.reading import PatchReader, StackSource

    extra: dict[str, Any] = {}
    if client == "obstore":
        pytest.importorskip("obstore")
        extra = {"zarr_store": "obstore"}
    store = tmp_path / f"remote-coalesced-{client}.zarr"
    _, remote = _sharded_on_s3(store, *proxied, **extra)
    proxy = proxied[1]
    source = StackSource.from_stack(remote)
    # 40 x 40 patches on 16 x 16 inner chunks (9 or 12 each): in one shard, or
    # spread over four
    samples, starts = [0, 1, 1], [(3, 5), (70, 10), (50, 50)]
    PatchReader([source]).patch(0, 0, (0, 0), (1, 1))  # metadata, one index
    reader = PatchReader([source], threads=4)
    proxy.clear()
    reader.prefetch(
        np.zeros(3, dtype=np.int64), np.array(samples), np.array(starts),
        np.full((3, 2), 40),
    )  # fmt: skip
    for sample, (y, x) in zip(samples, starts, strict=True):
        patch = reader.patch(0, sample, (y, x), (40, 40))
        np.testing.assert_array_equal(patch[0], DATA[sample, y : y + 40, x : x + 40])
    ranges = [
        r for r in proxy.matching()
        if r.method == "GET" and not str(r.range).startswith("bytes=-")
    ]  # fmt: skip
    shards = {(0, 0, 0), (1, 1, 0), (1, 0, 0), (1, 1, 1), (1, 0, 1)}
    # one request per shard a batch touches, not one per inner chunk (28 here)
    assert len(ranges) == len(shards)
    assert len({r.path for r in ranges}) == len(shards)


@pytest.mark.network
def test_a_stream_over_a_remote_store_builds_prefetch_batches_at_once(
    tmp_path: Path, proxied: tuple[S3Server, FaultProxy]
) -> None:
    server, proxy = proxied
    zarr.create_array(
        store=str(tmp_path / "remote-plain.zarr"), data=DATA, chunks=(1, 32, 32)
    )
    url = server.upload(tmp_path / "remote-plain.zarr")
    remote = open_image(url, "SYX", storage_options=_options(server, proxy))
    local = open_image(tmp_path / "remote-plain.zarr", "SYX")
    streams = [
        BatchStream(create_dataset(_config(), stack, None), prefetch=6)
        for stack in (remote, local)
    ]
    assert streams[0].path == "local threads: 6"  # reads wait on the network
    assert streams[1].path == f"local threads: {min(6, _cores())}"
    for got, expected in zip(*streams, strict=True):
        np.testing.assert_array_equal(got.input, expected.input)
    pinned = BatchStream(create_dataset(_config(), remote, None), local_workers=3)
    assert pinned.path == "local threads: 3"


def _cores() -> int:
    import os

    return os.cpu_count() or 1
