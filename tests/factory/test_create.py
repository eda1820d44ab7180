from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dask
import numpy as np
import pytest
import zarr

from careamics_dask.config import DataConfig, MeanStdConfig
from careamics_dask.errors import DataPairError
from careamics_dask.factory import (
    PredData,
    TrainValData,
    TrainValSplitData,
    UNetConstraints,
    create_dataset,
    create_pred_dataset,
    create_train_dataset,
    create_train_val_datasets,
    create_val_split_datasets,
)
from careamics_dask.testing import count_region_reads

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def config(mode: str = "training", **kwargs: Any) -> DataConfig:
    patching = {
        "training": {"name": "stratified", "patch_size": [16, 16]},
        "validating": {"name": "fixed_random", "patch_size": [16, 16]},
        "predicting": {"name": "tiled", "patch_size": [16, 16], "overlaps": [4, 4]},
    }[mode]
    values: dict[str, Any] = {
        "mode": mode,
        "data_type": "array",
        "axes": "SYX",
        "patching": patching,
        "normalization": {"name": "mean_std"},
        "batch_size": 4,
        "seed": 7,
    }
    values.update(kwargs)
    return DataConfig(**values)


RNG = np.random.default_rng(3)
IMAGES = RNG.integers(0, 1000, (3, 48, 40)).astype(np.uint16)
TARGETS = (IMAGES * 2 + 1).astype(np.float32)


class ComputeCounter:
    """A synchronous scheduler that counts the graphs it computes."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, dsk: Any, keys: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return dask.get(dsk, keys, **kwargs)  # type: ignore[attr-defined]


@pytest.fixture
def counter() -> Iterator[ComputeCounter]:
    counting = ComputeCounter()
    with dask.config.set(scheduler=counting):
        yield counting


def test_train_dataset_statistics_match_numpy(counter: ComputeCounter) -> None:
    cfg = config()
    dataset = create_train_dataset(cfg, TrainValData(IMAGES, IMAGES, TARGETS, TARGETS))
    assert counter.calls <= 1
    norm = cfg.normalization
    assert isinstance(norm, MeanStdConfig)
    assert norm.input_means is not None
    assert norm.input_stds is not None
    assert norm.target_means is not None
    np.testing.assert_allclose(norm.input_means, [IMAGES.mean()], rtol=1e-6)
    np.testing.assert_allclose(norm.input_stds, [IMAGES.std()], rtol=1e-6)
    np.testing.assert_allclose(norm.target_means, [TARGETS.mean()], rtol=1e-6)
    assert len(dataset) > 0


def test_construction_with_statistics_reads_no_pixel(
    tmp_path: Path, counter: ComputeCounter
) -> None:
    zarr.open_group(tmp_path / "d.zarr", mode="w").create_array(
        "a", data=IMAGES, chunks=(1, 16, 16)
    )
    cfg = config(
        data_type="zarr",
        normalization={"name": "mean_std", "input_means": [1.0], "input_stds": [2.0]},
    )
    with count_region_reads() as reads:
        dataset = create_train_dataset(cfg, TrainValSplitData(tmp_path / "d.zarr", 2))
        graph = dataset.to_dask(epoch=0)
    assert counter.calls == 0
    assert reads.count == 0
    assert graph.shape == (len(dataset), 1, 16, 16)


def test_tasks_grow_with_batches_not_patches() -> None:
    sizes = {}
    for batch_size in (2, 8):
        cfg = config(normalization={"name": "none"}, batch_size=batch_size)
        dataset = create_train_dataset(cfg, TrainValSplitData(IMAGES, 2))
        graph = dict(dataset.to_dask(epoch=1).__dask_graph__())
        sizes[batch_size] = (len(graph), dataset.n_batches(), len(dataset))
    for n_tasks, n_batches, _ in sizes.values():
        assert n_tasks <= 4 * n_batches + 4
    assert sizes[2][0] > 3 * sizes[8][0] // 2


@pytest.mark.parametrize("mode", ["training", "validating"])
def test_getitem_batch_and_to_dask_agree(mode: str) -> None:
    cfg = config(mode, normalization={"name": "min_max"})
    if mode == "training":
        dataset = create_train_dataset(
            cfg, TrainValData(IMAGES, IMAGES, TARGETS, TARGETS)
        )
    else:
        dataset = create_dataset(cfg, IMAGES, TARGETS)
    dataset.set_epoch(2)
    lazy = dataset.to_dask(epoch=2).compute()
    lazy_target = dataset.to_dask(epoch=2, target=True).compute()
    for b in range(dataset.n_batches()):
        batch = dataset.batch(b, epoch=2)
        np.testing.assert_array_equal(batch.input, lazy[batch.indices])
        assert batch.target is not None
        np.testing.assert_array_equal(batch.target, lazy_target[batch.indices])
        for j, index in enumerate(batch.indices):
            region, target = dataset[int(index)]
            np.testing.assert_array_equal(region.data, batch.input[j])
            np.testing.assert_array_equal(target.data, batch.target[j])
            assert region.region_spec == batch.specs.row(j)


def test_patches_equal_direct_numpy() -> None:
    cfg = config("validating", normalization={"name": "none"})
    dataset = create_dataset(cfg, IMAGES, TARGETS)
    table = dataset.patch_table()
    values = dataset.to_dask().compute()
    targets = dataset.to_dask(target=True).compute()
    for i in range(len(table)):
        s = int(table.sample_idx[i])
        y, x = table.coords[i]
        np.testing.assert_array_equal(values[i, 0], IMAGES[s, y : y + 16, x : x + 16])
        np.testing.assert_array_equal(targets[i, 0], TARGETS[s, y : y + 16, x : x + 16])


def test_augmentations_only_in_training_and_on_both() -> None:
    cfg = config(normalization={"name": "none"})
    dataset = create_train_dataset(cfg, TrainValData(IMAGES, IMAGES, IMAGES, IMAGES))
    batch = dataset.batch(0, epoch=0)
    assert batch.target is not None
    np.testing.assert_array_equal(batch.input, batch.target)
    table = batch.specs
    raw = np.stack(
        [
            IMAGES[s, y : y + 16, x : x + 16]
            for s, (y, x) in zip(table.sample_idx, table.coords, strict=True)
        ]
    )[:, None]
    assert not np.array_equal(batch.input, raw) or len(batch) < 3
    val = create_dataset(cfg.convert_mode("validating"), IMAGES, None)
    vb = val.batch(0)
    raw_val = np.stack(
        [
            IMAGES[s, y : y + 16, x : x + 16]
            for s, (y, x) in zip(vb.specs.sample_idx, vb.specs.coords, strict=True)
        ]
    )[:, None]
    np.testing.assert_array_equal(vb.input, raw_val)


def test_val_split_disjoint_and_sized() -> None:
    cfg = config(normalization={"name": "none"})
    train, val = create_val_split_datasets(
        cfg, TrainValSplitData(IMAGES, 3), rng=np.random.default_rng(0)
    )
    assert len(val) == 3
    assert val.config.mode == "validating"
    vtable = val.patch_table()
    for epoch in range(5):
        table = train.patch_table(epoch)
        for v in range(len(vtable)):
            same = table.sample_idx == vtable.sample_idx[v]
            overlap = np.all(np.abs(table.coords[same] - vtable.coords[v]) < 16, axis=1)
            assert not overlap.any()


def test_train_val_datasets_reuse_statistics() -> None:
    cfg = config()
    train, val = create_train_val_datasets(cfg, TrainValData(IMAGES, IMAGES[:1]))
    assert val.config.normalization == cfg.normalization
    assert val.config.patching.name == "fixed_random"
    assert val.plan.augmentations == ()
    assert train.plan.augmentations


def test_pred_dataset_tiles_and_training_config() -> None:
    pred = create_pred_dataset(config("predicting"), PredData(IMAGES))
    (region,) = pred[0]
    assert {"crop_coords", "crop_size", "stitch_coords"} <= set(region.region_spec)
    assert region.data.shape == (1, 16, 16)
    whole = create_pred_dataset(config(), PredData(IMAGES))
    assert whole.config.patching.name == "whole"
    assert len(whole) == 3


# --- bad input, raised at construction --------------------------------------------


def test_target_shape_disagrees() -> None:
    with pytest.raises(DataPairError, match="differ in samples or spatial shape"):
        create_train_dataset(config(), TrainValSplitData(IMAGES, 2, TARGETS[:, :40]))


def test_channel_out_of_range() -> None:
    cfg = config(axes="SCYX", channels=[2])
    with pytest.raises(
        ValueError, match="Channel index 2 is out of bounds for data with 2 channels"
    ):
        create_train_dataset(cfg, TrainValSplitData(np.zeros((1, 2, 32, 32)), 1))


def test_image_smaller_than_patch() -> None:
    with pytest.raises(ValueError, match="Not all images sizes are greater or equal"):
        create_train_dataset(config(), TrainValSplitData(np.zeros((1, 8, 32)), 1))


def test_wrong_mode() -> None:
    with pytest.raises(
        ValueError, match="configured for validating cannot be used for training"
    ):
        create_train_dataset(config("validating"), TrainValSplitData(IMAGES, 1))
    with pytest.raises(
        ValueError, match="configured for validating cannot be used for prediction"
    ):
        create_pred_dataset(config("validating"), PredData(IMAGES))


def test_custom_without_loading() -> None:
    cfg = config(data_type="custom")
    with pytest.raises(
        ValueError, match="a custom read function or a custom image stack loader"
    ):
        create_train_dataset(cfg, TrainValSplitData(IMAGES, 1))


def test_too_many_validation_patches() -> None:
    with pytest.raises(ValueError, match="too large for given training data size"):
        create_val_split_datasets(config(), TrainValSplitData(IMAGES, 1000))


def test_statistics_of_wrong_length() -> None:
    cfg = config(
        normalization={
            "name": "mean_std",
            "input_means": [1.0, 2.0],
            "input_stds": [1.0, 1.0],
        }
    )
    with pytest.raises(
        ValueError,
        match=r"Number of input_means \(2\) and number of channels \(1\) do not match",
    ):
        create_train_dataset(cfg, TrainValSplitData(IMAGES, 1))


def test_model_constraints() -> None:
    with pytest.raises(ValueError, match="is not a multiple of 32"):
        create_train_dataset(
            config(),
            TrainValSplitData(IMAGES, 1),
            model_constraints=UNetConstraints(
                depth=5, n_input_channels=1, n_output_channels=1
            ),
        )


def test_val_split_of_random_patching() -> None:
    # the reference splits stratified patching only; random patching is split
    # here too (tests/factory/test_leak_proof_split.py checks its reads)
    cfg = config(patching={"name": "random", "patch_size": [16, 16]})
    train, val = create_val_split_datasets(cfg, TrainValSplitData(IMAGES, 1))
    assert len(val) == 1
    assert len(train) > 0


def test_filter_needs_stratified() -> None:
    cfg = config(
        patching={"name": "random", "patch_size": [16, 16]},
        patch_filter={"name": "max", "threshold": 10.0},
    )
    with pytest.raises(
        TypeError, match="Background patch filtering is only compatible"
    ):
        create_train_dataset(cfg, TrainValSplitData(IMAGES, 1))


def test_background_filter_reduces_patches() -> None:
    images = np.zeros((2, 64, 64), np.float32)
    images[:, :16, :16] = 100.0
    plain = create_train_dataset(
        config(normalization={"name": "none"}), TrainValSplitData(images, 1)
    )
    cfg = config(
        normalization={"name": "none"}, patch_filter={"name": "max", "threshold": 50.0}
    )
    filtered = create_train_dataset(cfg, TrainValSplitData(images, 1))
    assert len(filtered) < len(plain)


def test_mask_without_mask_filter_config() -> None:
    cfg = config(mode="training")
    cfg.mask_filter = None
    with pytest.raises(ValueError, match="No `MaskFilterConfig` found"):
        create_train_dataset(
            cfg, TrainValSplitData(IMAGES, 1, train_data_mask=IMAGES > 500)
        )
