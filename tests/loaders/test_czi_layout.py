from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from careamics_dask.errors import (
    UnsupportedSourceError,
)

pyczi = pytest.importorskip("pylibCZIrw.czi")

if TYPE_CHECKING:
    from pathlib import Path


pytestmark = pytest.mark.czi

Tile = tuple[int, tuple[int, int], Any]  # scene, (x, y), data (T, Z, C, Y, X)


class _FakeCzi:
    """A CZI reader's metadata for a file without scenes (the writer cannot make one)."""

    def __init__(self) -> None:
        self.total_bounding_box = {
            "T": (0, 1),
            "Z": (0, 1),
            "C": (0, 1),
            "X": (5, 25),
            "Y": (2, 12),
        }
        self.scenes_bounding_rectangle: dict[int, Any] = {}
        self.total_bounding_rectangle = (5, 2, 20, 10)
        self.pixel_types = {0: "Gray8"}
        self.raw_metadata = "<ImageDocument/>"

    def enumerate_subblocks_subset(self, visit: Any, **kwargs: Any) -> None:
        return None


def test_file_without_scenes_is_one_stack(tmp_path: Path) -> None:
    from careamics_dask.loaders._czi_layout import read_layouts as _layouts

    path = tmp_path / "noscene.czi"
    path.write_bytes(b"")
    layouts, _ = _layouts(_FakeCzi(), path, None, "SCYX")
    assert [(lay.scene, lay.rect, lay.shape) for lay in layouts] == [
        (None, (5, 2, 20, 10), (1, 1, 10, 20))
    ]
    assert layouts[0].array_name == ""
    with pytest.raises(UnsupportedSourceError, match="no scenes"):
        _layouts(_FakeCzi(), path, 0, "SCYX")
