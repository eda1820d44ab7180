from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr
from zarr.storage import LocalStore

from careamics_dask import predict_to_zarr
from careamics_dask.axes import from_canonical, to_canonical
from careamics_dask.config import DataConfig
from careamics_dask.factory import create_dataset
from careamics_dask.predict.writer import JOURNAL, partial_path
from tests.predict.helpers import (
    CountingModel,
    affine,
    attributes,
    identity,
    pred_dataset,
    read_output,
    snapshot,
    write_ome_zarr,
    write_zarr,
)

if TYPE_CHECKING:
    from pathlib import Path

RNG = np.random.default_rng(17)


def images(*shape: int) -> np.ndarray:
    return RNG.integers(0, 4000, shape).astype(np.uint16)


# axes, shape, tile, overlaps, chunks: 2D, 3D, samples, channels, S and T, odd
# sizes, images smaller than a tile, chunks smaller and larger than the crops
CASES = [
    ("YX", (37, 53), [16, 16], [4, 6], None),
    ("YX", (10, 12), [16, 16], [4, 4], None),
    ("SYX", (3, 40, 33), [16, 16], [8, 2], (7, 9)),
    ("ZYX", (9, 21, 26), [4, 8, 8], [2, 2, 4], (3, 5, 64)),
    ("SCYX", (2, 3, 30, 31), [16, 16], [4, 4], (16, 16)),
    ("STYX", (2, 3, 19, 20), [8, 8], [2, 2], None),
    ("YXT", (18, 17, 3), [8, 8], [0, 2], (5, 5)),
    ("TCZYX", (2, 2, 6, 13, 12), [4, 8, 8], [2, 4, 0], (2, 6, 6)),
]


@pytest.mark.parametrize(("axes", "shape", "tile", "overlaps", "chunks"), CASES)
def test_identity_reproduces_the_input_exactly(
    tmp_path: Path,
    axes: str,
    shape: tuple[int, ...],
    tile: list[int],
    overlaps: list[int],
    chunks: tuple[int, ...] | None,
) -> None:
    data = images(*shape)
    dataset = pred_dataset(data, axes, patch=tile, overlaps=overlaps, batch_size=3)
    out = tmp_path / "out.zarr"
    summary = predict_to_zarr(dataset, identity, out, chunks=chunks)
    assert summary.n_tiles == summary.n_predicted == len(dataset)
    result = read_output(out)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, data.astype(np.float32))
    attrs = attributes(out)
    assert attrs["axes"] == axes
    assert attrs["original_shape"] == list(shape)
    assert not partial_path(out).exists()
    root = attributes(out, "")
    assert root["complete"] is True
    assert root["arrays"] == ["0"]
    assert not (out / JOURNAL).exists()


@pytest.mark.parametrize("model", [identity, affine])
@pytest.mark.parametrize("name", ["mean_std", "min_max"])
def test_denormalized_affine_model_matches_whole_image(
    tmp_path: Path, model: Any, name: str
) -> None:
    data = images(2, 2, 27, 35)
    dataset = pred_dataset(
        data, "SCYX", patch=[16, 16], overlaps=[6, 4], normalization={"name": name}
    )
    predict_to_zarr(dataset, model, tmp_path / "o.zarr")
    norm = dataset.normalizer
    expected: Any = norm.denormalize(model(norm.normalize(data.astype(np.float32))[0]))
    atol = 4 * float(np.finfo(np.float32).eps) * float(data.max())  # float32 round trip
    result = read_output(tmp_path / "o.zarr")
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=atol)
    if model is identity:
        np.testing.assert_allclose(result, data, rtol=1e-6, atol=atol)


def test_target_statistics_denormalize_as_the_reference(tmp_path: Path) -> None:
    data = images(2, 24, 24)
    dataset = pred_dataset(
        data,
        "SYX",
        patch=[16, 16],
        overlaps=[4, 4],
        normalization={
            "name": "mean_std",
            "input_means": [100.0],
            "input_stds": [10.0],
            "target_means": [5.0],
            "target_stds": [2.0],
        },
    )
    predict_to_zarr(dataset, identity, tmp_path / "o.zarr")
    normalized = (data - 100.0) / (10.0 + 1e-6)
    expected = normalized * (2.0 + 1e-6) + 5.0
    np.testing.assert_allclose(read_output(tmp_path / "o.zarr"), expected, rtol=1e-5)


def test_whole_image_patching(tmp_path: Path) -> None:
    data = images(3, 2, 20, 24)
    dataset = pred_dataset(data, "SCYX", batch_size=2)
    predict_to_zarr(dataset, identity, tmp_path / "o.zarr", chunks=(8, 8))
    np.testing.assert_array_equal(read_output(tmp_path / "o.zarr"), data)


def test_several_image_stacks_of_different_shapes(tmp_path: Path) -> None:
    first, second = images(2, 30, 20), images(1, 17, 41)
    dataset = pred_dataset([first, second], "SYX", patch=[8, 8], overlaps=[2, 2])
    summary = predict_to_zarr(dataset, affine, tmp_path / "o.zarr")
    assert summary.arrays == ("0", "1")
    for name, data in zip(summary.arrays, (first, second), strict=True):
        np.testing.assert_allclose(
            read_output(tmp_path / "o.zarr", name), affine(data.astype(np.float32))
        )


def test_model_with_more_channels_gains_a_channel_axis(tmp_path: Path) -> None:
    data = images(2, 3, 25, 22)  # T S Y X: no C in the source

    def two_channels(batch: np.ndarray) -> np.ndarray:
        return np.concatenate([batch, 2 * batch], axis=1)

    dataset = pred_dataset(data, "TSYX", patch=[8, 8], overlaps=[2, 2])
    predict_to_zarr(dataset, two_channels, tmp_path / "o.zarr")
    result = read_output(tmp_path / "o.zarr")
    assert result.shape == (2, 3, 2, 25, 22)
    attrs = attributes(tmp_path / "o.zarr")
    assert attrs["axes"] == "TSCYX"
    np.testing.assert_array_equal(result[:, :, 0], data)
    np.testing.assert_array_equal(result[:, :, 1], 2 * data.astype(np.float32))


def test_model_with_fewer_channels_keeps_the_source_channel_axis(
    tmp_path: Path,
) -> None:
    data = images(2, 22, 19, 3)  # S Y X C

    def mean_channel(batch: np.ndarray) -> np.ndarray:
        return np.asarray(batch.mean(axis=1, keepdims=True))

    dataset = pred_dataset(data, "SYXC", patch=[8, 8], overlaps=[4, 2])
    predict_to_zarr(dataset, mean_channel, tmp_path / "o.zarr")
    result = read_output(tmp_path / "o.zarr")
    assert result.shape == (2, 22, 19, 1)
    expected = data.astype(np.float32).mean(axis=-1, keepdims=True)
    np.testing.assert_allclose(result, expected, rtol=1e-6)


def test_selected_channels_are_predicted_and_recorded(tmp_path: Path) -> None:
    data = images(2, 3, 20, 20)
    dataset = pred_dataset(
        data,
        "SCYX",
        patch=[8, 8],
        normalization={"name": "mean_std", "per_channel": True},
        channels=[0, 2],
    )
    predict_to_zarr(dataset, identity, tmp_path / "o.zarr")
    result = read_output(tmp_path / "o.zarr")
    atol = 4 * float(np.finfo(np.float32).eps) * float(data.max())
    np.testing.assert_allclose(result, data[:, [0, 2]], rtol=1e-6, atol=atol)
    assert attributes(tmp_path / "o.zarr")["input_channels"] == ["0", "2"]


def test_zarr_input_unchanged_and_each_chunk_written_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = images(3, 45, 38)
    source = write_zarr(tmp_path / "in.zarr", data, (1, 16, 16))
    before = snapshot(source)
    writes: list[str] = []
    original = LocalStore.set

    async def recording_set(self: LocalStore, key: str, value: Any) -> None:
        writes.append(f"{self.root}/{key}")
        await original(self, key, value)

    monkeypatch.setattr(LocalStore, "set", recording_set)
    dataset = pred_dataset(
        str(source), "SYX", patch=[16, 16], overlaps=[4, 4], data_type="zarr"
    )
    out = tmp_path / "out.zarr"
    predict_to_zarr(dataset, affine, out, write_threads=3)
    np.testing.assert_allclose(read_output(out), affine(data.astype(np.float32)))
    assert snapshot(source) == before
    chunk_writes = [w for w in writes if "/c/" in w]
    assert not [w for w in writes if str(source) in w]
    assert len(chunk_writes) == len(set(chunk_writes))
    # input chunks (1, 16, 16) are followed: 3 samples x 3 x 3 chunks
    assert len(chunk_writes) == 3 * 3 * 3
    assert zarr.open_array(out, path="0").chunks == (1, 16, 16)


def test_ome_zarr_input_gives_ome_zarr_output(tmp_path: Path) -> None:
    data = images(2, 2, 20, 18)
    source = write_ome_zarr(
        tmp_path / "in.ome.zarr",
        data,
        "tcyx",
        scale=[1.0, 1.0, 0.5, 0.25],
        chunks=(1, 1, 10, 10),
        labels=["dapi", "gfp"],
    )
    dataset = pred_dataset(
        str(source), "TCYX", patch=[8, 8], overlaps=[2, 2], data_type="zarr"
    )
    out = tmp_path / "out.zarr"
    summary = predict_to_zarr(dataset, identity, out)
    assert summary.arrays == ("0/0",)
    np.testing.assert_array_equal(read_output(out, "0/0"), data)
    ome = attributes(out, "0", "ome")
    assert ome["version"] == "0.5"
    (multiscale,) = ome["multiscales"]
    assert [a["name"] for a in multiscale["axes"]] == ["t", "c", "y", "x"]
    assert multiscale["axes"][2] == {
        "name": "y",
        "type": "space",
        "unit": "micrometer",
    }
    transform = multiscale["datasets"][0]["coordinateTransformations"][0]
    assert transform == {"type": "scale", "scale": [1.0, 1.0, 0.5, 0.25]}
    assert ome["omero"]["channels"] == [{"label": "dapi"}, {"label": "gfp"}]
    array: Any = zarr.open_array(out, path="0/0", mode="r")
    assert array.metadata.dimension_names == ("t", "c", "y", "x")
    attrs = attributes(out, "0/0")
    assert attrs["pixel_sizes"] == {"Y": 0.5, "X": 0.25}
    assert attrs["source"].endswith("in.ome.zarr")
    # the output reads back through the OME-Zarr loader
    from careamics_dask import open_image

    stack = open_image(str(out / "0"), axes="", data_type="zarr")
    assert stack.attrs["pixel_sizes"] == {"Y": 0.5, "X": 0.25}
    np.testing.assert_array_equal(stack.values[:, :, :, :], to_canonical(data, "TCYX"))


def test_existing_output_is_kept_unless_overwrite(tmp_path: Path) -> None:
    data = images(20, 20)
    out = tmp_path / "o.zarr"
    predict_to_zarr(pred_dataset(data, "YX", patch=[8, 8]), identity, out)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        predict_to_zarr(pred_dataset(data, "YX", patch=[8, 8]), affine, out)
    np.testing.assert_array_equal(read_output(out), data)
    predict_to_zarr(pred_dataset(data, "YX", patch=[8, 8]), affine, out, overwrite=True)
    np.testing.assert_allclose(read_output(out), affine(data.astype(np.float32)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.zarr"]


def test_resume_predicts_only_the_missing_regions(tmp_path: Path) -> None:
    data = images(3, 48, 40)
    out = tmp_path / "o.zarr"
    first = CountingModel(affine, fail_after=4)
    with pytest.raises(RuntimeError, match="on purpose"):
        predict_to_zarr(
            pred_dataset(data, "SYX", patch=[16, 16], overlaps=[4, 4]),
            first,
            out,
            prefetch=2,
            chunks=(12, 40),
        )
    assert not out.exists()
    journal = (partial_path(out) / JOURNAL).read_text().splitlines()
    assert journal  # some regions were finished before the failure
    dataset = pred_dataset(data, "SYX", patch=[16, 16], overlaps=[4, 4])
    second = CountingModel(affine)
    summary = predict_to_zarr(dataset, second, out, prefetch=2, chunks=(12, 40))
    assert summary.resumed
    assert second.tiles == summary.n_predicted < len(dataset)
    assert first.tiles + second.tiles <= len(dataset) + dataset.batch_size * 2
    # tiles of the finished regions were not predicted again
    first_tile = first.inputs[0][0]
    assert not any(
        (batch == first_tile).all(axis=(1, 2, 3)).any() for batch in second.inputs
    )
    np.testing.assert_allclose(read_output(out), affine(data.astype(np.float32)))
    assert not partial_path(out).exists()


def test_a_partial_store_of_another_run_is_not_resumed(tmp_path: Path) -> None:
    data = images(2, 32, 32)
    out = tmp_path / "o.zarr"
    with pytest.raises(RuntimeError):
        predict_to_zarr(
            pred_dataset(data, "SYX", patch=[16, 16], batch_size=2),
            CountingModel(fail_after=1),
            out,
        )
    other = pred_dataset(data + 1, "SYX", patch=[16, 16], batch_size=2)
    with pytest.raises(ValueError, match="resume=False"):
        predict_to_zarr(other, identity, out)
    predict_to_zarr(other, identity, out, resume=False)
    np.testing.assert_array_equal(read_output(out), data + 1)


def test_torn_journal_line_is_redone(tmp_path: Path) -> None:
    data = images(2, 32, 32)
    out = tmp_path / "o.zarr"
    with pytest.raises(RuntimeError):
        predict_to_zarr(
            pred_dataset(data, "SYX", patch=[16, 16], batch_size=2),
            CountingModel(fail_after=3),
            out,
            chunks=(16, 16),
        )
    with (partial_path(out) / JOURNAL).open("a") as journal:
        journal.write("1 0 1")  # a crash in the middle of an append
    model = CountingModel()
    predict_to_zarr(
        pred_dataset(data, "SYX", patch=[16, 16], batch_size=2),
        model,
        out,
        chunks=(16, 16),
    )
    assert 0 < model.tiles < 8
    np.testing.assert_array_equal(read_output(out), data)


def test_wrong_inputs_are_refused(tmp_path: Path) -> None:
    data = images(2, 32, 32)
    dataset = pred_dataset(data, "SYX", patch=[16, 16])
    with pytest.raises(ValueError, match="same tiles"):
        predict_to_zarr(dataset, lambda x: x[:, :, :8], tmp_path / "a.zarr")
    with pytest.raises(ValueError, match="local folder"):
        predict_to_zarr(dataset, identity, "s3://bucket/out.zarr")
    with pytest.raises(ValueError, match="expected 'client' or 'workers'"):
        predict_to_zarr(dataset, identity, tmp_path / "b.zarr", run_on="gpu")  # type: ignore[arg-type]
    assert not partial_path(tmp_path / "b.zarr").exists()
    with pytest.raises(ValueError, match="distributed client"):
        predict_to_zarr(dataset, identity, tmp_path / "c.zarr", run_on="workers")
    assert not partial_path(tmp_path / "c.zarr").exists()
    config = DataConfig(
        mode="validating",
        data_type="array",
        axes="SYX",
        patching={"name": "fixed_random", "patch_size": [16, 16]},
        normalization={"name": "none"},
    )
    with pytest.raises(ValueError, match="tiled or whole"):
        predict_to_zarr(
            create_dataset(config, data, None), identity, tmp_path / "d.zarr"
        )
    source = write_zarr(tmp_path / "in.zarr", data, (1, 16, 16))
    zarr_dataset = pred_dataset(str(source), "SYX", patch=[16, 16], data_type="zarr")
    with pytest.raises(ValueError, match="overlaps the input"):
        predict_to_zarr(zarr_dataset, identity, source / "pred.zarr")


def test_partial_path_holding_something_else_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "o.zarr"
    partial_path(out).mkdir()
    (partial_path(out) / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not a partial prediction"):
        predict_to_zarr(pred_dataset(images(8, 8), "YX"), identity, out)
    assert (partial_path(out) / "mine.txt").read_text() == "keep"


def test_progress_bar_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = predict_to_zarr(
        pred_dataset(images(2, 20, 20), "SYX", patch=[8, 8]),
        identity,
        tmp_path / "o.zarr",
        progress=True,
    )
    assert "tiles" in capsys.readouterr().err
    assert summary.describe().startswith("wrote 1 prediction(s) to ")
    assert "18 of 18 tiles predicted" in summary.describe()
    assert json.loads(json.dumps(summary.regions_written)) > 0


def test_restored_output_matches_from_canonical(tmp_path: Path) -> None:
    data = images(3, 2, 11, 14)  # T C Y X
    dataset = pred_dataset(data, "TCYX", patch=[8, 8], overlaps=[2, 2])
    predict_to_zarr(dataset, affine, tmp_path / "o.zarr")
    canonical = affine(to_canonical(data, "TCYX").astype(np.float32))
    expected = from_canonical(canonical, "TCYX", data.shape)
    np.testing.assert_allclose(read_output(tmp_path / "o.zarr"), expected)
