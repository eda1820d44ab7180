"""The validation split cannot leak: training and validation read disjoint pixels.

Every pixel each patch reads is recorded (an in-memory array that logs the boxes
the readers take from it, batches of one patch so that a read is one patch's),
over several training epochs and the validation set; the two sets of pixels must
be disjoint. (``count_region_reads`` counts reads of lazy sources but not their
regions, so the boxes are logged by the array itself.)
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from careamics_dask.config import DataConfig, load_config, save_config
from careamics_dask.factory import TrainValSplitData, create_val_split_datasets
from careamics_dask.patching import StratifiedPatching, create_val_split
from careamics_dask.patching.val_split import guard_cells


class RecordingArray(np.ndarray):
    """A NumPy array that logs every full-rank box taken from it."""

    boxes: list[tuple[Any, ...]]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple) and len(key) == self.ndim:
            RecordingArray.boxes.append(key)
        return np.asarray(super().__getitem__(key))


RecordingArray.boxes = []


def _mask_of(boxes: list[tuple[Any, ...]], shape: tuple[int, ...]) -> npt.NDArray[Any]:
    mask = np.zeros(shape, dtype=bool)
    for box in boxes:
        mask[box] = True
    return mask


def _config(**fields: Any) -> DataConfig:
    values: dict[str, Any] = {
        "mode": "training",
        "data_type": "array",
        "axes": "SCYX",
        "patching": {"name": "stratified", "patch_size": [8, 8], "seed": 5},
        "normalization": {"name": "mean_std", "input_means": [0.5], "input_stds": [1]},
        "batch_size": 1,
        "seed": 7,
    }
    values.update(fields)
    return DataConfig(**values)


@pytest.mark.parametrize("patching", ["stratified", "random"])
def test_split_reads_disjoint_pixels(patching: str) -> None:
    base = np.random.default_rng(0).random((2, 1, 48, 40)).astype(np.float32)
    image = base.view(RecordingArray)
    config = _config(patching={"name": patching, "patch_size": [8, 8], "seed": 5})
    train, val = create_val_split_datasets(
        config, TrainValSplitData([image], n_val_patches=6)
    )
    RecordingArray.boxes = []
    for index in range(val.n_batches()):
        val.batch(index)
    val_reads = _mask_of(RecordingArray.boxes, base.shape)
    RecordingArray.boxes = []
    for epoch in range(8):
        for index in range(train.n_batches()):
            train.batch(index, epoch=epoch)
    train_reads = _mask_of(RecordingArray.boxes, base.shape)
    assert val_reads.sum() == 6 * 64  # six whole in-image cells
    assert train_reads.sum() > base.size // 2
    assert not (val_reads & train_reads).any()
    # the held-out cells are in the config: a re-created split holds them out
    assert config.val_split_cells is not None
    assert len(config.val_split_cells) == 6


def test_the_split_is_persisted_with_the_config(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    images = [np.random.default_rng(1).random((3, 1, 40, 40)).astype(np.float32)]
    config = _config()
    _, val = create_val_split_datasets(config, TrainValSplitData(images, 5))
    saved = save_config(config, tmp_path / "config.yml")
    # another seed would draw other cells; the saved cells win
    loaded = load_config(saved)
    loaded.seed = 99
    _, again_val = create_val_split_datasets(loaded, TrainValSplitData(images, 5))
    assert again_val.patch_table() == val.patch_table()
    assert loaded.val_split_cells == config.val_split_cells
    # asking for another count keeps the saved cells, and says so
    with caplog.at_level(logging.WARNING, logger="careamics_dask.factory.create"):
        _, kept = create_val_split_datasets(loaded, TrainValSplitData(images, 2))
    assert kept.patch_table() == val.patch_table()
    assert "n_val_patches=2 is not used" in caplog.text
    fresh = _config(seed=99)
    _, other = create_val_split_datasets(fresh, TrainValSplitData(images, 5))
    assert other.patch_table() != val.patch_table()
    # a saved split that no longer fits the data is refused, naming the fix
    loaded.val_split_cells = [[0, 0, 40, 40]]
    with pytest.raises(ValueError, match="remove `val_split_cells`"):
        create_val_split_datasets(loaded, TrainValSplitData(images, 5))


def test_guard_cells_by_hand() -> None:
    # 64 x 64, 8-pixel cells: an 8 x 8 grid. Cell (3, 3) starts at 24; reading 4
    # pixels before and 4 after, training must stay off [24 - 8, 32 + 8) = [16, 40):
    # cells 2, 3 and 4 on each axis, nine cells
    stratified = StratifiedPatching([(1, 1, 64, 64)], [8, 8], 1)
    region = 3 * 8 + 3
    guard = guard_cells(stratified, np.array([region]), [(4, 4), (4, 4)])
    cells = stratified.all_grid_coords[guard][:, 2:]
    assert sorted(map(tuple, cells.tolist())) == [
        (y, x) for y in (2, 3, 4) for x in (2, 3, 4)
    ]
    training, validation = create_val_split(
        stratified, 0, 1, context=[(4, 4), (4, 4)], held_out=[[0, 0, 3, 3]]
    )
    assert validation.table().coords.tolist() == [[24, 24]]
    table = training.table(0)
    for epoch in range(20):
        starts = training.table(epoch).coords
        # every training read box [s - 4, s + 12) misses the validation read
        # box [20, 36) on at least one axis
        apart = (starts + 8 + 4 <= 24 - 4) | (starts - 4 >= 24 + 8 + 4)
        assert apart.any(axis=1).all()
    assert len(table) > 0


def _microsplit_config(padding_mode: str, **fields: Any) -> Any:
    from careamics_dask.config import MicroSplitDataConfig

    values: dict[str, Any] = {
        "mode": "training",
        "data_type": "array",
        "axes": "SCYX",
        "patching": {"name": "stratified", "patch_size": [8, 8], "seed": 5},
        "normalization": {"name": "none"},
        "batch_size": 1,
        "multiscale_count": 3,
        "padding_mode": padding_mode,
        "augmentations": [{"name": "XYFlip", "seed": 1}],
        "seed": 7,
    }
    values.update(fields)
    return MicroSplitDataConfig(**values)


@pytest.mark.parametrize(
    ("padding_mode", "uncorrelated"),
    [("reflect", 0.0), ("wrap", 0.0), ("reflect", 0.5)],
)
def test_microsplit_split_reads_disjoint_pixels_at_every_scale(
    padding_mode: str, uncorrelated: float
) -> None:
    from careamics_dask.factory import (
        MultiChannelTarget,
        create_microsplit_val_split_datasets,
    )

    # 2-channel targets, 96 x 96: the largest scale reads a 32 x 32 window
    # (reflect) or the 64 x 64 context window (wrap) around each 8 x 8 patch
    base = np.random.default_rng(2).random((1, 2, 96, 96)).astype(np.float32)
    targets = base.view(RecordingArray)
    config = _microsplit_config(padding_mode, uncorrelated_channel_prob=uncorrelated)
    train, val = create_microsplit_val_split_datasets(
        config, MultiChannelTarget([targets]), n_val_patches=2
    )
    RecordingArray.boxes = []
    for index in range(val.n_batches()):
        val.batch(index)
    val_reads = _mask_of(RecordingArray.boxes, base.shape)
    RecordingArray.boxes = []
    for epoch in range(3):
        for index in range(train.n_batches()):
            train.batch(index, epoch=epoch)
    train_reads = _mask_of(RecordingArray.boxes, base.shape)
    assert val_reads.sum() > 2 * 2 * 64  # the context, not just the patches
    assert train_reads.any()
    assert not (val_reads & train_reads).any()
    assert config.val_split_cells is not None
    assert len(config.val_split_cells) == 2


def test_without_the_guard_the_lateral_context_leaks() -> None:
    # the same data split with the plain split (no guard) does read validation
    # pixels into training inputs: the guard is what the test above checks
    from careamics_dask.factory import MultiChannelTarget, create_microsplit_dataset

    base = np.random.default_rng(2).random((1, 2, 96, 96)).astype(np.float32)
    targets = base.view(RecordingArray)
    config = _microsplit_config("reflect")
    dataset = create_microsplit_dataset(config, MultiChannelTarget([targets]))
    patching = dataset.patching
    assert isinstance(patching, StratifiedPatching)
    training, validation = create_val_split(patching, 2, 3)
    (cell,) = validation.table()[:1].coords.tolist()
    RecordingArray.boxes = []
    dataset.patching = training
    for epoch in range(3):
        for index in range(dataset.n_batches()):
            dataset.batch(index, epoch=epoch)
    train_reads = _mask_of(RecordingArray.boxes, base.shape)
    assert train_reads[0, 0, cell[0] : cell[0] + 8, cell[1] : cell[1] + 8].any()
