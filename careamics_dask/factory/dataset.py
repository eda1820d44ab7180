"""The dataset: patch tables, lazy batch graphs and eager patches over image stacks.

A little over 400 lines: one class carries both the reference's surface
(``dataset[i]``, with its epochs) and the Dask one (batches, graphs); its helpers
live in ``region_data``, ``validation`` and ``_epochs``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from dask.base import tokenize

from careamics_dask.factory._epochs import epoch_key, warn_in_worker
from careamics_dask.factory.components import resolve_components
from careamics_dask.factory.patch_constructor import PatchConstructor
from careamics_dask.factory.region_data import ImageRegionData, region_of_stack
from careamics_dask.factory.validation import (
    statistics_weights,
    validate_shapes_against_patching,
)
from careamics_dask.graph.batch import Batch, BatchPlan, build_batch
from careamics_dask.graph.batch_graph import (
    batch_indices,
    build_batch_array,
    build_batch_tasks,
    count_batches,
)
from careamics_dask.runtime import reading_options

if TYPE_CHECKING:
    from collections.abc import Sequence

    import dask.array as da
    import numpy.typing as npt
    from dask.delayed import Delayed

    from careamics_dask.config import DataConfig
    from careamics_dask.factory.constraints import ModelConstraints
    from careamics_dask.factory.extractors import PatchExtractor
    from careamics_dask.graph.transforms import Normalizer
    from careamics_dask.patching import PatchingStrategy, PatchTable

__all__ = ["CareamicsDataset"]


def _validate_shapes_against_model(
    data_config: DataConfig,
    model_constraints: ModelConstraints,
    data_shapes: Sequence[Sequence[int]],
    target_data_shapes: Sequence[Sequence[int]] | None = None,
) -> None:
    """Check shapes against a model: the reference's helper, positional form.

    ``careamics.dataset.dataset._validate_shapes_against_model``, as
    :func:`~careamics_dask.factory.constraints.validate_shapes_against_model`
    with the config's patching and channels.

    Parameters
    ----------
    data_config : DataConfig
        The data configuration.
    model_constraints : ModelConstraints
        The model's constraints.
    data_shapes : sequence of sequence of int
        Input shapes, ``S C (Z) Y X``.
    target_data_shapes : sequence of sequence of int or None, optional
        Target shapes.

    Raises
    ------
    ValueError
        The constraint's message for the first shape that breaks it.
    """
    from careamics_dask.factory.constraints import validate_shapes_against_model

    validate_shapes_against_model(
        model_constraints,
        patching_name=data_config.patching.name,
        patch_size=getattr(data_config.patching, "patch_size", None),
        input_shapes=data_shapes,
        target_shapes=target_data_shapes,
        channels=data_config.channels,
    )


logger = logging.getLogger(__name__)


class CareamicsDataset:
    """Patches of image stacks for training, validation or prediction.

    Built by the ``create_*`` functions. Construction validates shapes, and computes
    the missing normalization statistics with Dask reductions (writing them into the
    caller's config, as the reference does); it reads no other pixels. Patches come
    three ways, which agree: ``dataset[i]`` (one eager patch, the reference's
    ``ImageRegionData``), :meth:`batch` (one eager batch) and :meth:`to_dask` (a lazy
    array of an epoch's patches, one task per batch).

    Parameters
    ----------
    config : DataConfig
        The data configuration.
    patching : PatchingStrategy
        The patching strategy over the input stacks.
    inputs : PatchExtractor
        The input image stacks.
    targets : PatchExtractor, optional
        The target image stacks.
    model_constraints : ModelConstraints, optional
        Checked against patch sizes (or whole images) at construction.
    compute_statistics : bool, default True
        Compute missing normalization statistics now.

    Attributes
    ----------
    epoch : int
        The epoch ``dataset[i]`` starts reading (the reference has one table; here
        every epoch has its own). Set it with :meth:`set_epoch`.

    Notes
    -----
    ``dataset[i]`` advances epochs by passes: in one process every ``len(dataset)``
    integer reads move to the next epoch's table (counted from :attr:`epoch`;
    :meth:`set_epoch` restarts the count). ``dataset[epoch, i]`` names the epoch,
    which :class:`careamics_dask.torch.EpochSampler` does for ``num_workers > 0``
    (README, "Training"); integer reads in a worker process warn.
    """

    def __init__(
        self,
        config: DataConfig,
        patching: PatchingStrategy,
        inputs: PatchExtractor,
        targets: PatchExtractor | None = None,
        *,
        model_constraints: ModelConstraints | None = None,
        compute_statistics: bool = True,
    ) -> None:
        self.config = config
        self.patching = patching
        self.inputs = inputs
        self.targets = targets
        self.epoch = 0
        self._reads = 0
        validate_shapes_against_patching(config, inputs.shapes)
        inputs.check_channels(config.channels)
        if model_constraints is not None:
            _validate_shapes_against_model(
                config,
                model_constraints,
                inputs.shapes,
                targets.shapes if targets is not None else None,
            )
        components = resolve_components(
            config,
            n_input_channels=(
                len(config.channels) if config.channels else inputs.n_channels
            ),
            n_target_channels=targets.n_channels if targets is not None else None,
            input_stacks=inputs.image_stacks if compute_statistics else None,
            target_stacks=(
                targets.image_stacks
                if compute_statistics and targets is not None
                else None
            ),
            channels=config.channels,
            weights=(
                statistics_weights(patching, inputs.shapes)
                if compute_statistics
                else None
            ),
        )
        self.normalizer = components.normalizer
        self.plan = BatchPlan(
            inputs=inputs.sources,
            targets=targets.sources if targets is not None else None,
            channels=tuple(config.channels) if config.channels else None,
            target_channels=None,
            normalizer=self.normalizer,
            augmentations=components.augmentations,
            **reading_options(),
        )

    # --- the reference's surface ---------------------------------------------

    def __len__(self) -> int:
        return int(self.patching.n_patches)

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[ImageRegionData, ...]:
        epoch, index = self._key(index)
        if not -len(self) <= index < len(self):
            raise IndexError(
                f"Index {index} out of bounds for a dataset of {len(self)} patches."
            )
        index = int(index) % len(self)
        batch = self._build(np.array([index], dtype=np.int64), epoch)
        spec = batch.specs.row(0)
        regions = [self._region(batch.input[0], spec, self.inputs, target=False)]
        if batch.target is not None and self.targets is not None:
            regions.append(
                self._region(batch.target[0], spec, self.targets, target=True)
            )
        return tuple(regions)

    @property
    def normalization(self) -> Normalizer:
        """The normalizer, by the reference's name (``denormalize`` of predictions)."""
        return self.normalizer

    @property
    def patch_constructor(self) -> PatchConstructor:
        """The patching and stacks by the reference's names (``patching_strategy``)."""
        return PatchConstructor(
            self.patching, self.inputs, self.targets, self.config.channels
        )

    def _key(self, key: int | tuple[int, int]) -> tuple[int, int]:
        """Return the ``(epoch, index)`` a ``dataset[key]`` reads (class Notes)."""
        if isinstance(key, tuple):
            return epoch_key(key)
        epoch = self.epoch + self._reads // max(1, len(self))
        self._reads += 1
        warn_in_worker()
        return epoch, int(key)

    def _repr_html_(self) -> str:
        """Return the notebook display: sources, chunks, patches, statistics.

        Built from metadata only; no pixel is read.

        Returns
        -------
        str
            An HTML fragment (:func:`careamics_dask.factory._repr.dataset_html`).
        """
        from careamics_dask.factory._repr import dataset_html

        return dataset_html(self)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose table ``dataset[i]`` reads next.

        The count of reads that advances epochs by passes restarts here.

        Parameters
        ----------
        epoch : int
            The epoch, ``>= 0``.
        """
        if epoch < 0:
            raise ValueError(f"Epoch must not be negative: expected >= 0, got {epoch}.")
        self.epoch = int(epoch)
        self._reads = 0

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        """The ``S C (Z) Y X`` shape of every input stack."""
        return self.inputs.shapes

    @property
    def target_shapes(self) -> list[tuple[int, ...]] | None:
        """The shapes of the target stacks, or None."""
        return self.targets.shapes if self.targets is not None else None

    # --- the Dask-native surface ----------------------------------------------

    @property
    def batch_size(self) -> int:
        """Patches per batch (the config's ``batch_size``)."""
        return int(self.config.batch_size)

    @property
    def seed(self) -> int:
        """The seed of the tables, augmentations and stream order (``config.seed``)."""
        return int(self.config.seed)

    @property
    def patching_name(self) -> str:
        """The patching strategy's name (``config.patching.name``)."""
        return str(self.config.patching.name)

    @property
    def patch_size(self) -> tuple[int, ...] | None:
        """The patch size of random and stratified patching, else None."""
        size = getattr(self.config.patching, "patch_size", None)
        return None if size is None else tuple(int(v) for v in size)

    @property
    def default_shuffle(self) -> bool:
        """Stream default: ``train_dataloader_params["shuffle"]`` in training."""
        if self.config.mode != "training":
            return False
        return bool(self.config.train_dataloader_params.get("shuffle", True))

    @property
    def identity(self) -> tuple[Any, ...]:
        """What identifies the batches: config JSON, source names, shapes, data."""
        inputs = self.plan.inputs
        return (
            self.config.model_dump_json(),
            [s.source for s in inputs],
            [s.shape for s in inputs],
            [tokenize(s.data if s.data is not None else s.binding) for s in inputs],
        )

    @property
    def token(self) -> str:
        """A token of :attr:`identity`: names this dataset's keys on a cluster."""
        return str(tokenize(self.identity))

    def patch_table(self, epoch: int = 0) -> PatchTable:
        """Return the patch table of one epoch (dataset index order).

        Parameters
        ----------
        epoch : int, default 0
            The epoch.

        Returns
        -------
        PatchTable
            One row per patch.
        """
        return self.patching.table(epoch)

    def n_batches(self) -> int:
        """Return the number of batches per epoch (the last may be smaller).

        Returns
        -------
        int
            ``ceil(len(self) / batch_size)``.
        """
        return count_batches(len(self), self.batch_size)

    def batch_indices(self, index: int) -> npt.NDArray[np.int64]:
        """Return the dataset indices of batch ``index``.

        Parameters
        ----------
        index : int
            The batch, ``0 <= index < n_batches()``.

        Returns
        -------
        numpy.ndarray
            Consecutive dataset indices.

        Raises
        ------
        IndexError
            When the batch does not exist.
        """
        if not 0 <= index < self.n_batches():
            raise IndexError(
                f"Batch {index} out of range: expected 0 <= index < "
                f"{self.n_batches()} for {len(self)} patches in batches of "
                f"{self.batch_size}."
            )
        return batch_indices(index, len(self), self.batch_size)

    def batch(self, index: int, epoch: int = 0) -> Batch:
        """Build one batch now, in this process.

        Parameters
        ----------
        index : int
            The batch within the epoch.
        epoch : int, default 0
            The epoch.

        Returns
        -------
        Batch
            Inputs, targets and the table rows.
        """
        return replace(self._build(self.batch_indices(index), epoch), index=int(index))

    def batch_tasks(self, epoch: int = 0) -> list[Delayed]:
        """Return one Dask delayed task per batch of an epoch (not computed).

        Each task returns ``(input, target)``; every task depends on one shared key
        holding the batch plan.

        Parameters
        ----------
        epoch : int, default 0
            The epoch.

        Returns
        -------
        list of dask.delayed.Delayed
            ``n_batches()`` tasks, in batch order.
        """
        return build_batch_tasks(
            self.plan, self.patch_table(epoch), self.batch_size, epoch, self.token
        )

    def to_dask(self, epoch: int = 0, target: bool = False) -> da.Array:
        """Return an epoch's patches as a lazy array, one task per batch.

        Parameters
        ----------
        epoch : int, default 0
            The epoch.
        target : bool, default False
            Return the targets instead of the inputs.

        Returns
        -------
        dask.array.Array
            ``(N, C, (Z), Y, X)`` float32, chunked by ``batch_size`` along N.

        Raises
        ------
        ValueError
            When targets are asked of a dataset without targets.
        """
        if target and self.targets is None:
            raise ValueError(
                "This dataset has no targets: expected target=False. Build the "
                "dataset with target data to read targets."
            )
        return build_batch_array(
            self.plan,
            self.patch_table(epoch),
            self.batch_size,
            epoch,
            self.token,
            channels=self._channel_count(target),
            target=target,
        )

    def _channel_count(self, target: bool) -> int:
        if target and self.targets is not None:
            return self.targets.n_channels
        if self.config.channels:
            return len(self.config.channels)
        return self.inputs.n_channels

    def _build(self, indices: npt.NDArray[np.int64], epoch: int) -> Batch:
        rows = self.patch_table(epoch).take(indices)
        inputs, targets = build_batch(self.plan, rows, indices, epoch)
        return Batch(
            input=inputs,
            target=targets,
            specs=rows,
            indices=indices,
            epoch=epoch,
            index=-1,
        )

    def _region(
        self,
        data: npt.NDArray[np.float32],
        spec: Any,
        extractor: PatchExtractor,
        *,
        target: bool,
    ) -> ImageRegionData:
        return region_of_stack(
            data,
            spec,
            extractor.image_stacks[int(spec["data_idx"])],
            axes=self.config.axes,
            target_axes=self.config.target_axes or self.config.axes,
            channels=self.config.channels,
            target=target,
        )
