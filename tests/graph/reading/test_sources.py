from __future__ import annotations

import pickle
from typing import TYPE_CHECKING

import numpy as np

from careamics_dask.graph.reading import pad_patch
from tests.graph.reading.helpers import mixed_sources as _sources

if TYPE_CHECKING:
    from pathlib import Path

IMAGE = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3)


def test_pad_patch_direct() -> None:
    region = IMAGE[:, 1:3, 1:3]
    np.testing.assert_array_equal(
        pad_patch((1, 1), (3, 3), region)[0], [[5, 6, 0], [8, 9, 0], [0, 0, 0]]
    )


def test_sources_kinds(tmp_path: Path) -> None:
    sources, _ = _sources(tmp_path)
    assert [s.binding is not None for s in sources] == [True, True, False, False]
    assert sources[1].shape == (2, 3, 40, 50)
    restored = pickle.loads(pickle.dumps(sources))
    assert restored[0].binding is not None
