"""Lightning loaders: the epochs of a stream, as CAREamics reads them."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.config import DataConfig
from careamics_dask.errors import MissingDependencyError
from careamics_dask.factory import CareamicsDataset, ImageRegionData

try:
    import lightning.pytorch  # noqa: F401  # the extra's check
    import torch
except ImportError as exc:
    raise MissingDependencyError(
        f"careamics_dask.lightning needs Lightning and PyTorch, which cannot be "
        f"imported ({exc}). Install them with `pip install 'careamics-dask[lightning]'`"
        ", or feed your own loop with careamics_dask.BatchStream.",
        extra="lightning",
    ) from exc

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from careamics_dask.factory import Batch
    from careamics_dask.feeding import BatchStream

__all__ = [
    "StreamLoader",
    "as_data_config",
    "check_mode",
    "region_batch",
    "share_address",
]

logger = logging.getLogger(__name__)

_MODES = {"train": "training", "val": "validating", "predict": "predicting"}


def _tensor(array: Any) -> torch.Tensor:
    """Wrap a batch array as a float32 tensor, without a copy when it can."""
    array = np.asarray(array, dtype=np.float32)
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array)


def region_batch(
    batch: Batch, dataset: CareamicsDataset
) -> tuple[ImageRegionData, ...]:
    """Return a batch as CAREamics' modules take it: regions whose data are tensors.

    Parameters
    ----------
    batch : Batch
        A stream's batch.
    dataset : CareamicsDataset
        The dataset it comes from (for the regions' metadata).

    Returns
    -------
    tuple of ImageRegionData
        ``(input,)`` or ``(input, target)``; ``data`` is a ``(B, C, (Z), Y, X)``
        float32 tensor, the other fields are per-patch lists (as the reference's
        collated regions), ``region_spec`` a dict of tensors (``index``: the
        patches' dataset indices).
    """
    specs = batch.specs
    data_idx = np.asarray(specs.data_idx)
    stacks = dataset.inputs.image_stacks
    spec = {
        "index": torch.from_numpy(np.asarray(batch.indices).copy()),
        "data_idx": torch.from_numpy(data_idx.copy()),
        "sample_idx": torch.from_numpy(np.asarray(specs.sample_idx).copy()),
        "coords": torch.from_numpy(np.asarray(specs.coords).copy()),
        "patch_size": torch.from_numpy(np.asarray(specs.patch_size).copy()),
    }
    axes = dataset.config.axes
    target_axes = dataset.config.target_axes or axes
    n = len(data_idx)

    shapes = [tuple(int(v) for v in stacks[i].shape) for i in data_idx]
    metadata: dict[str, Any] = {
        "source": [str(stacks[i].attrs.get("source", "array")) for i in data_idx],
        "data_shape": shapes,
        "dtype": [str(stacks[i].dtype) for i in data_idx],
        "axes": [axes] * n,
        "target_axes": [target_axes] * n,
        "original_data_shape": shapes,
        "region_spec": spec,
        "additional_metadata": {},
    }

    def region(array: Any) -> ImageRegionData:
        # collated: data a tensor, the other fields per-patch lists
        return ImageRegionData(data=_tensor(array), **metadata)  # type: ignore[arg-type]

    if batch.target is None:
        return (region(batch.input),)
    return region(batch.input), region(batch.target)


class StreamLoader:
    """One epoch of a stream's batches per iteration, for a Lightning trainer.

    Not a ``DataLoader``: the stream builds batches in parallel already (and
    Lightning adds no sampler to it). Lightning sees a sized, stateful iterable;
    the position lives in the data module's :meth:`CareamicsDataModule.state_dict`.
    An epoch that follows the previous one goes on with the same stream iterator,
    whose batches of the new epoch are in flight already; any other start (a
    resumed position, a skipped epoch) restarts the stream there. :meth:`close`
    cancels what is in flight.

    Parameters
    ----------
    stream : BatchStream
        The stream (its epoch bound is not reached: the trainer stops).
    dataset : CareamicsDataset
        The stream's dataset.
    epoch : callable
        Returns the epoch to stream when an iteration starts.
    start : callable
        Given the epoch, returns the batch to start at.
    form : {"regions", "tensors"}
        Batches as CAREamics regions, or ``(input, target)`` / ``input`` tensors.
    """

    def __init__(
        self,
        stream: BatchStream,
        dataset: CareamicsDataset,
        *,
        epoch: Callable[[], int],
        start: Callable[[int], int],
        form: str,
    ) -> None:
        self.stream = stream
        self.dataset = dataset
        self._epoch = epoch
        self._start = start
        self.form = form
        # the stream's iterator, kept from one epoch to the next: its batches of the
        # next epoch are in flight already (and a cluster keeps the data it was sent)
        self._running: Iterator[Batch] | None = None
        self._next: tuple[int, int] | None = None

    def __len__(self) -> int:
        return self.stream.batches_per_epoch

    def __iter__(self) -> Iterator[Any]:
        epoch = self._epoch()
        position = self._start(epoch)
        if self._running is None or self._next != (epoch, position):
            self.close()
            self.stream.load_state_dict(
                {**self.stream.state_dict(), "epoch": epoch, "batch": position}
            )
            self._running = iter(self.stream)
            self._next = (epoch, position)
        return self._generate(epoch, position, self._running)

    def _generate(
        self, epoch: int, position: int, batches: Iterator[Batch]
    ) -> Iterator[Any]:
        last = self.stream.batches_per_epoch - 1
        if position > last:
            return
        self._next = None  # this pass consumes the iterator now
        finished = False
        try:
            for batch in batches:
                if batch.index == last:
                    finished = True
                    if epoch + 1 < self.stream.epochs:
                        self._next = (epoch + 1, 0)  # the next epoch goes on from here
                yield self._convert(batch)
                if finished:
                    break
        finally:
            # a trainer may drop this pass after the last batch without ending it
            if not finished or self._next is None:
                self._stop(batches)

    def _stop(self, batches: Iterator[Batch]) -> None:
        if self._running is batches:
            self._running = self._next = None
        close = getattr(batches, "close", None)
        if callable(close):
            close()  # cancels the batches still in flight

    def close(self) -> None:
        """Stop the stream's iterator, cancelling the batches still in flight."""
        if self._running is not None:
            self._stop(self._running)

    def _convert(self, batch: Batch) -> Any:
        if self.form == "regions":
            return region_batch(batch, self.dataset)
        if batch.target is None:
            return _tensor(batch.input)
        return _tensor(batch.input), _tensor(batch.target)

    def state_dict(self) -> dict[str, Any]:
        """Return nothing: the data module's state holds the position.

        Returns
        -------
        dict
            Empty (Lightning sees a resumable loader).
        """
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Accept the (empty) state of :meth:`state_dict`.

        Parameters
        ----------
        state : dict
            Ignored.
        """


def check_mode(dataset: CareamicsDataset | None, role: str) -> None:
    """Check a data module's dataset: a careamics_dask dataset in its role's mode.

    Parameters
    ----------
    dataset : CareamicsDataset or None
        The dataset (None passes).
    role : {"train", "val", "predict"}
        Its role.

    Raises
    ------
    TypeError
        When it is not a careamics_dask dataset.
    ValueError
        When its config's mode is not the role's.
    """
    if dataset is None:
        return
    if not isinstance(dataset, CareamicsDataset):
        raise TypeError(
            f"The {role} dataset must be a careamics_dask dataset: expected a "
            f"CareamicsDataset from the create_* functions, got "
            f"{type(dataset).__name__}. Build it with careamics_dask.create_*, or "
            "use CareamicsDataModule.from_config(config, data)."
        )
    mode = dataset.config.mode
    if mode != _MODES[role]:
        raise ValueError(
            f"The {role} dataset is in the wrong mode: expected a config with "
            f"mode={_MODES[role]!r}, got {mode!r}. Build it with "
            f"config.convert_mode({_MODES[role]!r}), or let "
            "CareamicsDataModule.from_config(config, data) build all datasets."
        )


def as_data_config(config: Any) -> DataConfig:
    """Read a data config: ours, CAREamics' ``data_config``, or its whole config.

    Parameters
    ----------
    config : DataConfig, careamics DataConfig or careamics Configuration
        The config; CAREamics' (from ``create_n2v_config``, ``create_care_config``...)
        is validated field by field as ours.

    Returns
    -------
    DataConfig
        The careamics_dask data config.

    Raises
    ------
    TypeError
        When ``config`` is none of these.
    """
    if isinstance(config, DataConfig):
        return config
    config = getattr(config, "data_config", config)  # a whole CAREamics Configuration
    dump = getattr(config, "model_dump", None)
    if dump is None:
        raise TypeError(
            "The data module needs a data config: expected a careamics_dask "
            "DataConfig, a CAREamics data config or a CAREamics Configuration (from "
            f"create_n2v_config, create_care_config...), got {type(config).__name__}."
        )
    return DataConfig.model_validate(dump())


def share_address(address: str | None, node: int) -> str:
    """Give every rank of a node the scheduler address its local rank 0 started.

    Parameters
    ----------
    address : str or None
        The address this rank started, or None.
    node : int
        This rank's node.

    Returns
    -------
    str
        The node's scheduler address.

    Raises
    ------
    RuntimeError
        When no rank of the node started a cluster.
    """
    distributed = torch.distributed
    if distributed.is_available() and distributed.is_initialized():
        gathered: list[Any] = [None] * distributed.get_world_size()
        distributed.all_gather_object(gathered, (node, address))
        for their_node, theirs in gathered:
            if their_node == node and theirs is not None:
                return str(theirs)
    if address is None:
        raise RuntimeError(
            "No scheduler address reached this rank: expected the node's local rank "
            "0 to start the embedded cluster. Pass cluster='tcp://host:port' (a "
            "scheduler you started) instead."
        )
    return address
