from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

from careamics_dask.app.demo_render import DemoStoreSpec, build_demo_image
from careamics_dask.app.demo_store import (
    default_cache_dir,
    demo_store_path,
    ensure_demo_store,
    read_demo_spec,
    write_demo_store,
)
from careamics_dask.loaders import open_image

if TYPE_CHECKING:
    from pathlib import Path

SMALL = DemoStoreSpec(n_samples=2, n_channels=3, size=96, chunk=32, seed=5)


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "careamics-dask"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir().parts[-2:] == (".cache", "careamics-dask")


def test_written_store_is_ome_zarr(tmp_path: Path) -> None:
    path = write_demo_store(tmp_path / "demo.ome.zarr", SMALL)
    assert read_demo_spec(path) == SMALL
    stack = open_image(str(path), axes="")
    assert stack.shape == SMALL.shape
    assert list(stack.coords["C"].values) == ["nuclei", "membranes", "puncta"]
    assert stack.attrs["pixel_sizes"] == {"Y": 0.1, "X": 0.1}
    np.testing.assert_array_equal(
        zarr.open_array(path / "0", mode="r")[:], build_demo_image(SMALL).compute()
    )
    with pytest.raises(FileExistsError, match="exists already"):
        write_demo_store(path, SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.ome.zarr"]


def test_ensure_reuses_and_replaces(tmp_path: Path) -> None:
    path, written = ensure_demo_store(tmp_path, SMALL)
    assert written
    assert path == demo_store_path(tmp_path, SMALL)
    assert ensure_demo_store(tmp_path, SMALL) == (path, False)
    # an incomplete store (no demo attributes) is replaced
    group = zarr.open_group(path, mode="r+")
    del group.attrs["careamics-dask-demo"]
    assert read_demo_spec(path) is None
    assert ensure_demo_store(tmp_path, SMALL) == (path, True)
    assert read_demo_spec(path) == SMALL


def test_store_names() -> None:
    assert demo_store_path("c", DemoStoreSpec()).name == "demo.ome.zarr"
    assert demo_store_path("c", DemoStoreSpec.quick()).name == "demo-quick.ome.zarr"
    assert demo_store_path("c", SMALL).name == "demo-2x3x96.ome.zarr"
