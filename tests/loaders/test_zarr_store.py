from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr

from careamics_dask.errors import (
    SourceNotFoundError,
    UnsupportedSourceError,
)
from careamics_dask.loaders.open import open_images
from careamics_dask.loaders.zarr_ import ZarrLoader, locate_zarr

if TYPE_CHECKING:
    from pathlib import Path

RNG = np.random.default_rng(42)
BLOSC_V2 = {"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 1}


def _data(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    return RNG.integers(0, 1000, shape).astype(dtype)


def _write(group: zarr.Group, name: str, data: np.ndarray, **kwargs: Any) -> None:
    array = group.create_array(name, shape=data.shape, dtype=data.dtype, **kwargs)
    array[...] = data


@pytest.mark.parametrize(
    ("uri", "store", "path"),
    [
        ("file:///p/data.zarr/groupA/groupB/arr", "/p/data.zarr", "groupA/groupB/arr"),
        ("file:///p/data.zarr", "/p/data.zarr", ""),
        ("file:///p/data.zarr/", "/p/data.zarr", ""),
        ("file:///p/with%20space.zarr/a", "/p/with space.zarr", "a"),
        ("/p/x.zarr/a/b", "/p/x.zarr", "a/b"),
        ("http://h:8/d/x.zarr/a/b/", "http://h:8/d/x.zarr", "a/b"),
        ("s3://bucket/x.zarr", "s3://bucket/x.zarr", ""),
    ],
)
def test_locate_zarr(uri: str, store: str, path: str) -> None:
    location = locate_zarr(uri)
    assert (location.store, location.path) == (store, path)


def test_missing_store(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"does not exist"):
        open_images(tmp_path / "missing.zarr", "YX", "zarr")
    with pytest.raises(SourceNotFoundError, match=r"missing\.zarr' does not exist"):
        ZarrLoader().open(f"{(tmp_path / 'missing.zarr').as_uri()}/a", "YX")


def test_folder_that_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "fake.zarr").mkdir()
    (tmp_path / "fake.zarr" / "notes.txt").write_text("hi")
    with pytest.raises(UnsupportedSourceError, match=r"is not a Zarr store: expected"):
        open_images(tmp_path / "fake.zarr", "YX", "zarr")
    (tmp_path / "file.zarr").write_text("x")
    with pytest.raises(UnsupportedSourceError, match=r"got a file"):
        ZarrLoader().open(tmp_path / "file.zarr", "YX")


def test_file_uri_without_zarr_component() -> None:
    with pytest.raises(UnsupportedSourceError, match=r"No \.zarr file extension found"):
        ZarrLoader().open("file:///data/images/arr", "YX")


def test_missing_array_in_store(tmp_path: Path) -> None:
    path = tmp_path / "s.zarr"
    group = zarr.open_group(path, mode="w").create_group("groupA")
    _write(group, "real", _data((4, 4)))
    group.create_group("sub")
    uri = f"{path.as_uri()}/groupA/nope/arr"
    expected = f"Did not find array at 'groupA/nope/arr' in store '{path}'."
    with pytest.raises(SourceNotFoundError, match=re.escape(expected)) as info:
        open_images(uri, "YX", "zarr")
    assert "Found in group 'groupA': arrays ['real'], groups ['sub']" in str(info.value)
    with pytest.raises(FileNotFoundError, match="is an array, not a group"):
        open_images(f"{path.as_uri()}/groupA/real/deeper", "YX", "zarr")


def test_unknown_scheme() -> None:
    with pytest.raises(UnsupportedSourceError, match="Remote file not supported"):
        ZarrLoader().open("zip:///a.zarr", "YX")
