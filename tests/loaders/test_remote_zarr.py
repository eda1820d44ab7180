from __future__ import annotations

import functools
import importlib.util
import threading
import time
import warnings
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pytest
import zarr
from zarr.codecs import ZstdCodec

from careamics_dask.errors import (
    MissingDependencyError,
    SourceNotFoundError,
    SourceReadError,
    UnsupportedSourceError,
)
from careamics_dask.loaders import clear_handle_cache
from careamics_dask.loaders.open import open_image, open_images
from careamics_dask.testing import LoaderCase, LoaderTests
from tests.loaders.test_ome import write_ome_image

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

RNG = np.random.default_rng(3)


class StaticHandler(SimpleHTTPRequestHandler):
    """Serve files like a static object store: no directory listings."""

    seen_headers: ClassVar[list[str]] = []

    def list_directory(self, path: Any) -> None:
        self.send_error(404, "listing disabled")

    def do_GET(self) -> None:
        StaticHandler.seen_headers.append(self.headers.get("X-Careamics-Test", ""))
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server:
    def __init__(self, root: Path) -> None:
        handler = functools.partial(StaticHandler, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    clear_handle_cache()
    yield running
    running.stop()
    clear_handle_cache()


def _write(group: zarr.Group, name: str, data: np.ndarray, **kwargs: Any) -> None:
    group.create_array(name, shape=data.shape, dtype=data.dtype, **kwargs)[...] = data


def _consolidate(path: Path) -> None:
    with warnings.catch_warnings():
        # zarr warns that consolidated metadata is not (yet) in the v3 spec
        warnings.filterwarnings("ignore", "Consolidated metadata", UserWarning)
        zarr.consolidate_metadata(path)


def _two_array_store(path: Path, *, consolidated: bool) -> list[np.ndarray]:
    """Write arrays "zz" then "aa" (both S Y X); return them in sorted order."""
    root = zarr.open_group(path, mode="w", zarr_format=3)
    second = RNG.integers(0, 99, (3, 16, 16)).astype("uint8")
    first = RNG.integers(0, 99, (2, 16, 24)).astype("int32")
    _write(root, "zz", second, chunks=(1, 8, 8))
    _write(root, "aa", first, chunks=(1, 8, 8), compressors=ZstdCodec())
    if consolidated:
        _consolidate(path)
    return [first, second]


@pytest.mark.network
class TestHttpConsolidatedStore(LoaderTests):
    """A consolidated v3 store over HTTP: first-level arrays, sorted, lazily read."""

    @pytest.fixture
    def case(self, tmp_path: Path, server: Server) -> LoaderCase:
        self.url = server.url
        return self.make_case(tmp_path)

    def make_case(self, tmp_path: Path) -> LoaderCase:
        expected = _two_array_store(tmp_path / "store.zarr", consolidated=True)
        return LoaderCase(
            source=f"{self.url}/store.zarr",
            axes="SYX",
            expected=expected,
            expected_chunks=[(1, 1, 8, 8), (1, 1, 8, 8)],
            data_type="zarr",
        )


@pytest.mark.network
def test_http_unconsolidated_group_needs_consolidation(
    tmp_path: Path, server: Server
) -> None:
    _two_array_store(tmp_path / "plain.zarr", consolidated=False)
    with pytest.raises(UnsupportedSourceError, match=r"zarr\.consolidate_metadata"):
        open_images(f"{server.url}/plain.zarr", "YX", "zarr")
    with pytest.raises(SourceNotFoundError, match="cannot be listed remotely"):
        open_images(f"{server.url}/plain.zarr/missing", "YX", "zarr")
    stack = open_image(f"{server.url}/plain.zarr/aa", "SYX")  # a URL to the array
    expected = zarr.open_array(tmp_path / "plain.zarr" / "aa", mode="r")[:]
    np.testing.assert_array_equal(stack.values[:, 0], expected)


@pytest.mark.network
def test_http_v2_consolidated(tmp_path: Path, server: Server) -> None:
    path = tmp_path / "v2.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=2)
    data = RNG.random((2, 16, 16)).astype("float32")
    _write(root, "b", data, chunks=(1, 8, 8))
    _write(root, "a", data[:, ::2], chunks=(1, 8, 8))
    zarr.consolidate_metadata(path)
    stacks = open_images(f"{server.url}/v2.zarr", "SYX", "zarr")
    assert [s.attrs["array"] for s in stacks] == ["a", "b"]
    assert stacks[0].attrs["source"] == f"{server.url}/v2.zarr"
    np.testing.assert_array_equal(stacks[1].values[:, 0], data)


@pytest.mark.network
def test_http_ome_zarr_needs_no_listing(tmp_path: Path, server: Server) -> None:
    data = RNG.integers(0, 255, (2, 16, 16)).astype("uint8")
    root = zarr.open_group(tmp_path / "img.ome.zarr", mode="w", zarr_format=3)
    write_ome_image(
        root, data, "cyx", version="0.5", scale=[1, 0.2, 0.2], labels=["p", "q"]
    )
    stack = open_image(f"{server.url}/img.ome.zarr", "")
    assert list(stack.coords["C"].values) == ["p", "q"]
    assert stack.attrs["pixel_sizes"] == {"Y": 0.2, "X": 0.2}
    np.testing.assert_array_equal(stack.values[0], data)


@pytest.mark.network
def test_storage_options_reach_every_request(tmp_path: Path, server: Server) -> None:
    _two_array_store(tmp_path / "store.zarr", consolidated=True)
    StaticHandler.seen_headers.clear()
    options = {"headers": {"X-Careamics-Test": "yes"}}
    stack = open_image(f"{server.url}/store.zarr/aa", "SYX", storage_options=options)
    clear_handle_cache()  # the read reopens the store from the reader's description
    stack.values  # noqa: B018
    assert StaticHandler.seen_headers
    assert set(StaticHandler.seen_headers) == {"yes"}


@pytest.mark.network
def test_missing_remote_store_and_array(tmp_path: Path, server: Server) -> None:
    with pytest.raises(SourceNotFoundError, match="No Zarr store found at"):
        open_images(f"{server.url}/nothing.zarr", "YX", "zarr")
    _two_array_store(tmp_path / "store.zarr", consolidated=True)
    with pytest.raises(
        SourceNotFoundError, match="Did not find array at 'nope' in store"
    ) as info:
        open_images(f"{server.url}/store.zarr/nope", "YX", "zarr")
    assert "arrays ['aa', 'zz']" in str(info.value)


@pytest.mark.network
def test_unreachable_url_fails_fast() -> None:
    url = "http://127.0.0.1:1/none.zarr"
    start = time.perf_counter()
    with pytest.raises(SourceNotFoundError, match="Could not reach") as info:
        open_images(url, "YX", "zarr")
    assert time.perf_counter() - start < 5
    assert url in str(info.value)
    assert "storage_options" in str(info.value)
    assert info.value.source == url


@pytest.mark.network
def test_server_gone_at_compute_is_a_read_error(tmp_path: Path, server: Server) -> None:
    _two_array_store(tmp_path / "store.zarr", consolidated=True)
    stack = open_image(f"{server.url}/store.zarr/aa", "SYX")
    server.stop()
    clear_handle_cache()
    with pytest.raises(SourceReadError, match=r"array 'aa' in 'http://127\.0\.0\.1"):
        stack.values  # noqa: B018


@pytest.mark.skipif(
    importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed"
)
def test_s3_without_s3fs_names_the_package() -> None:
    with pytest.raises(MissingDependencyError, match="pip install s3fs") as info:
        open_images("s3://bucket/data.zarr", "YX", "zarr")
    assert info.value.extra == "remote"


@pytest.mark.network
def test_remote_zarr_objects_keep_their_options(tmp_path: Path, server: Server) -> None:
    from careamics_dask.loaders.zarr_ import ZarrLoader

    expected = _two_array_store(tmp_path / "store.zarr", consolidated=True)
    options = {"headers": {"X-Careamics-Test": "obj"}}
    store = zarr.storage.FsspecStore.from_url(
        f"{server.url}/store.zarr", storage_options=options, read_only=True
    )
    group = zarr.open_group(store=store, mode="r")
    StaticHandler.seen_headers.clear()
    stacks = ZarrLoader().open(group, "SYX")
    assert [s.attrs["source"] for s in stacks] == [f"{server.url}/store.zarr"] * 2
    clear_handle_cache()
    np.testing.assert_array_equal(stacks[0].values[:, 0], expected[0])
    assert set(StaticHandler.seen_headers) == {"obj"}
