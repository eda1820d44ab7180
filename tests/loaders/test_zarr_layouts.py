"""HCS plates, prediction outputs and draft v3 stores open (or fail) as they should."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

from careamics_dask import predict_to_zarr
from careamics_dask.config import DataConfig
from careamics_dask.errors import AxesError, UnsupportedSourceError
from careamics_dask.factory import TrainValData, create_train_dataset
from careamics_dask.loaders import open_image, open_images, reader_binding
from careamics_dask.loaders._zarr_layouts import prediction_members
from tests.loaders.writers import (
    FormatV04,
    write_image,
    write_plate_metadata,
    write_well_metadata,
)
from tests.predict.helpers import identity, pred_dataset, write_ome_zarr

if TYPE_CHECKING:
    from pathlib import Path

RNG = np.random.default_rng(23)


def write_plate(
    path: Path, wells: dict[str, list[np.ndarray]], *, channels: list[str]
) -> None:
    """An NGFF 0.4 HCS plate written by ome-zarr-py, one image per field."""
    root = zarr.open_group(path, mode="w", zarr_format=2)
    rows = sorted({w.split("/")[0] for w in wells})
    columns = sorted({w.split("/")[1] for w in wells})
    write_plate_metadata(root, rows, columns, list(wells), field_count=2)
    for well, images in wells.items():
        row, column = well.split("/")
        group = root.require_group(row).require_group(column)
        write_well_metadata(group, [{"path": str(i)} for i in range(len(images))])
        for index, image in enumerate(images):
            field = group.require_group(str(index))
            write_image(
                image,
                field,
                axes="cyx",
                scale_factors=[],
                fmt=FormatV04(),
                scale={"c": 1.0, "y": 1.0, "x": 1.0},
            )
            field.attrs["omero"] = {"channels": [{"label": c} for c in channels]}


def test_plate_opens_as_one_sample_per_field(tmp_path: Path) -> None:
    fields = {
        "A/1": [RNG.integers(0, 999, (2, 24, 20), dtype=np.uint16) for _ in range(2)],
        "B/3": [RNG.integers(0, 999, (2, 24, 20), dtype=np.uint16) for _ in range(2)],
    }
    write_plate(tmp_path / "plate.zarr", fields, channels=["dapi", "gfp"])
    stack = open_image(tmp_path / "plate.zarr", "")
    assert stack.dims == ("S", "C", "Y", "X")
    assert stack.shape == (4, 2, 24, 20)
    assert list(stack.coords["well"].values) == ["A/1", "A/1", "B/3", "B/3"]
    assert list(stack.coords["field"].values) == ["0", "1", "0", "1"]
    assert list(stack.coords["C"].values) == ["dapi", "gfp"]
    assert stack.attrs["original_axes"] == "SCYX"
    expected = np.stack([image for images in fields.values() for image in images])
    np.testing.assert_array_equal(stack.values, expected)


def test_plate_fields_of_different_shapes_open_one_stack_each(tmp_path: Path) -> None:
    small = RNG.integers(0, 9, (1, 8, 8), dtype=np.uint16)
    large = RNG.integers(0, 9, (1, 16, 8), dtype=np.uint16)
    write_plate(tmp_path / "p.zarr", {"A/1": [small, large]}, channels=["a"])
    stacks = open_images(tmp_path / "p.zarr", "")
    assert [s.shape for s in stacks] == [(1, 1, 8, 8), (1, 1, 16, 8)]
    assert [str(s.coords["field"].values[0]) for s in stacks] == ["0", "1"]
    assert reader_binding(stacks[0]) is not None
    np.testing.assert_array_equal(stacks[1].values[0], large)


def test_plate_without_wells_names_the_fix(tmp_path: Path) -> None:
    root = zarr.open_group(tmp_path / "p.zarr", mode="w", zarr_format=2)
    root.attrs["plate"] = {"version": "0.4", "wells": []}
    with pytest.raises(UnsupportedSourceError, match="non-empty 'wells'"):
        open_image(tmp_path / "p.zarr", "")


def test_prediction_root_opens_as_the_image_it_is(tmp_path: Path) -> None:
    data = RNG.integers(0, 4000, (2, 3, 20, 18)).astype(np.uint16)
    dataset = pred_dataset(data, "SCYX", patch=[16, 16], overlaps=[4, 4])
    predict_to_zarr(dataset, identity, tmp_path / "pred.zarr")
    stack = open_image(tmp_path / "pred.zarr", "")  # no axes needed
    assert stack.dims == ("S", "C", "Y", "X")
    assert stack.attrs["original_axes"] == "SCYX"
    np.testing.assert_array_equal(stack.values, data.astype(np.float32))
    with pytest.raises(AxesError, match="recorded by predict_to_zarr"):
        open_image(tmp_path / "pred.zarr", "ZCYX")


def test_prediction_root_of_ome_zarr_inputs_opens(tmp_path: Path) -> None:
    data = RNG.integers(0, 4000, (2, 20, 18)).astype(np.uint16)
    source = write_ome_zarr(
        tmp_path / "in.zarr",
        data,
        "cyx",
        scale=[1.0, 0.5, 0.25],
        chunks=(1, 16, 16),
        labels=["a", "b"],
    )
    dataset = pred_dataset(
        source, "CYX", patch=[16, 16], overlaps=[4, 4], data_type="zarr"
    )
    predict_to_zarr(dataset, identity, tmp_path / "pred.zarr")
    stack = open_image(tmp_path / "pred.zarr", "")
    assert stack.shape == (1, 2, 20, 18)
    assert list(stack.coords["C"].values) == ["a", "b"]
    assert stack.attrs["pixel_sizes"] == {"Y": 0.5, "X": 0.25}
    np.testing.assert_array_equal(stack.values[0], data.astype(np.float32))


def test_prediction_members_are_in_index_order(tmp_path: Path) -> None:
    root = zarr.open_group(tmp_path / "p.zarr", mode="w")
    root.attrs["careamics-dask"] = {"kind": "prediction"}
    for index in (0, 2, 10, 1):
        root.create_array(str(index), shape=(4,), dtype="f4")
    root.create_array("other", shape=(4,), dtype="f4")
    assert prediction_members(root) == ["0", "1", "2", "10"]
    assert prediction_members(zarr.open_group(tmp_path / "q.zarr", mode="w")) is None


def test_draft_v3_store_is_named_obsolete(tmp_path: Path) -> None:
    store = tmp_path / "draft.zarr"
    (store / "meta" / "root").mkdir(parents=True)
    protocol = "https://purl.org/zarr/spec/protocol/core/3.0"
    (store / "zarr.json").write_text(
        json.dumps(
            {
                "zarr_format": protocol,
                "metadata_encoding": protocol,
                "metadata_key_suffix": ".json",
                "extensions": [],
            }
        )
    )
    (store / "meta" / "root.group.json").write_text('{"attributes": {}}')
    with pytest.raises(UnsupportedSourceError, match="obsolete draft of Zarr v3"):
        open_image(store, "YX")


def test_a_plate_trains_with_the_axes_of_its_stack(tmp_path: Path) -> None:
    fields = {"A/1": [RNG.integers(1, 999, (2, 24, 20), dtype=np.uint16)] * 2}
    write_plate(tmp_path / "plate.zarr", fields, channels=["dapi", "gfp"])
    for axes in ("SCYX", "CYX", ""):
        assert open_image(tmp_path / "plate.zarr", axes).shape == (2, 2, 24, 20)
    with pytest.raises(AxesError, match="fields of HCS plate"):
        open_image(tmp_path / "plate.zarr", "ZYX")
    config = DataConfig(
        mode="training",
        data_type="zarr",
        axes="SCYX",
        patching={"name": "random", "patch_size": [16, 16]},
        normalization={"name": "mean_std"},
        batch_size=2,
    )
    source = tmp_path / "plate.zarr"
    dataset = create_train_dataset(config, TrainValData(source, source))
    assert dataset.batch(0).input.shape == (2, 2, 16, 16)
    means = config.normalization.input_means  # type: ignore[union-attr]
    assert means is not None
    image = fields["A/1"][0]
    np.testing.assert_allclose(means, image.reshape(2, -1).mean(axis=1), rtol=1e-5)
