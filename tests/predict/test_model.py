from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from careamics_dask.predict.model import (
    NumpyModel,
    TorchModel,
    check_model_output,
    create_model_adapter,
)
from tests.predict.helpers import pred_dataset, read_output

if TYPE_CHECKING:
    from pathlib import Path


def test_numpy_model_casts_to_float32() -> None:
    model = create_model_adapter(lambda x: (x * 2).astype(np.float64))
    assert isinstance(model, NumpyModel)
    out = model(np.ones((2, 1, 4, 4), np.float32))
    assert out.dtype == np.float32
    assert float(out.max()) == 2.0
    assert create_model_adapter(model) is model
    with pytest.raises(TypeError, match="must be callable"):
        create_model_adapter(42)


def test_numpy_model_pickles() -> None:
    model = pickle.loads(pickle.dumps(NumpyModel(np.negative)))
    assert model(np.ones((1, 1, 1, 1), np.float32))[0, 0, 0, 0] == -1


@pytest.mark.parametrize(
    "shape",
    [(3, 1, 8, 8), (2, 1, 4, 8), (2, 1, 8), (2, 0, 8, 8), (2, 1, 8, 8, 1)],
)
def test_model_output_checks(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="same tiles"):
        check_model_output(np.zeros(shape, np.float32), (2, 1, 8, 8))


def conv(torch: Any, in_channels: int, out_channels: int) -> Any:
    """A 1x1 convolution: output channel k = (k + 1) * sum of inputs + k."""
    layer = torch.nn.Conv2d(in_channels, out_channels, 1)
    with torch.no_grad():
        for k in range(out_channels):
            layer.weight[k] = k + 1.0
            layer.bias[k] = float(k)
    return layer


@pytest.mark.torch
def test_torch_module_adapter(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    module = conv(torch, 1, 2)
    model = create_model_adapter(module, device="cpu")
    assert isinstance(model, TorchModel)
    batch = np.arange(2 * 16, dtype=np.float32).reshape(2, 1, 4, 4)
    out = model(batch)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 1], 2 * batch[:, 0] + 1)
    assert not module.training
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again(batch), out)
    readonly = batch.copy()
    readonly.flags.writeable = False
    np.testing.assert_allclose(model(readonly), out)  # no warning for read-only
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        TorchModel(lambda x: x)


@pytest.mark.torch
def test_torch_model_predicts_into_zarr(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from careamics_dask import predict_to_zarr

    data = np.random.default_rng(0).integers(0, 100, (2, 30, 26)).astype(np.uint16)
    dataset = pred_dataset(data, "SYX", patch=[16, 16], overlaps=[4, 4])
    predict_to_zarr(dataset, conv(torch, 1, 3), tmp_path / "o.zarr")
    result = read_output(tmp_path / "o.zarr")
    assert result.shape == (2, 3, 30, 26)
    for k in range(3):
        np.testing.assert_allclose(result[:, k], (k + 1) * data + k, rtol=1e-6)
