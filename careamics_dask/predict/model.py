"""Model adapters: a NumPy callable or a torch module, batch in, batch out.

Prediction calls a model on float32 batches ``(B, C, (Z), Y, X)`` and expects a
batch of the same number of tiles and the same spatial shape back (the channel count
may differ). :func:`create_model_adapter` wraps what the user passes:

- a :class:`TorchModel` or :class:`NumpyModel` is used as is;
- a ``torch.nn.Module`` becomes a :class:`TorchModel` (eval mode, inference mode, on
  the device of the process that calls it: ``cuda`` where there is one);
- any other callable becomes a :class:`NumpyModel`.

Both adapters pickle, so they can run inside worker tasks (``run_on="workers"``);
torch is imported only when a torch model is called or unpickled.
"""

from __future__ import annotations

import io
import logging
import sys
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from careamics_dask.errors import MissingDependencyError

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

__all__ = [
    "ModelAdapter",
    "NumpyModel",
    "TorchModel",
    "check_model_output",
    "create_model_adapter",
]

logger = logging.getLogger(__name__)


@runtime_checkable
class ModelAdapter(Protocol):
    """A model prediction can call: float32 batch in, float32 batch out."""

    def __call__(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Predict a batch ``(B, C, (Z), Y, X)``; return ``(B, C', (Z), Y, X)``."""
        ...


class NumpyModel:
    """A NumPy callable as a model: its output is cast to a float32 array.

    Parameters
    ----------
    function : callable
        Called with a float32 batch ``(B, C, (Z), Y, X)``; returns an array-like of
        the same ``B`` and spatial shape (any channel count).

    Examples
    --------
    >>> model = NumpyModel(lambda x: 2 * x)
    >>> model(np.ones((1, 1, 2, 2), np.float32))[0, 0, 0, 0]
    np.float32(2.0)
    """

    def __init__(self, function: Callable[[npt.NDArray[np.float32]], Any]) -> None:
        if not callable(function):
            raise TypeError(
                f"A model must be callable: expected a function of a float32 batch, "
                f"got {type(function).__name__}."
            )
        self.function = function

    def __call__(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Call the function; return its output as float32."""
        return np.asarray(self.function(batch), dtype=np.float32)

    def __repr__(self) -> str:
        return f"NumpyModel({self.function!r})"


class TorchModel:
    """A ``torch.nn.Module`` as a model, run in eval and inference mode.

    The module moves to its device the first time it is called in a process: the
    given ``device``, else ``cuda`` when that process sees a GPU, else the CPU. So
    the same adapter runs on the client's device (``run_on="client"``) or, pickled,
    on GPU workers (``run_on="workers", resources={"GPU": 1}``). Pickling saves the
    module with ``torch.save`` and loads it on the CPU first, so a module that was on
    a GPU unpickles on a worker without one.

    Parameters
    ----------
    module : torch.nn.Module
        The network; its input and output are ``(B, C, (Z), Y, X)`` tensors.
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... (default: ``cuda`` if available).

    Examples
    --------
    >>> import torch  # doctest: +SKIP
    >>> model = TorchModel(torch.nn.Conv2d(1, 2, 1), device="cpu")  # doctest: +SKIP
    >>> model(np.ones((4, 1, 8, 8), np.float32)).shape  # doctest: +SKIP
    (4, 2, 8, 8)
    """

    def __init__(self, module: Any, device: str | None = None) -> None:
        torch = _import_torch()
        if not isinstance(module, torch.nn.Module):
            raise TypeError(
                "TorchModel wraps a torch.nn.Module: got "
                f"{type(module).__name__}. Wrap other callables in NumpyModel."
            )
        self.module = module
        self.device = device
        self._ready: Any = None

    def _prepared(self) -> tuple[Any, Any]:
        torch = _import_torch()
        if self._ready is None:
            name = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            device = torch.device(name)
            self.module.to(device).eval()
            self._ready = device
            logger.info("torch model on %s", device)
        return torch, self._ready

    def __call__(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Run the module on the batch (on its device); return float32 NumPy."""
        torch, device = self._prepared()
        array = np.ascontiguousarray(batch, dtype=np.float32)
        if not array.flags.writeable:  # torch.from_numpy warns on read-only arrays
            array = array.copy()
        with torch.inference_mode():
            output = self.module(torch.from_numpy(array).to(device))
        result: npt.NDArray[np.float32] = (
            output.detach().to("cpu", dtype=torch.float32).numpy()
        )
        return result

    def __getstate__(self) -> dict[str, Any]:
        torch = _import_torch()
        buffer = io.BytesIO()
        torch.save(self.module, buffer)
        return {"module": buffer.getvalue(), "device": self.device}

    def __setstate__(self, state: dict[str, Any]) -> None:
        torch = _import_torch()
        self.module = torch.load(
            io.BytesIO(state["module"]), map_location="cpu", weights_only=False
        )
        self.device = state["device"]
        self._ready = None

    def __repr__(self) -> str:
        return f"TorchModel({type(self.module).__name__}, device={self.device!r})"


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError(
            f"Torch models need PyTorch, which cannot be imported ({exc}). Install "
            "it with `pip install 'careamics-dask[torch]'`, or pass a NumPy "
            "callable as the model.",
            extra="torch",
        ) from exc
    return torch


def create_model_adapter(model: Any, device: str | None = None) -> ModelAdapter:
    """Wrap a model for prediction.

    Parameters
    ----------
    model : callable or torch.nn.Module
        A :class:`TorchModel` or :class:`NumpyModel` (used as is), a
        ``torch.nn.Module``, or a NumPy callable.
    device : str, optional
        The device of a ``torch.nn.Module`` (see :class:`TorchModel`).

    Returns
    -------
    ModelAdapter
        The adapter.

    Raises
    ------
    TypeError
        When ``model`` is not callable.

    Examples
    --------
    >>> create_model_adapter(np.negative)
    NumpyModel(<ufunc 'negative'>)
    """
    if isinstance(model, NumpyModel | TorchModel):
        return model
    torch: Any = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return TorchModel(model, device=device)
    return NumpyModel(model)


def check_model_output(
    output: npt.NDArray[np.float32], batch_shape: tuple[int, ...]
) -> None:
    """Check that a model kept the number of tiles and their spatial shape.

    Parameters
    ----------
    output : numpy.ndarray
        What the model returned.
    batch_shape : tuple of int
        The shape of the batch it was given, ``(B, C, (Z), Y, X)``.

    Raises
    ------
    ValueError
        When the output is not ``(B, C', (Z), Y, X)``.

    Examples
    --------
    >>> check_model_output(np.zeros((2, 3, 8, 8), np.float32), (2, 1, 8, 8))
    >>> check_model_output(np.zeros((2, 8, 8), np.float32), (2, 1, 8, 8))
    Traceback (most recent call last):
    ...
    ValueError: The model must return a batch (B, C, (Z), Y, X) of the same tiles: expected shape (2, C, 8, 8) for a batch of shape (2, 1, 8, 8), got (2, 8, 8). Return one output per tile, with a channel axis, at the tile's size.
    """  # noqa: E501
    shape = tuple(output.shape)
    if (
        len(shape) != len(batch_shape)
        or shape[0] != batch_shape[0]
        or shape[2:] != batch_shape[2:]
        or shape[1] < 1
    ):
        expected = ", ".join(str(v) for v in (batch_shape[0], "C", *batch_shape[2:]))
        raise ValueError(
            "The model must return a batch (B, C, (Z), Y, X) of the same tiles: "
            f"expected shape ({expected}) for a batch of shape {batch_shape}, got "
            f"{shape}. Return one output per tile, with a channel axis, at the "
            "tile's size."
        )
