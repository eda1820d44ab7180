"""A geometry maps canonical boxes onto a source's own axes and storage chunks."""

from __future__ import annotations

import numpy as np
import zarr

from careamics_dask.graph.reading.geometry import Geometry
from careamics_dask.loaders import open_image, reader_binding


def _geometry(data: np.ndarray, axes: str, chunks: tuple[int, ...]) -> Geometry:
    array = zarr.create_array({}, data=data, chunks=chunks)
    binding = reader_binding(open_image(array, axes))
    assert binding is not None
    return Geometry(binding)


def test_boxes_in_source_axes_and_their_chunks() -> None:
    data = np.arange(2 * 8 * 8 * 3, dtype=np.uint8).reshape(2, 8, 8, 3)  # S Y X C
    geometry = _geometry(data, "SYXC", (1, 4, 4, 3))
    assert not geometry.in_canonical_order
    assert geometry.channel_axis == 3
    regions, touched = geometry.box(1, ((2, 6), (0, 4)))
    assert regions == [(1, 2), (2, 6), (0, 4), (0, 3)]
    assert [index for index, _ in touched] == [(1, 0, 0, 0), (1, 1, 0, 0)]
    region = data[1:2, 2:6, 0:4, :]
    np.testing.assert_array_equal(
        geometry.canonical(region), np.moveaxis(region[0], -1, 0)
    )


def test_channels_kept_and_chunks_holding_them() -> None:
    data = np.zeros((2, 4, 8, 8), dtype=np.uint8)  # S C Y X
    geometry = _geometry(data, "SCYX", (1, 2, 8, 8))
    assert geometry.in_canonical_order
    assert geometry.kept_channels(frozenset({0, 1, 2, 3})) is None
    assert geometry.kept_channels(frozenset({3, 1})) == [1, 3]
    assert geometry.holds_any((0, 1, 0, 0), frozenset({3}))
    assert not geometry.holds_any((0, 0, 0, 0), frozenset({3}))
    assert geometry.direct_index(frozenset({2})) == (["S"], [[2]])
