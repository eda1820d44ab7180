from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
import tifffile
import zarr

from careamics_dask.graph.reading import StackSource, pad_patch
from careamics_dask.loaders import open_image

if TYPE_CHECKING:
    from pathlib import Path

IMAGE = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3)


def test_pad_patch_direct() -> None:
    region = IMAGE[:, 1:3, 1:3]
    np.testing.assert_array_equal(
        pad_patch((1, 1), (3, 3), region)[0], [[5, 6, 0], [8, 9, 0], [0, 0, 0]]
    )


def _sources(tmp_path: Path) -> tuple[list[StackSource], list[Any]]:
    rng = np.random.default_rng(0)
    tiff_data = rng.integers(0, 4000, (3, 2, 70, 90), dtype=np.uint16)  # T C Y X
    tifffile.imwrite(
        tmp_path / "a.tif", tiff_data, tile=(32, 32), metadata={"axes": "TCYX"}
    )
    zarr_data = rng.random((2, 40, 50, 3), dtype=np.float32)  # S Y X C
    group = zarr.open_group(tmp_path / "b.zarr", mode="w")
    group.create_array("img", data=zarr_data, chunks=(1, 16, 16, 3))
    volume = rng.integers(0, 255, (2, 1, 9, 20, 20), dtype=np.uint8)
    stacks = [
        open_image(tmp_path / "a.tif", "TCYX"),
        open_image(tmp_path / "b.zarr", "SYXC"),
        open_image(da.from_array(tiff_data[:, 0], chunks=(1, 16, 16)), "SYX"),
        open_image(tiff_data[0], "CYX"),
    ]
    expected = [
        tiff_data,
        np.moveaxis(zarr_data, -1, 1),
        tiff_data[:, :1],
        tiff_data[:1],
    ]
    del volume
    return [StackSource.from_stack(s) for s in stacks], expected


def test_sources_kinds(tmp_path: Path) -> None:
    sources, _ = _sources(tmp_path)
    assert [s.binding is not None for s in sources] == [True, True, False, False]
    assert sources[1].shape == (2, 3, 40, 50)
    restored = pickle.loads(pickle.dumps(sources))
    assert restored[0].binding is not None
