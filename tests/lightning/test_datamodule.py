"""The Lightning data module: real processes (DDP on gloo, a killed run), bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

pytest.importorskip("lightning")

from careamics_dask.config import DataConfig
from careamics_dask.factory import TrainValData, create_dataset
from careamics_dask.feeding import BatchStream
from careamics_dask.lightning import CareamicsDataModule, StreamLoader
from tests.lightning.run_training import dataset_pair

if TYPE_CHECKING:
    from collections.abc import Iterator

    from careamics_dask.factory import Batch

pytestmark = pytest.mark.torch

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 240
"""Seconds a training process may take; beyond it the test fails (a hang)."""


def run(out: Path, *args: str, killed: bool = False) -> list[list[str]]:
    """Train in a fresh process; return each rank's recorded steps."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tests.lightning.run_training", str(out), *args]
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=LIMIT
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"training hung: no exit within {LIMIT} s ({exc})")
    if killed:
        assert done.returncode == -9, done.stderr[-3000:]
    else:
        assert done.returncode == 0, done.stderr[-3000:]
    return [path.read_text().splitlines() for path in sorted(out.glob("batches-*.txt"))]


def test_two_ddp_processes_get_disjoint_equal_shares(tmp_path: Path) -> None:
    """gloo, devices=2, one embedded cluster: 5 batches per epoch, 2 per rank."""
    ranks = run(tmp_path, "--devices", "2", "--images", "5", "--cluster", "embedded")
    assert len(ranks) == 2
    assert len(ranks[0]) == len(ranks[1]) == 4  # 2 epochs x floor(5 / 2) batches
    for epoch in ("0", "1"):
        shares = [
            {
                int(i)
                for line in lines
                if line.split()[1] == epoch
                for i in line.split()[3].split(",")
            }
            for lines in ranks
        ]
        assert len(shares[0]) == len(shares[1]) == 8
        assert not shares[0] & shares[1]  # disjoint
        assert shares[0] | shares[1] <= set(range(20))


def test_a_killed_run_resumes_with_the_batches_of_an_uninterrupted_one(
    tmp_path: Path,
) -> None:
    (whole,) = run(tmp_path / "whole")
    (killed,) = run(tmp_path / "killed", "--kill-at", "4", killed=True)
    assert killed == whole[:5]  # step 4 (epoch 1, batch 1) started, then SIGKILL
    last = tmp_path / "killed" / "ckpt" / "last.ckpt"
    (resumed,) = run(tmp_path / "killed", "--resume", str(last))
    # the resumed run repeats only the step the kill interrupted
    assert resumed[5:] == whole[4:]


def _datasets() -> tuple[object, object]:
    return dataset_pair(3, batch_size=4)


def test_a_dataset_in_the_wrong_mode_is_refused() -> None:
    train, val = _datasets()
    with pytest.raises(ValueError, match="mode='validating'"):
        CareamicsDataModule(train, train)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="CareamicsDataset"):
        CareamicsDataModule(np.ones(3), val)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="max_epochs"):
        CareamicsDataModule(train, val, epochs=3)  # type: ignore[arg-type]


def _small_config() -> DataConfig:
    """A training config of 16² stratified patches, batches of 4, no normalization."""
    return DataConfig(
        mode="training",
        data_type="array",
        axes="SYX",
        patching={"name": "stratified", "patch_size": [16, 16]},
        normalization={"name": "none"},
        batch_size=4,
    )


def test_from_config_needs_validation_data() -> None:
    config = _small_config()
    with pytest.raises(TypeError, match="TrainValSplitData"):
        CareamicsDataModule.from_config(config, np.ones((2, 32, 32)))  # type: ignore[arg-type]
    images = np.ones((2, 32, 32), dtype=np.float32)
    module = CareamicsDataModule.from_config(config, TrainValData(images, images))
    assert module.val_dataset is not None
    assert module._data.val_data is images  # what CAREamics' modules check


def test_from_config_reads_a_whole_careamics_style_configuration() -> None:
    config = _small_config()

    class Configuration:  # what careamics' create_*_config return: a .data_config
        data_config = config.model_copy(update={"batch_size": 2})

    images = np.ones((2, 32, 32), dtype=np.float32)
    module = CareamicsDataModule.from_config(
        Configuration(), TrainValData(images, images)
    )
    assert module.train_dataset is not None
    assert module.train_dataset.config.batch_size == 2
    with pytest.raises(TypeError, match="create_n2v_config"):
        CareamicsDataModule.from_config({"axes": "SYX"}, TrainValData(images, images))


def test_a_mid_epoch_resume_with_another_world_size_is_refused() -> None:
    train, val = _datasets()
    module = CareamicsDataModule(train, val)  # type: ignore[arg-type]
    saved = {"seed": 5, "shuffle": True, "n_patches": 12, "batch_size": 4}
    with pytest.raises(ValueError, match="same number of devices"):
        module.load_state_dict({**saved, "epoch": 0, "batch": 1, "world_size": 2})
    module.load_state_dict({**saved, "epoch": 1, "batch": 0, "world_size": 2})
    with pytest.raises(ValueError, match="another data stream"):
        module.load_state_dict(
            {**saved, "seed": 6, "epoch": 1, "batch": 0, "world_size": 1}
        )


def test_prediction_reads_the_reference_regions() -> None:
    config = DataConfig(
        mode="predicting",
        data_type="array",
        axes="SYX",
        patching={"name": "whole"},
        normalization={"name": "none"},
        batch_size=2,
    )
    dataset = create_dataset(config, np.ones((3, 16, 16), dtype=np.float32), None)
    module = CareamicsDataModule(predict_dataset=dataset)
    batches = list(module.predict_dataloader())
    assert [tuple(b[0].data.shape) for b in batches] == [(2, 1, 16, 16), (1, 1, 16, 16)]
    assert module.predict_dataset is not None
    assert module.predict_dataset.normalization is dataset.normalizer


class _CountingStream(BatchStream):
    """A real stream that counts how often an iteration over it starts."""

    starts = 0

    def __iter__(self) -> Iterator[Batch]:
        type(self).starts += 1
        return super().__iter__()


def test_each_epoch_goes_on_with_the_same_stream_iterator() -> None:
    """Lightning takes exactly len(loader) batches and drops the pass: the next epoch
    continues the iterator (its batches are in flight already), with the batches a
    fresh stream gives for that epoch; a skipped epoch restarts the stream there."""
    train, _ = dataset_pair(5, 4)
    epochs = iter([0, 0, 1, 2, 4])
    stream = _CountingStream(train, epochs=10)
    loader = StreamLoader(
        stream, train, epoch=lambda: next(epochs), start=lambda e: 0, form="tensors"
    )
    iter(loader)  # a pass that never starts (Lightning checks the loader)
    seen = []
    for _ in range(4):
        lightning_pass = iter(loader)
        seen.append([next(lightning_pass) for _ in range(len(loader))])
        del lightning_pass  # dropped, not exhausted
    assert _CountingStream.starts == 2  # the first pass and the skip to epoch 4
    fresh = BatchStream(train, epochs=10)
    for epoch, got in zip([0, 1, 2, 4], seen, strict=True):
        fresh.load_state_dict({**fresh.state_dict(), "epoch": epoch, "batch": 0})
        expected = [b.input for _, b in zip(range(len(loader)), fresh, strict=False)]
        assert len(got) == len(expected)
        for tensor, array in zip(got, expected, strict=True):
            np.testing.assert_array_equal(tensor.numpy(), array)
    loader.close()
    assert loader._running is None
