"""Sources, tables and NumPy reference patches shared by the reading tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
import tifffile
import zarr

from careamics_dask.graph.reading import StackSource
from careamics_dask.loaders import open_image
from careamics_dask.patching import PatchTable

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["expected_patches", "mixed_sources", "random_rows", "zarr_source"]


def mixed_sources(tmp_path: Path) -> tuple[list[StackSource], list[Any]]:
    """Write a TIFF and a Zarr store; return four sources and their arrays."""
    rng = np.random.default_rng(0)
    tiff_data = rng.integers(0, 4000, (3, 2, 70, 90), dtype=np.uint16)  # T C Y X
    tifffile.imwrite(
        tmp_path / "a.tif", tiff_data, tile=(32, 32), metadata={"axes": "TCYX"}
    )
    zarr_data = rng.random((2, 40, 50, 3), dtype=np.float32)  # S Y X C
    group = zarr.open_group(tmp_path / "b.zarr", mode="w")
    group.create_array("img", data=zarr_data, chunks=(1, 16, 16, 3))
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
    return [StackSource.from_stack(s) for s in stacks], expected


def zarr_source(path: Path, data: Any, axes: str, **kwargs: Any) -> StackSource:
    """Write ``data`` as array ``a`` of a Zarr store; return its source."""
    zarr.create_array(store=str(path), name="a", data=data, **kwargs)
    source = StackSource.from_stack(open_image(path, axes))
    assert source.binding is not None
    return source


def random_rows(
    n: int, shape: tuple[int, ...], patch: int, seed: int = 0
) -> PatchTable:
    """Patches anywhere, some leaving the image (zero-padded), some inside."""
    rng = np.random.default_rng(seed)
    spatial = np.array(shape[2:])
    coords = rng.integers(-patch // 2, spatial - patch // 2, (n, len(spatial)))
    return PatchTable.from_columns(
        data_idx=np.zeros(n, np.int64),
        sample_idx=rng.integers(0, shape[0], n),
        coords=coords,
        patch_size=np.full((n, len(spatial)), patch),
    )


def expected_patches(
    canonical: np.ndarray, rows: PatchTable, channels: list[int] | None
) -> np.ndarray:
    """Zero-padded patches cut with NumPy from the whole canonical stack."""
    patch = int(rows.patch_size[0, 0])
    ndim = rows.coords.shape[1]
    pad = [(0, 0), (0, 0), *([(patch, patch)] * ndim)]
    padded = np.pad(canonical.astype(np.float32), pad)
    out = []
    for s, c in zip(rows.sample_idx.tolist(), rows.coords.tolist(), strict=True):
        index = tuple(slice(a + patch, a + 2 * patch) for a in c)
        region = padded[(s, slice(None), *index)]
        out.append(region if channels is None else region[channels])
    return np.stack(out)
