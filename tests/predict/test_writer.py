"""The output store: written aside, journaled region by region, resumed, moved in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr

from careamics_dask.loaders import open_image
from careamics_dask.predict.layout import ATTRIBUTE, create_layout
from careamics_dask.predict.stitch import ChunkGrid, Region
from careamics_dask.predict.writer import (
    JOURNAL,
    MANIFEST,
    PredictionStore,
    partial_path,
)

if TYPE_CHECKING:
    from pathlib import Path

    from careamics_dask.predict.layout import ImageLayout

SHAPE = (2, 8, 12)  # S Y X
CHUNKS = (4, 4)


def _layout() -> ImageLayout:
    stack = open_image(np.zeros(SHAPE, np.uint16), axes="SYX")
    return create_layout(stack, 0, n_channels=1, spatial_chunks=CHUNKS)


def _grid() -> ChunkGrid:
    return ChunkGrid.create(SHAPE[1:], CHUNKS)


def _region(sample: int, band: int, first: int, stop: int, value: float) -> Region:
    width = (stop - first) * CHUNKS[1]
    data = np.full((1, CHUNKS[0], width), value, np.float32)
    return Region(
        data_idx=0,
        sample=sample,
        band=(band,),
        last=(first, stop),
        start=(band * CHUNKS[0], first * CHUNKS[1]),
        data=data,
    )


def _open(path: Path, **kwargs: object) -> tuple[PredictionStore, list[np.ndarray]]:
    store = PredictionStore(path, fingerprint="abc", **kwargs)  # type: ignore[arg-type]
    done = store.open([_grid()], [SHAPE[0]])
    store.prepare([_layout()])
    return store, done


def test_partial_path_is_a_sibling() -> None:
    assert partial_path("/data/out.zarr").as_posix() == "/data/out.zarr.partial"


def test_regions_are_written_journaled_and_committed(tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    store, done = _open(out)
    assert [d.shape for d in done] == [(2, 2, 3)]
    assert not done[0].any()
    store.write(_region(0, 0, 0, 3, 1.0))
    store.write(_region(1, 1, 1, 3, 2.0))
    store.flush()
    assert store.regions_written == 2
    journal = (partial_path(out) / JOURNAL).read_text().splitlines()
    assert sorted(journal) == ["0 0 0 0 3", "0 1 1 1 3"]
    assert not out.exists()
    path = store.commit({"arrays": ["0"]})
    assert path == out
    assert not partial_path(out).exists()
    assert not (out / JOURNAL).exists()
    assert not (out / MANIFEST).exists()
    root = zarr.open_group(out, mode="r")
    attributes: Any = dict(root.attrs)[ATTRIBUTE]
    assert attributes["complete"] is True
    assert attributes["arrays"] == ["0"]
    array = np.asarray(zarr.open_array(out, path="0", mode="r")[...])
    assert array.shape == SHAPE
    np.testing.assert_array_equal(array[0, :4], 1.0)
    np.testing.assert_array_equal(array[0, 4:], 0.0)
    np.testing.assert_array_equal(array[1, 4:, 4:], 2.0)
    np.testing.assert_array_equal(array[1, 4:, :4], 0.0)


def test_an_interrupted_store_resumes_from_its_journal(tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    store, _ = _open(out)
    store.write(_region(0, 1, 0, 2, 3.0))
    store.flush()
    store.close()
    with (partial_path(out) / JOURNAL).open("a") as journal:
        journal.write("0 1 0")  # a torn last line: its region is redone
    again, done = _open(out)
    assert again.resumed
    expected = np.zeros((2, 2, 3), bool)
    expected[0, 1, 0:2] = True
    np.testing.assert_array_equal(done[0], expected)
    again.close()


def test_another_runs_partial_store_is_not_resumed(tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    store, _ = _open(out)
    store.close()
    other = PredictionStore(out, fingerprint="other")
    with pytest.raises(ValueError, match="belongs to another run"):
        other.open([_grid()], [SHAPE[0]])
    fresh = PredictionStore(out, fingerprint="other", resume=False)
    done = fresh.open([_grid()], [SHAPE[0]])
    assert not fresh.resumed
    assert not done[0].any()
    fresh.close()


def test_existing_outputs_and_foreign_folders_are_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    out.mkdir()
    (out / "mine").write_text("keep")
    with pytest.raises(FileExistsError, match="expected a new path"):
        PredictionStore(out, fingerprint="abc").open([_grid()], [SHAPE[0]])
    other = tmp_path / "b.zarr"
    partial_path(other).mkdir()
    with pytest.raises(FileExistsError, match="not a partial prediction"):
        PredictionStore(other, fingerprint="abc").open([_grid()], [SHAPE[0]])
    assert (out / "mine").read_text() == "keep"


def test_overwrite_swaps_the_old_output_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    first, _ = _open(out)
    first.write(_region(0, 0, 0, 3, 5.0))
    first.commit({})
    second, _ = _open(out, overwrite=True)
    # until the commit, the old output is still there
    assert np.asarray(zarr.open_array(out, path="0", mode="r")[0, 0, 0]) == 5.0
    second.commit({})
    assert np.asarray(zarr.open_array(out, path="0", mode="r")[0, 0, 0]) == 0.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"]


def test_a_resumed_store_of_another_shape_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    store, _ = _open(out)
    store.close()
    again = PredictionStore(out, fingerprint="abc")
    again.open([_grid()], [SHAPE[0]])
    stack = open_image(np.zeros(SHAPE, np.uint16), axes="SYX")
    wider = create_layout(stack, 0, n_channels=2, spatial_chunks=CHUNKS)
    with pytest.raises(ValueError, match="did the model's channel count change"):
        again.prepare([wider])
    again.close()


def test_a_write_error_surfaces_on_flush_and_is_not_journaled(tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    store, _ = _open(out)
    unknown = Region(
        data_idx=1,  # no such image stack in this store
        sample=0,
        band=(0,),
        last=(0, 3),
        start=(0, 0),
        data=np.zeros((1, 4, 12), np.float32),
    )
    store.write(unknown)
    with pytest.raises(KeyError):
        store.flush()
    with pytest.raises(KeyError):
        store.write(_region(0, 0, 0, 3, 1.0))  # the first error again
    store.close()
    assert (partial_path(out) / JOURNAL).read_text() == ""
