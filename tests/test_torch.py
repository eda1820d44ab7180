from __future__ import annotations

import dataclasses
import importlib
import sys
import warnings
from typing import Any

import numpy as np
import pytest

from careamics_dask.config import DataConfig
from careamics_dask.errors import CareamicsDaskWarning, MissingDependencyError
from careamics_dask.factory import (
    CareamicsDataset,
    TrainValData,
    create_dataset,
    create_train_dataset,
)
from careamics_dask.feeding import BatchStream

torch = pytest.importorskip("torch")

from careamics_dask.torch import (  # noqa: E402
    StreamDataset,
    make_dataloader,
    to_tensor_batch,
)

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True)
def one_torch_thread() -> Any:
    """Tiny models: intra-op threads only add contention on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


PATCH = 16


def _clean(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(200, 2000, (n, 8, 8))
    return np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)  # (n, 64, 64)


def care_dataset(batch_size: int = 8) -> CareamicsDataset:
    """CARE-style pairs: noisy inputs, clean targets."""
    clean = _clean(4, 0)
    noisy = clean + np.random.default_rng(1).normal(0, 150, clean.shape)
    config = DataConfig(
        mode="training",
        data_type="array",
        axes="SYX",
        patching={"name": "stratified", "patch_size": [PATCH, PATCH]},
        normalization={"name": "mean_std"},
        batch_size=batch_size,
        seed=3,
    )
    data = TrainValData(
        noisy.astype(np.float32),
        noisy[:1].astype(np.float32),
        clean.astype(np.float32),
        clean[:1].astype(np.float32),
    )
    return create_train_dataset(config, data)


def no_target_dataset() -> CareamicsDataset:
    config = DataConfig(
        mode="validating",
        data_type="array",
        axes="SYX",
        patching={"name": "fixed_random", "patch_size": [PATCH, PATCH]},
        normalization={"name": "none"},
        batch_size=4,
        seed=1,
    )
    return create_dataset(config, _clean(2, 2).astype(np.float32), None)


def pairs(loader: Any) -> list[tuple[Any, Any]]:
    return list(loader)


def test_tiny_model_learns_from_a_stream() -> None:
    torch.manual_seed(0)
    dataset = care_dataset()
    loader = make_dataloader(dataset, epochs=6, prefetch=4)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 1, 3, padding=1),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    held_x, held_y = to_tensor_batch(dataset.batch(0))

    def held_loss() -> float:
        with torch.no_grad():
            return float(torch.nn.functional.mse_loss(model(held_x), held_y))

    before = held_loss()
    steps = 0
    stream_dataset = loader.dataset
    assert isinstance(stream_dataset, StreamDataset)
    for epoch in range(6):
        stream_dataset.set_epoch(epoch)
        for x, y in loader:
            assert x.dtype == y.dtype == torch.float32
            assert tuple(x.shape) == tuple(y.shape) == (8, 1, PATCH, PATCH)
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            steps += 1
    assert steps == 6 * dataset.n_batches()
    assert held_loss() < 0.5 * before


def test_tensors_match_the_stream_without_copies() -> None:
    dataset = care_dataset()
    expected = list(BatchStream(dataset, shuffle=False))
    got = pairs(make_dataloader(dataset, shuffle=False))
    assert len(got) == len(expected) == dataset.n_batches()
    for (x, y), batch in zip(got, expected, strict=True):
        assert isinstance(x, torch.Tensor)
        assert x.dtype == torch.float32
        assert tuple(x.shape) == batch.input.shape
        np.testing.assert_array_equal(x.numpy(), batch.input)
        assert batch.target is not None
        np.testing.assert_array_equal(y.numpy(), batch.target)
    batch = dataset.batch(0)
    x, _ = to_tensor_batch(batch)
    assert np.shares_memory(x.numpy(), batch.input)


def test_read_only_buffers_become_tensors_without_warnings() -> None:
    batch = no_target_dataset().batch(0)
    shared = bytearray(batch.input.tobytes())
    locked = np.frombuffer(shared, np.float32).reshape(batch.input.shape)
    locked.flags.writeable = False  # as a buffer received from a worker may be
    tensor = to_tensor_batch(dataclasses.replace(batch, input=locked))
    assert isinstance(tensor, torch.Tensor)
    assert np.shares_memory(tensor.numpy(), locked)  # made writable, not copied
    frozen = np.frombuffer(batch.input.tobytes(), np.float32)  # bytes: immutable
    copied = to_tensor_batch(dataclasses.replace(batch, input=frozen))
    assert isinstance(copied, torch.Tensor)
    np.testing.assert_array_equal(copied.numpy(), frozen)
    assert not np.shares_memory(copied.numpy(), frozen)


def test_no_target_yields_input_only() -> None:
    dataset = no_target_dataset()
    items = list(StreamDataset(dataset))
    assert len(items) == dataset.n_batches()
    for item in items:
        assert isinstance(item, torch.Tensor)
        assert item.dtype == torch.float32
        assert tuple(item.shape) == (4, 1, PATCH, PATCH)


def test_pin_memory_is_a_no_op_without_cuda() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available: pinning is real")
    item = next(iter(StreamDataset(no_target_dataset(), pin_memory=True)))
    assert isinstance(item, torch.Tensor)
    assert not item.is_pinned()


def test_worker_processes_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import careamics_dask.torch as module

    monkeypatch.setattr(module, "get_worker_info", lambda: object())
    with pytest.raises(ValueError, match="num_workers=0"):
        iter(StreamDataset(no_target_dataset()))


def test_dataloader_with_workers_is_refused() -> None:
    loader = torch.utils.data.DataLoader(
        StreamDataset(no_target_dataset()),
        batch_size=None,
        num_workers=1,
        multiprocessing_context="fork",
    )
    with warnings.catch_warnings():  # Python >= 3.12: fork of a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ValueError, match="forking DataLoader workers"):
            next(iter(loader))


def test_resume_yields_the_remaining_batches() -> None:
    dataset = care_dataset()
    reference = [
        (x.numpy().copy(), y.numpy().copy())
        for x, y in StreamDataset(dataset, epochs=2, per_epoch=False)
    ]
    first = StreamDataset(dataset, epochs=2, prefetch=3)
    seen = []
    for x, y in first:
        seen.append((x.numpy().copy(), y.numpy().copy()))
        if len(seen) == 3:
            break
    state = first.state_dict()
    assert (state["epoch"], state["batch"]) == (0, 3)

    resumed = StreamDataset(dataset, epochs=2, prefetch=3)
    resumed.load_state_dict(state)
    assert len(resumed) == dataset.n_batches()
    for epoch in range(2):
        resumed.set_epoch(epoch)  # keeps the resumed position in epoch 0
        seen.extend((x.numpy().copy(), y.numpy().copy()) for x, y in resumed)
    assert len(seen) == len(reference)
    for (x, y), (rx, ry) in zip(seen, reference, strict=True):
        np.testing.assert_array_equal(x, rx)
        np.testing.assert_array_equal(y, ry)
    assert resumed.state_dict()["epoch"] == 2
    with pytest.warns(CareamicsDaskWarning, match="yields no batches"):
        assert list(resumed) == []


def test_set_epoch_moves_and_checks() -> None:
    dataset = StreamDataset(no_target_dataset(), epochs=3)
    dataset.set_epoch(2)
    assert (dataset.state_dict()["epoch"], dataset.state_dict()["batch"]) == (2, 0)
    assert len(list(dataset)) == dataset.stream.batches_per_epoch
    with pytest.raises(ValueError, match="Epoch must be in"):
        dataset.set_epoch(3)


def test_rank_comes_from_torch_distributed(monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = torch.distributed
    monkeypatch.setattr(distributed, "is_available", lambda: True)
    monkeypatch.setattr(distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(distributed, "get_rank", lambda: 1)
    monkeypatch.setattr(distributed, "get_world_size", lambda: 2)
    dataset = care_dataset()
    stream = StreamDataset(dataset).stream
    assert (stream.rank, stream.world_size) == (1, 2)
    explicit = StreamDataset(dataset, rank=0, world_size=1).stream
    assert (explicit.rank, explicit.world_size) == (0, 1)
    with pytest.raises(ValueError, match="rank=1, world_size=2"):
        StreamDataset(BatchStream(dataset))


def test_stream_arguments_need_a_dataset() -> None:
    with pytest.raises(TypeError, match="apply to a dataset only"):
        StreamDataset(BatchStream(no_target_dataset()), prefetch=2)


def test_missing_torch_is_actionable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "careamics_dask.torch")
    with pytest.raises(
        MissingDependencyError, match=r"careamics-dask\[torch\]"
    ) as info:
        importlib.import_module("careamics_dask.torch")
    assert info.value.extra == "torch"


# `import careamics_dask` importing no torch: tests/test_package.py


# --- epochs behind a plain DataLoader over dataset[i] --------------------------


def _epochs(loader: Any, n: int) -> list[np.ndarray]:
    """Stack the input patches of ``n`` passes over a loader."""
    return [
        np.concatenate([batch[0].data.numpy() for batch in loader]) for _ in range(n)
    ]


def test_plain_dataloader_reads_new_patches_every_epoch() -> None:
    """num_workers=0: every pass of ``len(dataset)`` reads is the next epoch."""
    runs = []
    for _ in range(2):
        dataset = care_dataset()
        loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=False)
        runs.append(_epochs(loader, 2))
        # the same patches as the stream's epochs 0 and 1, in dataset order
        for epoch in range(2):
            expected = np.concatenate(
                [dataset.batch(i, epoch=epoch).input for i in range(len(loader))]
            )
            np.testing.assert_array_equal(runs[-1][epoch], expected)
    assert not np.array_equal(runs[0][0], runs[0][1])  # epochs differ
    np.testing.assert_array_equal(runs[0][1], runs[1][1])  # and repeat by seed


def test_set_epoch_restarts_the_pass_count() -> None:
    dataset = care_dataset()
    first = dataset[0][0].data
    dataset.set_epoch(1)
    np.testing.assert_array_equal(dataset[0][0].data, dataset[1, 0][0].data)
    assert not np.array_equal(first, dataset[1, 0][0].data)
    dataset.set_epoch(0)
    np.testing.assert_array_equal(dataset[0][0].data, first)


@pytest.mark.parametrize("workers", [0, 2])
def test_epoch_sampler_is_right_with_worker_processes(workers: int) -> None:
    """Keys (epoch, index) carry the epoch into worker processes' copies."""
    from careamics_dask.torch import patch_loader

    reference = care_dataset()
    expected = [
        np.concatenate([reference[epoch, i][0].data[None] for i in order])
        for epoch, order in enumerate(
            [[i for _, i in keys] for keys in _sampler_passes(reference, 2)]
        )
    ]
    loader = patch_loader(care_dataset(), shuffle=True, num_workers=workers)
    got = _epochs(loader, 2)
    assert not np.array_equal(got[0], got[1])
    for epoch in range(2):
        np.testing.assert_array_equal(got[epoch], expected[epoch])


def _sampler_passes(dataset: CareamicsDataset, n: int) -> list[list[Any]]:
    from careamics_dask.torch import EpochSampler

    sampler = EpochSampler(dataset, shuffle=True)
    passes = [list(sampler) for _ in range(n)]
    assert [keys[0][0] for keys in passes] == list(range(n))
    assert sorted(i for _, i in passes[0]) == list(range(len(dataset)))
    return passes


def _warnings_are_errors(worker_id: int) -> None:
    warnings.simplefilter("error", CareamicsDaskWarning)


def test_integer_reads_in_worker_processes_warn() -> None:
    """A worker's copy cannot see the epoch: it warns instead of repeating silently."""
    loader = torch.utils.data.DataLoader(
        care_dataset(), batch_size=8, num_workers=1, worker_init_fn=_warnings_are_errors
    )
    with pytest.raises(CareamicsDaskWarning, match="EpochSampler"):
        next(iter(loader))


def test_bad_dataset_keys_are_refused() -> None:
    from careamics_dask.torch import patch_loader

    dataset = care_dataset()
    with pytest.raises(TypeError, match="epoch, index"):
        dataset[0, 1, 2]  # type: ignore[index]
    with pytest.raises(ValueError, match="negative"):
        dataset[-1, 0]
    with pytest.raises(TypeError, match="EpochSampler"):
        patch_loader(dataset, sampler=None)
