"""S3 reads through a faulty network: throttling, resets and stalls (issue 18).

A :class:`~tests.loaders.s3_proxy.FaultProxy` on loopback sits between the reader and
a moto S3 server and injects faults into chunk requests. Retries are s3fs's and
botocore's own: s3fs makes 5 attempts with a short exponential backoff (0.1 s
times 1.7 per attempt) around botocore's, which ``storage_options["config_kwargs"]``
configure (here off, with short timeouts, so each fault costs one attempt and the
tests take seconds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr

from careamics_dask.errors import SourceReadError
from careamics_dask.loaders import clear_handle_cache
from careamics_dask.loaders.open import open_image
from tests.loaders.s3_proxy import FaultProxy
from tests.loaders.test_s3_zarr import S3Server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytest.importorskip("s3fs")

RNG = np.random.default_rng(1818)


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[S3Server, FaultProxy]]:
    server = S3Server()
    proxy = FaultProxy(server.endpoint, stall_seconds=2.0)
    clear_handle_cache()
    yield server, proxy
    proxy.stop()
    server.stop()
    clear_handle_cache()


def _options(server: S3Server, proxy: FaultProxy) -> dict[str, Any]:
    """Reach the server through the proxy; s3fs's 5 attempts, short timeouts."""
    return {
        **server.options,
        "client_kwargs": {"endpoint_url": proxy.endpoint, "region_name": "us-east-1"},
        "config_kwargs": {
            "retries": {"total_max_attempts": 1},
            "read_timeout": 0.5,
            "connect_timeout": 1.0,
        },
    }


def _upload(server: S3Server, folder: Path) -> tuple[str, np.ndarray]:
    data = RNG.integers(0, 4000, (2, 32, 32)).astype(np.uint16)
    zarr.create_array(folder / "f.zarr", data=data, chunks=(1, 16, 16))
    return server.upload(folder / "f.zarr"), data


@pytest.mark.network
def test_throttling_resets_and_stalls_are_retried_and_nothing_is_lost(
    tmp_path: Path, proxied: tuple[S3Server, FaultProxy]
) -> None:
    server, proxy = proxied
    url, data = _upload(server, tmp_path)
    stack = open_image(url, "SYX", storage_options=_options(server, proxy))
    proxy.clear()
    proxy.inject("slowdown", "reset", "stall", "slowdown")  # < 5 for any one key
    np.testing.assert_array_equal(stack.values[:, 0], data)
    requests = proxy.matching()
    faulted = [r.fault for r in requests if r.fault is not None]
    assert faulted == ["slowdown", "reset", "stall", "slowdown"]
    served = sorted(r.path for r in requests if r.fault is None)
    # every one of the 8 chunks was fetched once in the end: each fault was retried
    assert len(served) == 8
    assert len(set(served)) == 8
    assert len(requests) == 8 + 4


@pytest.mark.network
def test_a_key_that_keeps_failing_names_the_key_and_the_fix(
    tmp_path: Path, proxied: tuple[S3Server, FaultProxy]
) -> None:
    server, proxy = proxied
    url, _ = _upload(server, tmp_path)
    stack = open_image(url, "SYX", storage_options=_options(server, proxy))
    proxy.clear()
    proxy.fail_always("/c/1/1/0")
    with pytest.raises(SourceReadError) as info:
        stack.values  # noqa: B018
    message = str(info.value)
    assert "f.zarr/c/1/1/0" in message
    assert "retries" in message
    attempts = [r for r in proxy.matching() if "/c/1/1/0" in r.path]
    assert len(attempts) == 5  # s3fs's attempts
