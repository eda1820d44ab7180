from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from careamics_dask.errors import (
    DataPairError,
    SourceNotFoundError,
    UnsupportedSourceError,
)
from careamics_dask.loaders.open import open_images
from careamics_dask.loaders.pairs import open_pair, validate_stack_pair
from careamics_dask.loaders.sources import (
    expand_sources,
    is_uri,
    is_zarr_store,
    list_files,
    validate_source_pair,
)

if TYPE_CHECKING:
    from pathlib import Path


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def test_list_files_sorted_recursive(tmp_path: Path) -> None:
    _touch(tmp_path, "b.tif", "a.tiff", "sub/c.tif", "notes.txt")
    found = list_files(tmp_path, "*.tif*")
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.tiff",
        "b.tif",
        "sub/c.tif",
    ]


def test_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.tif"
    with pytest.raises(FileNotFoundError, match=r"nope\.tif") as info:
        expand_sources("tiff", [tmp_path / "x.tif", missing][1:])
    assert isinstance(info.value, SourceNotFoundError)
    assert info.value.source == str(missing)


def test_list_with_one_missing_path_is_not_silently_dropped(tmp_path: Path) -> None:
    _touch(tmp_path, "a.tif")
    with pytest.raises(FileNotFoundError, match=r"b\.tif"):
        expand_sources("tiff", [tmp_path / "a.tif", tmp_path / "b.tif"])


def test_empty_folder_names_pattern(tmp_path: Path) -> None:
    _touch(tmp_path, "a.png")
    with pytest.raises(UnsupportedSourceError, match=r"'\*\.tif\*' were not found"):
        expand_sources("tiff", tmp_path)


def test_wrong_extension(tmp_path: Path) -> None:
    _touch(tmp_path, "a.png")
    with pytest.raises(
        UnsupportedSourceError, match="does not match the requested extension"
    ):
        expand_sources("tiff", tmp_path / "a.png")


def test_tuple_accepted_like_list(tmp_path: Path) -> None:
    _touch(tmp_path, "a.tif", "b.tif")
    assert len(expand_sources("tiff", (tmp_path / "a.tif", tmp_path / "b.tif"))) == 2


def test_custom_filter_and_passthrough(tmp_path: Path) -> None:
    _touch(tmp_path, "a.npy", "b.npy", "c.txt")
    assert len(expand_sources("custom", tmp_path, extension_filter="*.npy")) == 2
    array = np.zeros(3)
    assert expand_sources("custom", [array])[0] is array


def test_zarr_folder_finds_stores_not_nested(tmp_path: Path) -> None:
    (tmp_path / "one.zarr" / "inner.zarr").mkdir(parents=True)
    (tmp_path / "sub" / "two.zarr").mkdir(parents=True)
    found = expand_sources("zarr", tmp_path)
    assert [p.name for p in found] == ["one.zarr", "two.zarr"]
    assert expand_sources("zarr", "file:///x/a.zarr/arr") == ["file:///x/a.zarr/arr"]


def test_zarr_store_detection(tmp_path: Path) -> None:
    store = tmp_path / "plain"
    store.mkdir()
    assert not is_zarr_store(store)
    (store / "zarr.json").write_text("{}")
    assert is_zarr_store(store)
    assert expand_sources("zarr", store) == [store]


def test_czi_scene_suffix(tmp_path: Path) -> None:
    _touch(tmp_path, "a.czi")
    assert expand_sources("czi", f"{tmp_path / 'a.czi'}@2") == [
        f"{tmp_path / 'a.czi'}@2"
    ]
    with pytest.raises(FileNotFoundError):
        expand_sources("czi", f"{tmp_path / 'b.czi'}@2")


def test_wrong_kind_for_file_type() -> None:
    with pytest.raises(UnsupportedSourceError, match="expected a path"):
        expand_sources("tiff", np.zeros(3))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("file:///a.zarr", True),
        ("s3://b/a.zarr", True),
        ("http://h/a.zarr", True),
        ("C:/data/a.zarr", False),
        ("data/a.zarr", False),
        (3, False),
    ],
)
def test_is_uri(value: object, expected: bool) -> None:
    assert is_uri(value) is expected


def test_source_pair_count_and_names() -> None:
    with pytest.raises(
        DataPairError, match=r"number of source files \(2\) is not equal"
    ):
        validate_source_pair(["a.tif", "b.tif"], ["a.tif"])
    with pytest.raises(DataPairError, match=r"different names: \['b.tif', 'c.tif'\]"):
        validate_source_pair(["a.tif", "b.tif"], ["a.tif", "c.tif"])


def test_stack_pair_shapes() -> None:
    inputs = open_images([np.zeros((2, 8, 8)), np.zeros((3, 8, 8))], "SYX")
    with pytest.raises(DataPairError, match="same number of image stacks"):
        validate_stack_pair(inputs, inputs[:1])
    other = open_images([np.zeros((2, 8, 8)), np.zeros((2, 8, 8))], "SYX")
    with pytest.raises(DataPairError, match="stacks 1 differ"):
        validate_stack_pair(inputs, other)


def test_open_pair_kinds_and_channels() -> None:
    with pytest.raises(DataPairError, match="same kind"):
        open_pair(np.zeros((8, 8)), [np.zeros((8, 8))], "YX")
    _x, y = open_pair(
        [np.zeros((8, 8))], [np.zeros((2, 8, 8))], "YX", target_axes="CYX"
    )
    assert y[0].sizes["C"] == 2
