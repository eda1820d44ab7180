"""PyTorch feeding: an ``IterableDataset`` over a ``BatchStream`` (extra ``torch``).

Dask does the parallel work: batches are built on the cluster by a
:class:`~careamics_dask.feeding.BatchStream` and this module only turns them into
tensors, without copying (``torch.from_numpy``). Use it with
``DataLoader(dataset, batch_size=None, num_workers=0)`` (what :func:`make_dataloader`
returns): the stream already yields whole batches, and forking ``DataLoader`` worker
processes around a ``distributed.Client`` is unsafe, so worker processes are refused.

In a ``torch.distributed`` job (initialized), a stream built here takes its rank and
world size from the process group, so every rank gets a disjoint, equally sized share
of each epoch.

The reference's way, ``dataset[i]`` in a plain ``DataLoader``, works too:
:class:`EpochSampler` (and :func:`patch_loader`, a ``DataLoader`` built with it)
passes ``(epoch, index)`` keys, so every epoch reads its own patches with any number
of worker processes (a little over 400 lines: both ways of feeding torch live here).
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from careamics_dask.errors import CareamicsDaskWarning, MissingDependencyError
from careamics_dask.feeding import BatchStream
from careamics_dask.feeding.order import shuffled_order

try:
    import torch
    from torch.utils.data import DataLoader, IterableDataset, Sampler, get_worker_info
except ImportError as exc:
    raise MissingDependencyError(
        f"careamics_dask.torch needs PyTorch, which cannot be imported ({exc}). "
        "Install it with `pip install 'careamics-dask[torch]'` (or a build for your "
        "platform from https://pytorch.org), or iterate careamics_dask.BatchStream, "
        "which yields NumPy batches.",
        extra="torch",
    ) from exc

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy.typing as npt

    from careamics_dask.factory import Batch, CareamicsDataset
    from careamics_dask.feeding import BatchSource

__all__ = [
    "EpochSampler",
    "StreamDataset",
    "TensorBatch",
    "make_dataloader",
    "patch_loader",
    "to_tensor_batch",
]

logger = logging.getLogger(__name__)

TensorBatch: TypeAlias = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
"""What the dataset yields: ``(input, target)``, or ``input`` without targets."""


def to_tensor_batch(
    batch: Batch,
    device: torch.device | str | None = None,
    *,
    pin_memory: bool = False,
) -> TensorBatch:
    """Turn a :class:`~careamics_dask.factory.Batch` into float32 tensors.

    The tensors share memory with the batch's arrays (``torch.from_numpy``) unless
    a copy is needed: pinning, a move to ``device``, or a read-only buffer.

    Parameters
    ----------
    batch : Batch
        A batch from a stream or ``dataset.batch(index)``.
    device : torch.device or str, optional
        Where to move the tensors (``"cuda"``, ``"cuda:1"``...); ``None`` keeps
        them on the CPU.
    pin_memory : bool, default False
        Copy into page-locked memory so a move to the GPU can overlap compute
        (``non_blocking``). Only done when CUDA is available; a no-op otherwise.

    Returns
    -------
    torch.Tensor or tuple of torch.Tensor
        ``(input, target)``, each ``(B, C, (Z), Y, X)`` float32, or ``input``
        alone when the batch has no target.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import create_dataset
    >>> config = DataConfig(mode="validating", data_type="array", axes="SYX",
    ...     patching={"name": "fixed_random", "patch_size": [8, 8]},
    ...     normalization={"name": "none"}, batch_size=4, seed=1)
    >>> dataset = create_dataset(config, np.ones((2, 16, 16)), None)
    >>> to_tensor_batch(dataset.batch(0)).shape
    torch.Size([4, 1, 8, 8])
    """
    pin = pin_memory and torch.cuda.is_available()
    non_blocking = pin and device is not None
    tensors = [
        _tensor(array, device=device, pin=pin, non_blocking=non_blocking)
        for array in (batch.input, batch.target)
        if array is not None
    ]
    if len(tensors) == 1:
        return tensors[0]
    return tensors[0], tensors[1]


def _tensor(
    array: npt.NDArray[Any],
    *,
    device: torch.device | str | None,
    pin: bool,
    non_blocking: bool,
) -> torch.Tensor:
    """Wrap one array as a float32 tensor, without a copy when it can."""
    array = np.asarray(array, dtype=np.float32)
    if not array.flags.writeable:
        # buffers received from workers may be read-only; torch warns on those
        try:
            array.flags.writeable = True
        except ValueError:
            array = array.copy()
    tensor = torch.from_numpy(array)
    if pin:
        tensor = tensor.pin_memory()
    if device is not None:
        tensor = tensor.to(device, non_blocking=non_blocking)
    return tensor


def _distributed_rank() -> tuple[int, int] | None:
    """Return ``(rank, world_size)`` of an initialized process group, else None."""
    distributed = torch.distributed
    if distributed.is_available() and distributed.is_initialized():
        return distributed.get_rank(), distributed.get_world_size()
    return None


def _build_stream(
    source: BatchSource | BatchStream, stream_kwargs: dict[str, Any]
) -> BatchStream:
    """Build a stream over a dataset (ranks from torch.distributed), or check one."""
    ranks = _distributed_rank()
    if isinstance(source, BatchStream):
        if stream_kwargs:
            raise TypeError(
                "Stream arguments apply to a dataset only: expected no arguments "
                f"with a BatchStream, got {sorted(stream_kwargs)}. Pass them when "
                "building the BatchStream, or pass the dataset instead."
            )
        if ranks is not None and (source.rank, source.world_size) != ranks:
            raise ValueError(
                "The stream's rank must match torch.distributed's: expected rank "
                f"{ranks[0]} of {ranks[1]}, got rank {source.rank} of "
                f"{source.world_size}. Build it with BatchStream(..., "
                f"rank={ranks[0]}, world_size={ranks[1]}), or pass the dataset."
            )
        return source
    if ranks is not None:
        stream_kwargs = {"rank": ranks[0], "world_size": ranks[1], **stream_kwargs}
    return BatchStream(source, **stream_kwargs)


class StreamDataset(IterableDataset[TensorBatch]):
    """An ``IterableDataset`` of tensor batches built on a Dask cluster.

    Use it with ``DataLoader(dataset, batch_size=None, num_workers=0)``, or
    :func:`make_dataloader`.

    Parameters
    ----------
    source : CareamicsDataset or BatchStream
        A stream, or a dataset to build one over (with ``stream_kwargs``; the rank
        and world size come from ``torch.distributed`` when it is initialized, unless
        given).
    pin_memory : bool, default False
        Yield tensors in page-locked memory, for fast ``non_blocking`` copies to the
        GPU. Only done when CUDA is available; a no-op otherwise.
    per_epoch : bool, default True
        One iteration is one epoch, the torch convention
        (``for epoch ...: for x, y in loader``); the next iteration continues with
        the next epoch. ``False``: one iteration streams every remaining epoch
        without a pause at epoch boundaries (in per-epoch mode the batches already
        in flight for the next epoch are dropped at the end of each epoch).
    **stream_kwargs : Any
        :class:`~careamics_dask.feeding.BatchStream` arguments (``client``,
        ``prefetch``, ``epochs``, ``shuffle``, ``rank``, ``world_size``...), with a
        dataset only.

    Raises
    ------
    TypeError
        When ``stream_kwargs`` are given with a stream.
    ValueError
        When a stream's rank or world size disagrees with ``torch.distributed``.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import create_dataset
    >>> config = DataConfig(mode="validating", data_type="array", axes="SYX",
    ...     patching={"name": "fixed_random", "patch_size": [8, 8]},
    ...     normalization={"name": "none"}, batch_size=4, seed=1)
    >>> dataset = StreamDataset(create_dataset(config, np.ones((2, 16, 16)), None))
    >>> [tuple(x.shape) for x in dataset]
    [(4, 1, 8, 8), (4, 1, 8, 8)]
    """

    def __init__(
        self,
        source: BatchSource | BatchStream,
        *,
        pin_memory: bool = False,
        per_epoch: bool = True,
        **stream_kwargs: Any,
    ) -> None:
        self.stream = _build_stream(source, stream_kwargs)
        self.pin_memory = bool(pin_memory)
        self.per_epoch = bool(per_epoch)

    def __len__(self) -> int:
        """Return the batches of one full iteration (an epoch, or every epoch).

        A resumed iteration yields fewer.
        """
        if self.per_epoch:
            return self.stream.batches_per_epoch
        return len(self.stream)

    def __iter__(self) -> Iterator[TensorBatch]:
        if get_worker_info() is not None:
            raise ValueError(
                "StreamDataset must be loaded in the main process: expected "
                "DataLoader(..., num_workers=0), got a DataLoader worker process. "
                "Dask builds the batches in parallel already, and forking DataLoader "
                "workers around a distributed Client is unsafe; use "
                "careamics_dask.torch.make_dataloader(...) or num_workers=0 (scale "
                "with more Dask workers or a deeper prefetch instead)."
            )
        stream = self.stream
        if stream.epoch >= stream.epochs:
            warnings.warn(
                f"The stream has yielded all its {stream.epochs} epoch(s); this "
                "iteration yields no batches. Build it with more epochs, call "
                "set_epoch(epoch), or load_state_dict(...) an earlier position.",
                CareamicsDaskWarning,
                stacklevel=2,
            )
        return self._generate()

    def _generate(self) -> Iterator[TensorBatch]:
        last = self.stream.batches_per_epoch - 1
        batches = iter(self.stream)
        try:
            for batch in batches:
                yield to_tensor_batch(batch, pin_memory=self.pin_memory)
                if self.per_epoch and batch.index == last:
                    break
        finally:
            close = getattr(batches, "close", None)
            if callable(close):
                close()  # cancels the batches still in flight

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration stream ``epoch``.

        A stream already in ``epoch`` (resumed in its middle) keeps its position;
        otherwise it moves to the first batch of ``epoch``.

        Parameters
        ----------
        epoch : int
            The epoch, ``0 <= epoch < stream.epochs``.

        Raises
        ------
        ValueError
            When ``epoch`` is outside the stream's epochs.
        """
        epochs = self.stream.epochs
        if not 0 <= epoch < epochs:
            raise ValueError(
                f"Epoch must be in [0, epochs): expected 0 <= epoch < {epochs}, got "
                f"{epoch}. Build the stream with more epochs."
            )
        if epoch != self.stream.epoch:
            self.stream.load_state_dict(
                {**self.stream.state_dict(), "epoch": epoch, "batch": 0}
            )

    def state_dict(self) -> dict[str, int | bool | str]:
        """Return the stream's position: the next batch to yield.

        Returns
        -------
        dict
            :meth:`BatchStream.state_dict`.
        """
        return self.stream.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume at the batch a :meth:`state_dict` recorded.

        Parameters
        ----------
        state : dict
            The output of :meth:`state_dict`.
        """
        self.stream.load_state_dict(state)


def make_dataloader(
    source: BatchSource | BatchStream,
    *,
    pin_memory: bool = False,
    per_epoch: bool = True,
    **stream_kwargs: Any,
) -> DataLoader[TensorBatch]:
    """Return a ``DataLoader`` over a stream, configured as Dask feeding needs.

    That is ``batch_size=None`` (the stream yields whole batches) and
    ``num_workers=0`` (Dask does the parallel work).

    Parameters
    ----------
    source : CareamicsDataset or BatchStream
        A stream, or a dataset to build one over.
    pin_memory : bool, default False
        Page-locked tensors when CUDA is available; a no-op otherwise.
    per_epoch : bool, default True
        One iteration of the loader is one epoch (see :class:`StreamDataset`).
    **stream_kwargs : Any
        :class:`~careamics_dask.feeding.BatchStream` arguments, with a dataset.

    Returns
    -------
    torch.utils.data.DataLoader
        Iterating it yields ``(input, target)`` float32 tensors, or ``input``.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import create_dataset
    >>> config = DataConfig(mode="validating", data_type="array", axes="SYX",
    ...     patching={"name": "fixed_random", "patch_size": [8, 8]},
    ...     normalization={"name": "none"}, batch_size=4, seed=1)
    >>> loader = make_dataloader(create_dataset(config, np.ones((2, 16, 16)), None),
    ...                          prefetch=2)
    >>> len(loader), next(iter(loader)).dtype
    (2, torch.float32)
    """
    dataset = StreamDataset(
        source, pin_memory=pin_memory, per_epoch=per_epoch, **stream_kwargs
    )
    return DataLoader(dataset, batch_size=None, num_workers=0)


class EpochSampler(Sampler[tuple[int, int]]):
    """Dataset keys ``(epoch, index)`` for ``dataset[epoch, i]``, one epoch per pass.

    The epoch travels inside every key, so ``DataLoader`` worker processes (which
    hold copies of the dataset) read the right epoch's patches too. Each pass over
    the sampler is the next epoch, starting at ``epoch``; :meth:`set_epoch` (which
    Lightning calls on samplers that have it) chooses one explicitly.

    Parameters
    ----------
    dataset : CareamicsDataset
        The dataset the keys are for.
    shuffle : bool, optional
        Visit patches in a permutation keyed by (seed, epoch), the one
        :class:`~careamics_dask.feeding.BatchStream` uses. Default: the dataset's
        ``default_shuffle``.
    epoch : int, default 0
        The first pass's epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import create_dataset
    >>> config = DataConfig(mode="validating", data_type="array", axes="SYX",
    ...     patching={"name": "fixed_random", "patch_size": [8, 8]},
    ...     normalization={"name": "none"}, batch_size=4, seed=1)
    >>> sampler = EpochSampler(create_dataset(config, np.ones((1, 16, 16)), None))
    >>> list(sampler), list(sampler)[0]
    ([(0, 0), (0, 1), (0, 2), (0, 3)], (1, 0))
    """

    def __init__(
        self,
        dataset: CareamicsDataset,
        *,
        shuffle: bool | None = None,
        epoch: int = 0,
    ) -> None:
        self.n = len(dataset)
        self.seed = int(dataset.seed)
        self.shuffle = dataset.default_shuffle if shuffle is None else bool(shuffle)
        self.epoch = 0
        self.set_epoch(epoch)

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch``.

        Parameters
        ----------
        epoch : int
            The epoch, ``>= 0``.
        """
        if epoch < 0:
            raise ValueError(f"Epoch must not be negative: expected >= 0, got {epoch}.")
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        self.epoch += 1
        if self.shuffle:
            order = shuffled_order(self.n, self.seed, epoch)
        else:
            order = np.arange(self.n, dtype=np.int64)
        return ((epoch, int(i)) for i in order)


def patch_loader(
    dataset: CareamicsDataset,
    *,
    batch_size: int | None = None,
    shuffle: bool | None = None,
    epoch: int = 0,
    **loader_kwargs: Any,
) -> DataLoader[Any]:
    """Return the reference's ``DataLoader`` over ``dataset[i]``, with epochs right.

    A ``DataLoader(dataset, sampler=EpochSampler(dataset), ...)``: each pass is the
    next epoch's patches, with any ``num_workers``, the same ones for the same seed.

    Parameters
    ----------
    dataset : CareamicsDataset
        The dataset.
    batch_size : int, optional
        Patches per batch; default the config's ``batch_size``.
    shuffle : bool, optional
        Passed to :class:`EpochSampler`.
    epoch : int, default 0
        The first pass's epoch.
    **loader_kwargs : Any
        Other ``DataLoader`` arguments (``num_workers``, ``collate_fn``...).

    Returns
    -------
    torch.utils.data.DataLoader
        Batches of the reference's ``ImageRegionData`` (collated).

    Raises
    ------
    TypeError
        When ``loader_kwargs`` has ``sampler``, ``shuffle`` or ``batch_sampler``.
    """
    clash = sorted({"sampler", "batch_sampler"} & set(loader_kwargs))
    if clash:
        raise TypeError(
            f"patch_loader builds its own sampler: expected no {clash} argument. "
            "Use DataLoader(dataset, sampler=EpochSampler(dataset)) to combine it "
            "with other arguments."
        )
    sampler = EpochSampler(dataset, shuffle=shuffle, epoch=epoch)
    size = dataset.batch_size if batch_size is None else int(batch_size)
    return DataLoader(
        dataset,  # type: ignore[arg-type]  # a map-style dataset (__getitem__, __len__)
        batch_size=size,
        sampler=sampler,
        **loader_kwargs,
    )
