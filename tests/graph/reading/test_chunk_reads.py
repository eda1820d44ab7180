from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from careamics_dask.graph.reading import PatchReader, StackSource
from careamics_dask.loaders import open_image

if TYPE_CHECKING:
    from pathlib import Path

DATA = np.random.default_rng(0).integers(0, 60000, (3, 37, 45), dtype=np.uint16)


def _reader(path: Path, **kwargs: Any) -> Any:
    zarr.create_array(
        store=str(path), name="a", data=DATA, chunks=(1, 16, 16), **kwargs
    )
    stack = open_image(path, "SYX")
    source = StackSource.from_stack(stack)
    assert source.binding is not None
    return source, source.binding.reader


def test_patch_reader_uses_the_decoder(tmp_path: Path) -> None:
    source, _ = _reader(tmp_path / "d.zarr")
    reader = PatchReader([source], backend="zarr")
    n = 6
    coords = np.array([[0, 0], [10, 10], [20, 30], [29, 37], [-3, -3], [5, 40]])
    read = reader.prefetch(
        np.zeros(n, np.int64), np.ones(n, np.int64), coords, np.full((n, 2), 8)
    )
    assert read == len(reader._chunks)
    assert reader._decoders[0] is not None
    for c in coords.tolist():
        patch = reader.patch(0, 1, c, (8, 8))
        lo = np.clip(c, 0, None)
        hi = np.clip(np.array(c) + 8, 0, DATA.shape[1:])
        inside = DATA[1, lo[0] : hi[0], lo[1] : hi[1]]
        off = lo - np.array(c)
        np.testing.assert_array_equal(
            patch[
                0, off[0] : off[0] + inside.shape[0], off[1] : off[1] + inside.shape[1]
            ],
            inside,
        )


def test_sample_and_time_axes_with_channels_last(tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(0, 999, (2, 3, 20, 24, 2)).astype("u2")
    zarr.create_array(
        store=str(tmp_path / "d.zarr"), name="a", data=data, chunks=(1, 2, 8, 8, 2)
    )
    source = StackSource.from_stack(open_image(tmp_path / "d.zarr", "STYXC"))
    assert source.shape == (6, 2, 20, 24)
    reader = PatchReader([source])
    for sample in range(6):
        s, t = divmod(sample, 3)
        coords = (sample, 2 * sample)
        reader.prefetch(
            np.zeros(1, np.int64),
            np.array([sample]),
            np.array([coords]),
            np.array([[10, 9]]),
        )
        patch = reader.patch(0, sample, coords, (10, 9))
        want = np.moveaxis(data[s, t], -1, 0)[
            :, sample : sample + 10, 2 * sample : 2 * sample + 9
        ]
        np.testing.assert_array_equal(patch[:, :, : want.shape[2]], want)
        assert not patch[:, :, want.shape[2] :].any()
