"""How many batches one cluster task builds: a number, or ``auto`` by bytes."""

from __future__ import annotations

import dask
import pytest

from careamics_dask.feeding import BatchStream
from careamics_dask.feeding.source import batch_nbytes
from careamics_dask.feeding.window import MAX_BATCHES_PER_TASK, task_size
from tests.feeding.test_stream import train_dataset


def test_a_batch_weighs_its_patches_in_float32() -> None:
    dataset = train_dataset(batch_size=8)  # 16 x 16 patches, input and target
    assert dataset.target_shapes is not None
    channels = dataset.input_shapes[0][1] + dataset.target_shapes[0][1]
    assert channels == 2
    assert batch_nbytes(dataset, dataset.patch_table(0)) == 8 * channels * 16 * 16 * 4


@pytest.mark.parametrize(
    ("option", "task_bytes", "expected"),
    [
        ("auto", 3 * 16384, 3),  # as many batches as the task's bytes hold
        ("auto", 16384 - 1, 1),  # at least one
        ("auto", 2**40, MAX_BATCHES_PER_TASK),  # at most the cap
        (5, 16384, 5),  # a number is kept
    ],
)
def test_streams_size_tasks_by_option_and_bytes(
    option: int | str, task_bytes: int, expected: int
) -> None:
    dataset = train_dataset(batch_size=8)  # 16 KiB batches
    with dask.config.set({"careamics-dask.batching.task-bytes": task_bytes}):
        stream = BatchStream(dataset, batches_per_task=option)
        assert stream.batches_per_task == expected


def test_the_default_is_auto_with_16_mib_tasks() -> None:
    assert dask.config.get("careamics-dask.batching.batches-per-task") == "auto"
    assert task_size("auto", 32 * 64 * 64 * 4, 16 * 2**20) == 32


@pytest.mark.parametrize("option", [0, -2, "many"])
def test_a_bad_value_is_refused_when_the_stream_is_built(option: object) -> None:
    with pytest.raises(ValueError, match="positive number or 'auto'"):
        BatchStream(train_dataset(), batches_per_task=option)  # type: ignore[arg-type]
