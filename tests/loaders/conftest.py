"""Fixtures shared by the loader tests: a real S3 server (moto) on 127.0.0.1."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from careamics_dask.loaders import clear_handle_cache

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.loaders.test_s3_zarr import S3Server


@pytest.fixture
def s3() -> Iterator[S3Server]:
    """A moto S3 server with one bucket; handle caches cleared around it."""
    from tests.loaders.test_s3_zarr import S3Server

    running = S3Server()
    clear_handle_cache()
    yield running
    running.stop()
    clear_handle_cache()
