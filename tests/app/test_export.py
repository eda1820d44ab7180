from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr

from careamics_dask.app.demo import write_demo_data
from careamics_dask.app.export import compute_with_progress, export_epoch
from careamics_dask.config import DataConfig
from careamics_dask.factory import (
    TrainValData,
    create_dataset,
    create_train_dataset,
)

if TYPE_CHECKING:
    from pathlib import Path

    import numpy.typing as npt

    from careamics_dask.factory.dataset import CareamicsDataset


def read(group: Path, name: str) -> npt.NDArray[Any]:
    return np.asarray(zarr.open_array(group / name, mode="r")[...])


def attributes(group: Path) -> Any:
    return zarr.open_group(group, mode="r").attrs["careamics-dask-export"]


def training_dataset(tmp_path: Path, *, targets: bool) -> CareamicsDataset:
    store = write_demo_data(
        tmp_path / "data.zarr", n_samples=3, spatial=(48, 48), chunks=(16, 16)
    )
    config = DataConfig(
        mode="training",
        data_type="zarr",
        axes="SCYX",
        patching={"name": "stratified", "patch_size": [16, 16]},
        normalization={"name": "mean_std"},
        batch_size=5,
        seed=7,
        augmentations=[],
    )
    data = TrainValData(str(store), None, str(store) if targets else None)
    return create_train_dataset(config, data)


@pytest.mark.parametrize("targets", [False, True])
def test_export_matches_to_dask(tmp_path: Path, targets: bool) -> None:
    dataset = training_dataset(tmp_path, targets=targets)
    steps: list[tuple[int, int]] = []
    out = export_epoch(
        dataset,
        tmp_path / "out" / "epoch.zarr",
        epoch=2,
        on_progress=lambda done, total: steps.append((done, total)),
    )
    assert steps[-1][0] == steps[-1][1]
    expected = dataset.to_dask(2).compute()
    np.testing.assert_array_equal(read(out, "input"), expected)
    assert zarr.open_array(out / "input", mode="r").chunks[0] == dataset.batch_size
    if targets:
        np.testing.assert_array_equal(
            read(out, "target"), dataset.to_dask(2, target=True).compute()
        )
    else:
        assert not (out / "target").exists()
    table = dataset.patch_table(2)
    np.testing.assert_array_equal(read(out, "patches/coords"), table.coords)
    np.testing.assert_array_equal(read(out, "patches/sample_idx"), table.sample_idx)
    np.testing.assert_array_equal(read(out, "patches/data_idx"), table.data_idx)
    written = attributes(out)
    assert written["epoch"] == 2
    assert written["n_patches"] == len(dataset)
    assert DataConfig.model_validate(written["config"]) == dataset.config
    # a patch traced back through the table is the source's pixels, normalized
    row = table.row(3)
    y, x = row["coords"]
    source = read(tmp_path / "data.zarr", "images")
    raw = source[row["sample_idx"], :, y : y + 16, x : x + 16].astype(np.float32)
    normalization: Any = dataset.config.normalization
    means = np.asarray(normalization.input_means, np.float32)[:, None, None]
    stds = np.asarray(normalization.input_stds, np.float32)[:, None, None]
    np.testing.assert_allclose(
        read(out, "input")[3], (raw - means) / stds, rtol=1e-4, atol=1e-4
    )
    # no temporary folder is left next to the output
    assert sorted(p.name for p in out.parent.iterdir()) == ["epoch.zarr"]


def test_export_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    config = DataConfig(
        mode="validating",
        data_type="array",
        axes="SYX",
        patching={"name": "fixed_random", "patch_size": [8, 8]},
        normalization={"name": "none"},
        batch_size=4,
        seed=1,
    )
    dataset = create_dataset(
        config, np.arange(2 * 16 * 16, dtype="float32").reshape(2, 16, 16), None
    )
    out = tmp_path / "e.zarr"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_epoch(dataset, out)
    assert (out / "keep.txt").exists()
    export_epoch(dataset, out, overwrite=True)
    assert not (out / "keep.txt").exists()
    assert read(out, "input").shape == (8, 1, 8, 8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.zarr"]


def test_failed_export_leaves_nothing(tmp_path: Path) -> None:
    def explode(done: int, total: int) -> None:
        raise RuntimeError("stop")

    config = DataConfig(
        mode="validating",
        data_type="array",
        axes="SYX",
        patching={"name": "fixed_random", "patch_size": [8, 8]},
        normalization={"name": "none"},
        batch_size=4,
        seed=1,
    )
    dataset = create_dataset(config, np.ones((2, 16, 16), "float32"), None)
    with pytest.raises(RuntimeError, match="stop"):
        export_epoch(dataset, tmp_path / "e.zarr", on_progress=explode)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.distributed
def test_export_on_an_embedded_cluster(tmp_path: Path) -> None:
    from careamics_dask.feeding import get_client

    dataset = training_dataset(tmp_path, targets=False)
    with get_client(n_workers=1) as client:
        out = export_epoch(dataset, tmp_path / "e.zarr", client=client)
    np.testing.assert_array_equal(read(out, "input"), dataset.to_dask(0).compute())


def test_compute_with_progress_reports_every_group() -> None:
    from dask.delayed import delayed

    seen: list[tuple[int, int]] = []
    tasks = [delayed(abs)(-i) for i in range(70)]
    compute_with_progress(tasks, on_progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (70, 70)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
